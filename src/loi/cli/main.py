"""``loi`` console script: registers the commands and maps bad input to exit 2."""

import sys

from loi.cli.app import app
from loi.errors import LoiError

# Each module below registers its commands on ``app`` when imported.
from loi.cli import commands_metrics  # noqa: F401,E402  (measure, paper)
from loi.cli import commands_envs  # noqa: F401,E402  (envs, render)
from loi.cli import commands_train  # noqa: F401,E402  (train)
from loi.cli import commands_run  # noqa: F401,E402  (run, status, report)
from loi.cli import commands_eval  # noqa: F401,E402  (evaluate)


def main() -> None:
    try:
        app()
    except LoiError as err:
        # One line, no traceback: the message names the problem.
        print(f"loi: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
