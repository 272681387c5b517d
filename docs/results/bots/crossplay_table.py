"""Markdown cross-play tables of SP seeds and bots from a `loi evaluate` reward table.

    python docs/results/bots/crossplay_table.py TABLE.parquet > OUT.md

1. every ego x every partner: mean ego return per episode, 95 % t interval over its episodes;
2. SP egos by kind of partner: each SP ego's mean over its partners of that kind, then the
   mean and 95 % t interval over the SP egos (episodes of one ego are not independent draws
   across partners; egos are). An SP ego's convention is the resource it plays most in
   self-play; the specialist bots are sorted into the one on that resource and the others;
   the self-play gap (own seed - other seeds) is paired over the SP egos;
3. each SP seed's strategy in self-play (share of each resource over its interactions).
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pandas as pd
from scipy import stats


def short(name: str) -> str:
    match = re.search(r"seed_(\d+)", name)
    return f"SP seed_{match.group(1)}" if match and not name.startswith("bots:") else name.replace("bots:", "")


def interval(values) -> tuple[float, float, float]:
    x = np.asarray(values, float)
    m = float(x.mean())
    if len(x) < 2 or np.ptp(x) == 0:
        return m, m, m
    h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return m, m - h, m + h


def fmt(values) -> str:
    m, lo, hi = interval(values)
    return f"{m:.1f} [{lo:.1f}, {hi:.1f}]"


def specialist_target(name: str) -> int | None:
    if not name.startswith("bots:specialist"):
        return None
    match = re.search(r"target=(\d+)", name)
    return int(match.group(1)) if match else 1


def main(path: str) -> None:
    t = pd.read_parquet(path)
    names = list(dict.fromkeys(t["ego"]))
    sp = [n for n in names if not n.startswith("bots:")]
    bots = [n for n in names if n.startswith("bots:")]
    names = sp + bots
    cell = t.groupby(["ego", "coplayer"])["ego_return"]
    print("| ego \\ partner | " + " | ".join(short(n) for n in names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for e in names:
        print(f"| {short(e)} | " + " | ".join(fmt(cell.get_group((e, c))) for c in names) + " |")
    print()

    k = len([c for c in t.columns if c.startswith("ego_strategy_")])
    strategy = [f"ego_strategy_{i + 1}" for i in range(k)]
    own = t[t["ego"] == t["coplayer"]].groupby("ego")[strategy].mean()
    means = cell.mean().unstack()
    kinds: dict[str, list[float]] = {"own seed (self-play)": [], "other SP seeds": []}
    for e in sp:
        convention = int(np.argmax(own.loc[e].to_numpy())) + 1
        kinds["own seed (self-play)"].append(means.loc[e, e])
        kinds["other SP seeds"].append(means.loc[e, [c for c in sp if c != e]].mean())
        same = [b for b in bots if specialist_target(b) == convention]
        other = [b for b in bots if specialist_target(b) not in (None, convention)]
        if same:
            kinds.setdefault("specialist on the ego's most-played resource", []).append(means.loc[e, same].mean())
        if other:
            kinds.setdefault("specialists on its other resources", []).append(means.loc[e, other].mean())
        for b in bots:
            if specialist_target(b) is None:
                kinds.setdefault(short(b), []).append(means.loc[e, b])
    print("| SP egos' partner | mean return [95 % CI over SP egos] | SP egos |")
    print("|---|---|---|")
    for label, values in kinds.items():
        print(f"| {label} | {fmt(values)} | {len(values)} |")
    gap = np.subtract(kinds["own seed (self-play)"], kinds["other SP seeds"])
    print(f"| own seed − other SP seeds (paired over SP egos) | {fmt(gap)} | {len(gap)} |")
    print()
    print("| SP seed | " + " | ".join(f"share of resource {i + 1}" for i in range(k)) + " | return in self-play |")
    print("|---" * (k + 2) + "|")
    for e in sp:
        shares = " | ".join(f"{v:.2f}" for v in own.loc[e].to_numpy())
        print(f"| {short(e)} | {shares} | {means.loc[e, e]:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1])
