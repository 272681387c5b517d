"""Cross-play evaluation: checkpoints and baselines -> reward tables -> LoI.

    env = loi.envs.make("stag_hunt/small")
    ego = baseline_policy("collect1", env)
    coplayers = [baseline_policy("collect1", env), baseline_policy("collect2", env)]
    result = cross_play(env, [ego], coplayers, episodes=6, key=jax.random.PRNGKey(0))
    table = result.to_table()          # long format (loi.tables.schema) -> measure_table(table)

Trained policies: ``run_policies(RUN_DIR, generations)`` / ``checkpoint_policy(path)``.
The paper's LoI protocol: :func:`loi_protocol`; fixed-Bob tournaments:
:func:`fixed_bob_tournament` and :func:`tournament_summary`.
"""

from loi.evaluation.cross_play import CrossPlayResult, cross_play, episode_key, resolve_seats
from loi.evaluation.pair_rollout import PairRollout, pair_rollout
from loi.evaluation.policies import (
    Policy,
    baseline_policy,
    bot_policy,
    checkpoint_policy,
    network_policy,
    policies_env,
    resolve_policies,
    resolve_policy,
    run_checkpoints,
    run_policies,
)
from loi.evaluation.protocol import (
    PAPER_STAGES,
    ProtocolResult,
    loi_protocol,
    protocol_policies,
    protocol_table,
    stage_generations,
)
from loi.evaluation.tournament import (
    TournamentSummary,
    fixed_bob_tournament,
    held_out_bobs,
    tournament_egos,
    tournament_summary,
)

__all__ = [
    "PAPER_STAGES",
    "ProtocolResult",
    "TournamentSummary",
    "fixed_bob_tournament",
    "held_out_bobs",
    "loi_protocol",
    "policies_env",
    "protocol_policies",
    "protocol_table",
    "stage_generations",
    "tournament_egos",
    "tournament_summary",
    "CrossPlayResult",
    "Policy",
    "baseline_policy",
    "bot_policy",
    "checkpoint_policy",
    "cross_play",
    "episode_key",
    "network_policy",
    "PairRollout",
    "pair_rollout",
    "resolve_policies",
    "resolve_policy",
    "resolve_seats",
    "run_checkpoints",
    "run_policies",
]
