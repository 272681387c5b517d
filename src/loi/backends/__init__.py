"""Optional external backends (real simulators loi is checked against).

Each backend imports its simulator lazily, so ``loi`` installs and imports without it; using
one that is absent raises :class:`loi.errors.LoiError` naming how to install it. Backends are
numpy-only apart from their simulator, at the level of ``loi.envs`` (they import no loi layer).
"""
