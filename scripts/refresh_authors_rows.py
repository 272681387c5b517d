"""Recompute the authors' rows of committed study summaries from their released data, after a
change to how ``loi paper`` computes them (``loi.pipeline.factorial.refresh_authors``): the other
settings' rows stay as committed (their run folders are not in the repository), the decisions and
summary.md are re-derived, and the README section that holds each summary.md verbatim gets the
new text.

    python scripts/refresh_authors_rows.py ../shared/paper-data \
        docs/results/why=examples/why.toml docs/results/paper=examples/paper.toml
"""

from __future__ import annotations

import argparse
from pathlib import Path

from loi.pipeline.factorial import MARKDOWN, Factorial, load_study_or_factorial, refresh_authors

README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paper_data", type=Path, help="the authors' data (their repository's evaluation tensors)")
    parser.add_argument("summaries", nargs="+", metavar="FOLDER=CONFIG",
                        help="a committed summary folder and the config of its study")
    args = parser.parse_args()
    readme = README.read_text()
    for pair in args.summaries:
        folder, _, config = pair.partition("=")
        loaded = load_study_or_factorial(config)
        study = loaded.settings[0].study if isinstance(loaded, Factorial) else loaded
        old = (Path(folder) / MARKDOWN).read_text()
        if old not in readme:
            raise SystemExit(f"README.md does not hold {folder}/{MARKDOWN} verbatim; refresh nothing")
        refresh_authors(folder, args.paper_data, confidence=study.evaluation.confidence)
        readme = readme.replace(old, (Path(folder) / MARKDOWN).read_text())
        print(f"{folder}: authors' rows recomputed")
    README.write_text(readme)


if __name__ == "__main__":
    main()
