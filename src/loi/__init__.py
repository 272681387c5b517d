"""loi: the Level of Influence (LoI) toolkit for multi-agent RL.

Layers (imports point down only):
    tables, metrics, allocation          plain numpy/scipy, no JAX
    envs -> agents, training -> evaluation   the JAX stack
    pipeline -> report, cli              orchestration and user interface
"""

__version__ = "0.1.0"
