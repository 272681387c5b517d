"""The study's independent jobs: pure functions of (config, job spec, run dir).

Each takes plain data (the config as a dict, so a job pickles for a remote
executor), writes its outputs into the run directory atomically and returns a
small summary. Re-running a finished job reuses its outputs; re-running an
interrupted training job resumes it generation by generation (loi.training).
"""

from __future__ import annotations

from typing import Any

from loi.pipeline.executor import Job


def _config(config: dict[str, Any]):
    from loi.pipeline.config import register_definitions, study_from_dict

    study = study_from_dict(config)
    register_definitions(study.definitions)
    return study


def train_job(config: dict[str, Any], run_dir: str, scenario: str, role: str) -> dict[str, Any]:
    """Train one (scenario, role) run: role ``sp`` (the SP seeds), ``heldout``
    (the held-out Bobs' separate SP seeds) or a menu regime."""
    from loi.pipeline.plan import HELDOUT, SP, derived_seed, train_config
    from loi.pipeline.studydir import StudyDir
    from loi.training import train_run

    study = _config(config)
    if role == SP:
        tc = train_config(study, scenario, "sp", study.training.sp_seeds)
    elif role == HELDOUT:
        tc = train_config(study, scenario, "sp", study.heldout.seeds)
    else:
        tc = train_config(study, scenario, role, study.training.seeds)
    study_dir = StudyDir(run_dir)
    out = study_dir.train_run(scenario, role).path
    pool = study_dir.train_run(scenario, SP).path if tc.regime_spec.kind == "fcp" else None
    result = train_run(tc, out, seed=derived_seed(study.seed, "train", scenario, role), pool_dir=pool)
    return {"scenario": scenario, "role": role, "env_steps": result.env_steps, "seconds": result.seconds,
            "resumed_from": result.resumed_from}


def crossplay_job(config: dict[str, Any], run_dir: str, scenario: str) -> dict[str, Any]:
    """The paper's LoI protocol on one scenario's SP seeds -> a reward table."""
    from loi.pipeline.evaluate import loi_crossplay_table
    from loi.pipeline.plan import SP, derived_seed
    from loi.pipeline.studydir import StudyDir, Table
    from loi.tables import write_table

    study = _config(config)
    study_dir = StudyDir(run_dir)
    out = study_dir.job_table(Table.CROSSPLAY, scenario)
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        table = loi_crossplay_table(
            scenario, study_dir.train_run(scenario, SP).path, env=dict(study.env),
            episodes=study.evaluation.episodes, ego_checkpoints=study.evaluation.ego_checkpoints,
            ego_seeds=study.evaluation.ego_seeds,
            seed=derived_seed(study.seed, "crossplay", scenario),
        )
        write_table(table, out)
    return {"scenario": scenario, "table": str(out)}


def tournament_job(config: dict[str, Any], run_dir: str, scenario: str, regimes: list[str]) -> dict[str, Any]:
    """Every trained ego of ``regimes`` against the scenario's held-out Bobs."""
    from loi.pipeline.evaluate import tournament_table
    from loi.pipeline.plan import HELDOUT, derived_seed, heldout_bots
    from loi.pipeline.studydir import StudyDir, Table
    from loi.tables import write_table

    study = _config(config)
    study_dir = StudyDir(run_dir)
    out = study_dir.job_table(Table.TOURNAMENT, scenario)
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        table = tournament_table(
            scenario, {r: study_dir.train_run(scenario, r).path for r in regimes},
            study_dir.train_run(scenario, HELDOUT).path if study.heldout.seeds else None, env=dict(study.env),
            bob_stages=study.heldout.stages, bots=heldout_bots(study, scenario), episodes=study.evaluation.tournament_episodes,
            seed=derived_seed(study.seed, "tournament", scenario),
        )
        write_table(table, out)
    return {"scenario": scenario, "table": str(out)}


def job(function: str, label: str, **kwargs: Any) -> Job:
    return Job(f"loi.pipeline.jobs:{function}", kwargs, label)
