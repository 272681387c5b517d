"""Markdown cross-play table (mean ego return per episode, 95 % t CI over episodes) from a loi evaluate table."""
import sys
import numpy as np, pandas as pd
from scipy import stats

t = pd.read_parquet(sys.argv[1])
short = lambda n: n.replace("pc_small_sp/", "SP ").replace("/member_0/gen_009", "").replace("bots:", "")
names = list(dict.fromkeys(t["ego"]))
names = [n for n in names if not n.startswith("bots:")] + [n for n in names if n.startswith("bots:")]
def ci(x):
    x = np.asarray(x, float); m = x.mean(); h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return m, m - h, m + h
lines = ["| ego \\ partner | " + " | ".join(short(n) for n in names) + " |", "|---" * (len(names) + 1) + "|"]
for e in names:
    cells = []
    for c in names:
        m, lo, hi = ci(t[(t.ego == e) & (t.coplayer == c)]["ego_return"])
        cells.append(f"{m:.1f} [{lo:.1f}, {hi:.1f}]")
    lines.append(f"| {short(e)} | " + " | ".join(cells) + " |")
print("\n".join(lines))
print()
# Summary: SP agents with their own seed, other SP seeds, each bot (episodes pooled over SP egos).
sp = [n for n in names if not n.startswith("bots:")]
rows = []
def add(label, mask):
    m, lo, hi = ci(t[mask]["ego_return"]); rows.append(f"| {label} | {m:.1f} [{lo:.1f}, {hi:.1f}] | {int(mask.sum())} |")
is_sp_ego = t.ego.isin(sp)
add("own seed (self-play)", is_sp_ego & (t.ego == t.coplayer))
add("other SP seeds", is_sp_ego & t.coplayer.isin(sp) & (t.ego != t.coplayer))
for b in [n for n in names if n.startswith("bots:")]:
    add(short(b), is_sp_ego & (t.coplayer == b))
print("| SP egos' partner | mean return [95 % CI] | episodes |\n|---|---|---|")
print("\n".join(rows))
print()
s = t[is_sp_ego].groupby("coplayer")[["interactions", "ego_strategy_1", "coplayer_strategy_1"]].mean()
s.index = [short(i) for i in s.index]
print("| partner of SP egos | interactions / episode | SP ego's share of resource 1 | partner's share of resource 1 |\n|---|---|---|---|")
for i, r in s.loc[[short(n) for n in names]].iterrows():
    print(f"| {i} | {r.interactions:.1f} | {r.ego_strategy_1:.2f} | {r.coplayer_strategy_1:.2f} |")
