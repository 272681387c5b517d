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


class _Interrupted(BaseException):
    """Ctrl-C, raised in place of KeyboardInterrupt, which click swallows (exit 130, no word)."""


def _interrupt(signum, frame) -> None:
    raise _Interrupted


def main() -> None:
    import signal

    signal.signal(signal.SIGINT, _interrupt)
    try:
        app()
    except LoiError as err:
        # One line, no traceback: the message names the problem.
        print(f"loi: error: {err}", file=sys.stderr)
        sys.exit(2)
    except (_Interrupted, KeyboardInterrupt):
        # Outputs are written by temp file + rename, so an interrupt leaves no partial file;
        # a run directory keeps the jobs that finished.
        print("loi: interrupted; no partial output written (loi run: finished jobs are kept, "
              "re-run the same command to resume)", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
