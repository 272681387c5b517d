"""The README's interaction-metric tables on the authors' data (issue 28), as committed files.

    python scripts/interaction_metrics_authors.py PAPER_DATA [-o docs/results/authors]
        [--permutations 1000] [--bootstrap 1000] [--seed 0]

Runs ``loi.pipeline.paper.analyse_paper_data`` (what ``loi paper PAPER_DATA`` prints): the
interaction metrics ``loi`` (knn and the paper's histogram estimator), ``eta2`` and ``icc`` of each
game's cross-play run (``xp_gap`` needs own-partner rows, which the released tensors lack), and
their comparison as predictors of the PP5 benefit in every tournament folder (the authors':
``tournament/``, PP trained 50 generations; ``tournament_25gen/``, matched 25). Writes into the
output folder the files named in ``loi.report.predictors`` (metrics, correlations, gains,
allocations, benefits, a manifest with the command, the data's folders and the git revision) and
``predictors.md``, rendered from those files, which the README quotes verbatim
(tests/test_results_predictors.py). Nothing is written unless the whole analysis succeeds.

Cost: about 10 s on one core of this project's 2-core machine (9 s of analysis, the rest imports) at
the defaults: 1000 permutations and bootstrap resamples per metric and scenario, 12 scenarios.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path

import pandas as pd

from loi.errors import LoiError
from loi.pipeline.paper import PaperAnalysis, analyse_paper_data
from loi.pipeline.run import versions
from loi.report.predictors import (ALLOCATIONS_FILE, BENEFITS_FILE, GAINS_FILE, MANIFEST_FILE, METRICS_FILE,
                                   PREDICTORS_FILE, PREDICTORS_MARKDOWN, predictors_markdown)
from loi.tables import atomic_write

ROOT = Path(__file__).resolve().parents[1]
FLOAT_FORMAT = "%.10g"


def _per_folder(analysis: PaperAnalysis, table: str) -> pd.DataFrame:
    """One of the PredictorComparison tables of every tournament folder, with a ``folder`` column."""
    frames = [getattr(c, table).assign(folder=name) for name, c in analysis.predictors.items()]
    frame = pd.concat(frames, ignore_index=True)
    return frame[["folder", *(c for c in frame.columns if c != "folder")]]


def _benefits(analysis: PaperAnalysis) -> pd.DataFrame:
    rows = [{"folder": folder, "game": game, "scenario": f"{game}/{layout}", "benefit": stats.benefit,
             "ci_low": stats.benefit_ci[0], "ci_high": stats.benefit_ci[1]}
            for game, g in analysis.games.items() for folder, t in g.tournaments.items()
            for layout, stats in t.layouts.items()]
    return pd.DataFrame(rows).sort_values(["folder", "scenario"], ignore_index=True)


def _write(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the authors' data (cross_play/, tournament*/)")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "results" / "authors")
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = shlex.join(["python", "scripts/interaction_metrics_authors.py",
                          *(sys.argv[1:] if argv is None else argv)])
    try:
        if args.output.exists() and not args.output.is_dir():
            raise LoiError(f"{args.output} exists and is not a folder")
        start = time.perf_counter()
        analysis = analyse_paper_data(args.data, permutations=args.permutations, bootstrap=args.bootstrap,
                                      seed=args.seed)
        seconds = time.perf_counter() - start
        if analysis.metrics is None or not analysis.predictors:
            raise LoiError(f"{args.data}: no tournament folder with 2+ complete games to compare predictors on")
    except LoiError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    tables = {
        METRICS_FILE: analysis.metrics,
        PREDICTORS_FILE: _per_folder(analysis, "correlations"),
        GAINS_FILE: _per_folder(analysis, "gains"),
        ALLOCATIONS_FILE: _per_folder(analysis, "allocations"),
        BENEFITS_FILE: _benefits(analysis),
    }
    manifest = {
        "command": command,
        "function": f"loi.pipeline.paper.analyse_paper_data(PAPER_DATA, permutations={args.permutations}, "
                    f"bootstrap={args.bootstrap}, seed={args.seed})",
        "permutations": args.permutations, "bootstrap": args.bootstrap, "seed": args.seed,
        "cross_play_runs": {game: g.run for game, g in analysis.games.items()},
        "tournaments": [{"folder": t.name, "label": t.label, "generations": dict(t.generations),
                         "source": t.source} for t in analysis.tournaments],
        "versions": versions(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
    }
    args.output.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        _write(args.output / name, frame.to_csv(index=False, float_format=FLOAT_FORMAT))
    _write(args.output / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    # Rendered from the files just written, as the test and the README read them.
    _write(args.output / PREDICTORS_MARKDOWN, predictors_markdown(args.output))
    print(f"wrote {args.output} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
