"""Where PPO training time goes: loi's trainer against JaxMARL's IPPO, one update at a time.

    python benchmarks/profile_train.py                        # loi on Overcooked at IPPO's sizes, IPPO, grid rows
    python benchmarks/profile_train.py --jaxmarl-ippo JAXMARL/baselines/IPPO/ippo_ff_overcooked.py
    python benchmarks/profile_train.py --rows grid --steps 65536    # only loi's own sizes (grid SP/PP5 x MLP/GRU)

Per configuration (each in its own subprocess):

- **rollout vs update**: the same training timed at 1 and at 4 PPO epochs (each compiled ahead of
  time, then run over the same env steps): ``t(E) = rollout + E * epoch``, so
  ``epoch = (t4 - t1) / 3`` and ``rollout = t1 - epoch``, in seconds per 1M env steps. Measured
  this way for both trainers, so neither needs instrumenting (IPPO's code is run as published).
- **the compiled program of one update**: jaxpr equations inside the update (the body of the scan
  over updates, nested scans counted once per appearance), by primitive; and HLO instructions of
  the optimised program (all computations; IPPO's includes its one-off init), by opcode.
- **host round trips per update**: host callbacks in the compiled program (``jax.debug.callback``,
  ``io_callback``: a device-to-host transfer and a Python call each update) plus the driver's calls
  (loi: one call of the compiled generation per ``updates_per_generation`` updates; IPPO: the
  whole training is one call).

Rows: ``overcooked`` = loi's trainer and JaxMARL IPPO (with ``--jaxmarl-ippo``) on Overcooked
cramped_room at IPPO's sizes (16 envs x 128 steps, 4 epochs x 4 minibatches, MLP 64-64); ``grid``
= loi's sizes (64 envs x 128 steps) on prisoners_dilemma/medium, SP and PP5, MLP and GRU.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import OVERCOOKED_SIZES, SCENARIO, ippo_config, load_ippo_module  # noqa: E402

OVERCOOKED = "jaxmarl:overcooked/cramped_room?reward_shaping=1"
CALLBACK = re.compile(r"custom_call_target=\"[^\"]*callback[^\"]*\"", re.I)


def jaxpr_counts(closed_jaxpr, num_updates: int) -> collections.Counter:
    """Primitive counts inside one update: the body of the outermost scan of ``num_updates`` steps."""
    import jax

    def count(jaxpr) -> collections.Counter:
        counts = collections.Counter()
        for eqn in jaxpr.eqns:
            counts[eqn.primitive.name] += 1
            for sub in jax.core.jaxprs_in_params(eqn.params):
                counts += count(sub)
        return counts

    def find(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "scan" and eqn.params["length"] == num_updates:
                return eqn.params["jaxpr"].jaxpr
            for sub in jax.core.jaxprs_in_params(eqn.params):
                found = find(sub)
                if found is not None:
                    return found
        return None

    body = find(closed_jaxpr.jaxpr)
    if body is None:
        raise RuntimeError(f"no scan of length {num_updates} (the updates) in the program")
    return count(body)


def hlo_counts(compiled) -> tuple[collections.Counter, int]:
    """(HLO opcode counts over every computation of the optimised module, host callbacks)."""
    text = compiled.as_text()
    opcodes = collections.Counter()
    for line in text.splitlines():
        match = re.match(r"\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*[^=]*?\s([a-z][\w\-]*)\(", line)
        if match:
            opcodes[match.group(1)] += 1
    return opcodes, len(CALLBACK.findall(text))


def _timed(run, state_or_key, repeats: int) -> float:
    import jax

    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(run(state_or_key))
        best = min(best, time.perf_counter() - t0)
    return best


def profile_loi(scenario: str, regime: str, network: str, sizes: dict, steps: int, repeats: int) -> dict:
    import jax

    from loi.training import TrainConfig, make_train

    def build(epochs: int, total: int):
        config = TrainConfig(scenario, regime=regime, total_steps=total, num_generations=1, network=network,
                             num_envs=sizes["num_envs"], rollout_length=sizes["rollout_length"],
                             update_epochs=epochs, num_minibatches=sizes["minibatches"])
        trainer = make_train(config)
        state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
        return config, trainer, state

    out = {"trainer": "loi", "scenario": scenario, "regime": regime, "network": network}
    seconds = {}
    for epochs in (1, sizes["epochs"]):
        config, trainer, state = build(epochs, steps)
        t0 = time.perf_counter()
        generation = jax.jit(trainer.generation).lower(state).compile()
        out[f"compile_s_{epochs}"] = time.perf_counter() - t0
        seconds[epochs] = _timed(lambda s: generation(s), state, repeats)
        env_steps = config.num_updates * config.steps_per_update * config.regime_spec.num_members
    out.update(_split(seconds, env_steps, sizes["epochs"]))
    config, trainer, state = build(sizes["epochs"], 2 * TrainConfig(scenario, num_envs=sizes["num_envs"],
                                                                     rollout_length=sizes["rollout_length"]
                                                                     ).steps_per_update)
    jaxpr = jax.make_jaxpr(trainer.generation)(state)
    compiled = jax.jit(trainer.generation).lower(state).compile()
    out.update(_program(jaxpr_counts(jaxpr, config.updates_per_generation), *hlo_counts(compiled)))
    out["driver_calls_per_update"] = 1 / TrainConfig(scenario, total_steps=10**6).updates_per_generation
    return out


def profile_ippo(script: str, layout: str, steps: int, repeats: int) -> dict:
    import jax

    module = load_ippo_module(script)
    out = {"trainer": "JaxMARL IPPO", "scenario": f"overcooked/{layout}", "regime": "sp", "network": "mlp"}
    key = jax.random.PRNGKey(0)
    seconds = {}
    for epochs in (1, OVERCOOKED_SIZES["epochs"]):
        config = ippo_config(layout, steps, epochs)
        train = module.make_train(config)
        t0 = time.perf_counter()
        compiled = jax.jit(train).lower(key).compile()
        out[f"compile_s_{epochs}"] = time.perf_counter() - t0
        seconds[epochs] = _timed(compiled, key, repeats)
        env_steps = config["NUM_UPDATES"] * config["NUM_STEPS"] * config["NUM_ENVS"]
    out.update(_split(seconds, env_steps, OVERCOOKED_SIZES["epochs"]))
    config = ippo_config(layout, 2 * OVERCOOKED_SIZES["num_envs"] * OVERCOOKED_SIZES["rollout_length"],
                         OVERCOOKED_SIZES["epochs"])
    train = module.make_train(config)
    jaxpr = jax.make_jaxpr(train)(key)
    compiled = jax.jit(train).lower(key).compile()
    out.update(_program(jaxpr_counts(jaxpr, config["NUM_UPDATES"]), *hlo_counts(compiled)))
    out["driver_calls_per_update"] = 0.0  # the whole training is one call
    return out


def _split(seconds: dict, env_steps: int, epochs: int) -> dict:
    per_m = {e: s * 1e6 / env_steps for e, s in seconds.items()}
    epoch = (per_m[epochs] - per_m[1]) / (epochs - 1)
    return {"env_steps": env_steps, "steps_per_s": env_steps / seconds[epochs], "s_per_M": per_m[epochs],
            "rollout_s_per_M": per_m[1] - epoch, "update_s_per_M": epochs * epoch}


def _program(jaxpr: collections.Counter, hlo: collections.Counter, callbacks: int) -> dict:
    return {"jaxpr_eqns": sum(jaxpr.values()), "jaxpr": dict(jaxpr.most_common()), "hlo_ops": sum(hlo.values()),
            "hlo": dict(hlo.most_common()), "host_callbacks_per_update": callbacks}


def _spawn(args: list[str]) -> dict | None:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  {' '.join(args)}: failed\n{proc.stderr[-2000:]}", file=sys.stderr, flush=True)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(rows: list[dict]) -> str:
    lines = ["| trainer | scenario | regime | network | env-steps/s | s per 1M steps | rollout | update (all epochs) "
             "| compile s | jaxpr eqns / update | HLO ops | host callbacks / update | driver calls / update |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['trainer']} | {r['scenario']} | {r['regime']} | {r['network']} | {r['steps_per_s']:,.0f} "
                     f"| {r['s_per_M']:.1f} | {r['rollout_s_per_M']:.1f} | {r['update_s_per_M']:.1f} "
                     f"| {r['compile_s_4']:.1f} | {r['jaxpr_eqns']} | {r['hlo_ops']} "
                     f"| {r['host_callbacks_per_update']} | {r['driver_calls_per_update']:.3f} |")
    return "\n".join(lines)


def _primitive_table(rows: list[dict], field: str, top: int) -> str:
    names = collections.Counter()
    for r in rows:
        names.update(r[field])
    keys = [k for k, _ in names.most_common(top)]
    header = "| " + field + " | " + " | ".join(f"{r['trainer']} {r['regime']} {r['network']}" for r in rows) + " |"
    lines = [header, "|---" * (len(rows) + 1) + "|"]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(str(r[field].get(k, 0)) for r in rows) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=65536, help="env steps per member per timed run")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per program (the fastest is kept)")
    parser.add_argument("--rows", default="overcooked,grid", help="overcooked, grid or both")
    parser.add_argument("--jaxmarl-ippo", metavar="SCRIPT", help="JaxMARL's baselines/IPPO/ippo_ff_overcooked.py")
    parser.add_argument("--out", help="write the tables (markdown) and the raw rows (JSON beside it) here")
    parser.add_argument("--one", nargs=3, metavar=("SCENARIO", "REGIME", "NETWORK"), help=argparse.SUPPRESS)
    parser.add_argument("--ippo-one", nargs=2, metavar=("SCRIPT", "LAYOUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        scenario, regime, network = args.one
        sizes = OVERCOOKED_SIZES if scenario.startswith("jaxmarl:overcooked") else \
            {"num_envs": 64, "rollout_length": 128, "epochs": 4, "minibatches": 4}
        print(json.dumps(profile_loi(scenario, regime, network, sizes, args.steps, args.repeats)))
        return
    if args.ippo_one:
        print(json.dumps(profile_ippo(*args.ippo_one, args.steps, args.repeats)))
        return
    rows_wanted = {r.strip() for r in args.rows.split(",")}
    if not rows_wanted <= {"overcooked", "grid"}:
        sys.exit(f"--rows takes overcooked and/or grid, got {args.rows!r}")
    common = ["--steps", str(args.steps), "--repeats", str(args.repeats)]
    jobs = []
    if "overcooked" in rows_wanted:
        jobs.append(["--one", OVERCOOKED, "sp", "mlp"])
        if args.jaxmarl_ippo:
            jobs.append(["--ippo-one", args.jaxmarl_ippo, "cramped_room"])
    if "grid" in rows_wanted:
        jobs += [["--one", SCENARIO, regime, network] for network in ("mlp", "gru") for regime in ("sp", "pp5")]
    load = os.getloadavg()[0]
    rows = []
    for job in jobs:
        row = _spawn(job + common)
        if row is not None:
            rows.append(row)
            print(f"  done: {row['trainer']} {row['scenario']} {row['regime']} {row['network']}: "
                  f"{row['steps_per_s']:,.0f} env-steps/s", flush=True)
    text = "\n\n".join([
        f"load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()}); "
        f"seconds per 1M env steps per member-seed, rollout/update split from 1 vs 4 epochs",
        _table(rows), _primitive_table(rows, "jaxpr", 25), _primitive_table(rows, "hlo", 25)])
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
        Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
