"""The authors' learners' training return at generation 25 vs 50 (is it still rising?).

    python scripts/authors_learning_curves.py AUTHORS_REPO --out docs/results/paper/authors_training_return.csv

AUTHORS_REPO: a checkout of github.com/ThomasChen98/Level-of-Influence (its MARL/PP_logs/ and
MARL/SP_logs/; loi.tables.authors_logs says what they hold). Writes one row per PP log that
reaches generation 50: the learner's mean training return over generation 25's iterations
(0-based 24, the last of the first training stage) and generation 50's (0-based 49), and the
change with its t interval over seeds. The file starts with a comment line naming the command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loi.errors import LoiError
from loi.tables.io import write_commented_csv
from loi.tables.authors_logs import return_change

EARLY, LATE = 24, 49  # 0-based generations: the released SP5's last, the released PP's last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        table = return_change(args.repo / "MARL", EARLY, LATE)
    except LoiError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_commented_csv(table, args.out, f"python scripts/authors_learning_curves.py AUTHORS_REPO --out "
                                         f"{args.out.as_posix()} (generations {EARLY + 1} and {LATE + 1})")
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
