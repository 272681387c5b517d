"""A loi run's learners' training return at two generations (is it still rising?).

    python scripts/run_learning_curves.py RUN_DIR --regimes pp3 pp5 --early 24 --late 49 \
        --out docs/results/why/as_run_training_return.csv

RUN_DIR: a study run directory (``loi run --out``); every training run of the named regimes is
read from its ``curves.parquet`` (loi.tables.curves says what the columns mean). Writes one row
per (scenario, regime): the mean return per step over generation ``early``'s updates and
``late``'s (0-based), and the change with its t interval over members; the file starts with a
comment line naming the command. The authors' counterpart: scripts/authors_learning_curves.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loi.errors import LoiError
from loi.pipeline.studydir import StudyDir
from loi.tables.io import write_commented_csv
from loi.tables.curves import curve_return_change


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--regimes", nargs="+", default=["pp5"])
    parser.add_argument("--early", type=int, default=24)
    parser.add_argument("--late", type=int, default=49)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        curves = StudyDir(args.run_dir).curves()
        if curves is None:
            raise LoiError(f"{args.run_dir} has no training curves yet")
        curves = curves[curves["role"].isin(args.regimes)]
        if curves.empty:
            raise LoiError(f"{args.run_dir} has no training run of {', '.join(args.regimes)}")
        table = curve_return_change(curves.assign(regime=curves["role"]), args.early, args.late)
    except LoiError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_commented_csv(table, args.out, f"python scripts/run_learning_curves.py RUN_DIR --regimes "
                                         f"{' '.join(args.regimes)} --early {args.early} --late {args.late} --out "
                                         f"{args.out.as_posix()} (RUN_DIR: {args.run_dir.name})")
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
