"""The typer application every command module registers on.

Command modules import heavy dependencies (JAX, pandas) inside their functions
so that ``loi --help`` and the numpy-only commands start fast.
"""

import typer

app = typer.Typer(
    name="loi",
    help="Level of Influence (LoI): measure agent interaction in MARL and "
    "allocate training compute where it pays off.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
