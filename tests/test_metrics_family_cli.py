"""``loi measure --metric``: the long metrics table from the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from conftest import run_cli
from typer.testing import CliRunner

from loi.cli.main import app
from loi.errors import LoiError


def test_measure_metric_eta2_json_is_the_sample_eta2_and_bad_names_are_one_line_errors(tmp_path):
    rng = np.random.default_rng(11)
    means = {"s1": (0.0, 1.0, 5.0), "s2": (2.0, 2.0, 2.5)}
    rows = [(s, "ego0", f"c{c}", e, float(rng.normal(mu, 2.0))) for s, mus in means.items()
            for c, mu in enumerate(mus) for e in range(7 + c)]
    table = pd.DataFrame(rows, columns=["scenario", "ego", "coplayer", "episode", "ego_return"])
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "m.parquet"
    proc = run_cli("measure", path, "--metric", "eta2", "--metric", "icc", "--json", "--permutations", "50",
                   "--bootstrap", "50", "-o", out)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["metrics"] == ["eta2", "icc"] and list(result["scenarios"]) == ["s1", "s2"]
    for scenario, group in table.groupby("scenario"):
        parts = [g.to_numpy() for _, g in group.groupby("coplayer")["ego_return"]]
        anova = scipy.stats.f_oneway(*parts)
        df_between, df_within = len(parts) - 1, len(group) - len(parts)
        eta2 = anova.statistic * df_between / (anova.statistic * df_between + df_within)
        assert result["scenarios"][scenario]["eta2"]["statistic"] == pytest.approx(eta2, abs=1e-9)
        assert result["scenarios"][scenario]["icc"]["p_value"] == pytest.approx(anova.pvalue, rel=1e-9)
    written = pd.read_parquet(out)
    assert list(written[["scenario", "metric"]].itertuples(index=False, name=None)) == [
        ("s1", "eta2"), ("s1", "icc"), ("s2", "eta2"), ("s2", "icc")]
    # Bad names fail before any work, with the one-line message the console script prints.
    runner = CliRunner()
    for metric, fragment in (("xp_gap", "no 'own_partner' column"), ("bogus", "unknown metric 'bogus'")):
        bad = runner.invoke(app, ["measure", str(path), "--metric", metric, "-o", str(tmp_path / "never.csv")])
        assert isinstance(bad.exception, LoiError) and fragment in str(bad.exception) and bad.stdout == ""
    assert not (tmp_path / "never.csv").exists()
