#!/usr/bin/env bash
# Installs the real Melting Pot substrates, offline and without TensorFlow, into a venv of
# their own (default: .venv-meltingpot at the repository root) beside loi itself, so that
# benchmarks/meltingpot_parity.py can play both in one process. Re-runnable: every step
# is skipped or repeated harmlessly when it has already been done.
#
#   bash scripts/install_meltingpot.sh            # or LOI_MELTINGPOT_VENV=/some/dir bash ...
#
# What it changes from a plain `pip install dm-meltingpot`, and why:
# - dm-meltingpot 2.4.1 ships as a source package whose build step downloads an asset
#   tarball (the bots' saved models only). Its setup.py skips the download when
#   assets/meltingpot-assets-<version>.tar.gz already exists, so an empty tarball is put
#   there: the substrates need no asset.
# - Its install requirements include TensorFlow, OpenCV, pygame and networkx, which only
#   the bots, scenarios and human-play tools use. It is installed with --no-deps, and the
#   substrate builder's own imports (absl, chex, dm-env, dm-tree, immutabledict,
#   ml-collections, reactivex; dmlab2d) are installed explicitly.
# - Its meltingpot/__init__.py imports meltingpot.bot and meltingpot.scenario, which
#   import TensorFlow. In the unpacked source those two imports are guarded by
#   `try/except ImportError`, so `import meltingpot` and `meltingpot.substrate` work and
#   `meltingpot.bot` fails only when used.
# - loi's own pins (jax, numpy, ...) are frozen before Melting Pot's requirements are
#   added and passed as pip constraints, so nothing of loi's moves.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LOI_MELTINGPOT_VENV:-$ROOT/.venv-meltingpot}"
PYTHON="${PYTHON:-python3.11}"
MELTINGPOT_VERSION=2.4.1
ASSETS_VERSION=2.3.0  # dm-meltingpot 2.4.1's setup.py: ASSETS_VERSION
SUBSTRATE_REQUIREMENTS=(
  dmlab2d==1.0.2
  absl-py==2.5.1
  chex==0.1.92
  dm-env==1.6
  dm-tree==0.1.10
  immutabledict==4.3.1
  ml-collections==1.1.0
  reactivex==4.1.0
)

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --quiet)

echo "installing loi (editable) and pytest into $VENV"
"${PIP[@]}" install -e "$ROOT"
# pytest at the pin of loi's `test` extra, for `pytest -m meltingpot`; the rest of that extra
# (Ray, PettingZoo) is not needed here.
PYTEST_PIN="$("$VENV/bin/python" -c '
import sys, tomllib
extra = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["test"]
print(next(r for r in extra if r.split("=")[0].strip() == "pytest"))' "$ROOT/pyproject.toml")"
"${PIP[@]}" install "$PYTEST_PIN"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/python" -m pip freeze --exclude-editable > "$WORK/loi-constraints.txt"

echo "installing the substrate builder's requirements"
"${PIP[@]}" install -c "$WORK/loi-constraints.txt" "${SUBSTRATE_REQUIREMENTS[@]}"

if "$VENV/bin/python" - <<EOF 2>/dev/null
import importlib.metadata as m, meltingpot.substrate
assert m.version("dm-meltingpot") == "$MELTINGPOT_VERSION"
EOF
then
  echo "dm-meltingpot $MELTINGPOT_VERSION already installed"
else
  echo "building dm-meltingpot $MELTINGPOT_VERSION without assets or TensorFlow"
  "${PIP[@]}" download --no-deps --no-binary :all: -d "$WORK" "dm-meltingpot==$MELTINGPOT_VERSION"
  tar -xzf "$WORK/dm_meltingpot-$MELTINGPOT_VERSION.tar.gz" -C "$WORK"
  SRC="$WORK/dm-meltingpot-$MELTINGPOT_VERSION"
  [[ -d "$SRC" ]] || SRC="$WORK/dm_meltingpot-$MELTINGPOT_VERSION"
  mkdir -p "$WORK/empty/assets" "$SRC/assets"
  tar -czf "$SRC/assets/meltingpot-assets-$ASSETS_VERSION.tar.gz" -C "$WORK/empty" assets
  "$VENV/bin/python" - "$SRC/meltingpot/__init__.py" <<'EOF'
import pathlib, sys
path = pathlib.Path(sys.argv[1])
text = path.read_text()
guarded = text
for module in ("bot", "scenario"):
    line = f"from meltingpot import {module}\n"
    if line not in text:
        sys.exit(f"{path}: expected line {line!r} not found; the patch needs updating")
    guarded = guarded.replace(
        line,
        f"try:  # needs TensorFlow, which loi's install leaves out\n"
        f"  {line.strip()}\nexcept ImportError:\n  pass\n",
    )
path.write_text(guarded)
EOF
  "${PIP[@]}" install --no-deps "$SRC"
fi

"$VENV/bin/python" - <<'EOF'
import meltingpot.substrate, loi
env = meltingpot.substrate.build(
    "prisoners_dilemma_in_the_matrix__repeated", roles=("default", "default"))
env.reset()
env.close()
print("Melting Pot substrates import and build; loi imports from the same venv")
EOF
echo "done: $VENV"
