"""The Ray executor (issue 7) on a local cluster kept on 127.0.0.1.

A head node started with ``ray start`` (2 CPUs, loopback only, its own temp
dir) runs a one-scenario study end to end through ``RayExecutor``; its tables
equal, bit for bit, those of the local executor with the same seed, also when
a Ray worker is killed in the middle of a training job. Every Ray listener the
runs open is checked to be on 127.0.0.0/8. Drivers run in fresh interpreters:
Ray reads its address settings when it is imported.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

CONFIG = """
name = "ray-tiny"
seed = 5
games = ["prisoners_dilemma"]
layouts = ["matrix"]
allocator = "proportional"
uniform = "pp2"
train = "menu"

[menu]
sp = 1
pp2 = 2

[training]
steps = 512
generations = 2
sp_seeds = 2
seeds = 1
num_envs = 8
rollout_length = 16
hidden = [16]

[heldout]
stages = 2

[evaluation]
episodes = 3
ego_checkpoints = 1
tournament_episodes = 4
permutations = 20
bootstrap = 20
top = 2
"""

# The driver: the local executor, or RayExecutor joined to ADDRESS. It sets no Ray environment
# variable itself: RayExecutor must keep a loopback cluster on loopback on its own.
DRIVER = r"""
import sys
from pathlib import Path
from loi.errors import LoiError
from loi.pipeline.config import load_config
from loi.pipeline.compilation import enable_compilation_cache
from loi.pipeline.run import run_study
config, out, address = sys.argv[1:4]
enable_compilation_cache()
study = load_config(Path(config))
try:
    if address == "local":
        run_study(study, out)
    else:
        from loi.pipeline.ray_executor import RayExecutor
        with RayExecutor(address, max_retries=3) as executor:
            run_study(study, out, executor=executor)
except LoiError as err:
    print(f"loi: error: {err}", file=sys.stderr)
    sys.exit(2)
"""

# Jobs that fail: a worker that dies every time (retried, then reported) and one that raises.
FAILING = r"""
import sys
from loi.errors import LoiError
from loi.pipeline.executor import Job
from loi.pipeline.ray_executor import RayExecutor
with RayExecutor(sys.argv[1], max_retries=1) as executor:
    done = []
    try:
        executor.map([Job("json:dumps", {"obj": [1, 2]}, "fine"), Job("os:_exit", {"status": 3}, "doomed")],
                     on_done=lambda job, result: done.append((job.label, result)))
    except LoiError as err:
        print("MAP", err)
    print("DONE", done)
    try:
        executor.submit(Job("json:loads", {"s": "{"}, "bad json")).result(timeout=120)
    except LoiError as err:
        print("SUBMIT", err)
"""


# RayExecutor() with no address: a Ray instance inside the driver, which must also stay on loopback.
IN_PROCESS = r"""
import sys
from loi.pipeline.executor import Job
from loi.pipeline.ray_executor import RayExecutor
with RayExecutor(num_cpus_total=2, temp_dir=sys.argv[1]) as executor:
    jobs = [Job("subprocess:check_output", {"args": ["sleep", "4"]}, "wait"),
            Job("json:dumps", {"obj": {"a": 1}}, "dump")]
    print(executor.map(jobs))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    paths = sorted((run_dir / "tables").glob("*.parquet")) + sorted((run_dir / "jobs").glob("*/*.parquet"))
    paths += sorted((run_dir / "train").glob("*/*/*/curves.parquet"))
    return {str(p.relative_to(run_dir)): pd.read_parquet(p) for p in paths}


def _assert_same_tables(actual_dir: Path, expected_dir: Path) -> None:
    expected, actual = _tables(expected_dir), _tables(actual_dir)
    assert len(expected) >= 10 and sorted(actual) == sorted(expected)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(actual[name], frame, check_exact=True, obj=name)


def _is_ray_process(pid: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return "ray" in cmdline


def _host_is_loopback(local_address: str) -> bool:
    host = local_address.rsplit(":", 1)[0].strip("[]").split("%")[0]
    host = host.removeprefix("::ffff:")  # IPv4-mapped IPv6
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*": every interface
        return False


def ray_listeners() -> tuple[list[str], list[str]]:
    """(listening sockets of Ray processes on loopback, those elsewhere), from ``ss -ltnp``."""
    out = subprocess.run(["ss", "-H", "-ltnp"], capture_output=True, text=True, timeout=30, check=True).stdout
    inside, outside = [], []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4 or not any(_is_ray_process(pid) for pid in re.findall(r"pid=(\d+)", line)):
            continue
        (inside if _host_is_loopback(fields[3]) else outside).append(" ".join(fields[3:]))
    return inside, outside


def _run_driver(code: str, *args, env: dict[str, str], watch=None, timeout: float = 900):
    """Run ``code`` in a fresh interpreter; ``watch(process)`` is called every 0.2 s while it runs."""
    process = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"driver still running after {timeout} s")
            if watch is not None:
                watch(process)
            time.sleep(0.2)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
    return process.returncode, stdout, stderr


# ----------------------------------------------------------------------------- without Ray


def test_without_ray_the_error_says_how_to_install_it() -> None:
    code = ("import sys; sys.modules['ray'] = None\n"  # makes `import ray` fail as if not installed
            "from loi.pipeline.ray_executor import RayExecutor\n"
            "try:\n    RayExecutor('auto')\nexcept ValueError as err:\n"
            "    print(type(err).__name__, err)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'LoiError Ray is not installed; install the extra with: pip install -e ".[ray]"'


@pytest.mark.parametrize("kwargs, message", [
    ({"max_retries": -1}, "max_retries must be an integer >= 0"),
    ({"num_cpus": 0}, "num_cpus must be a number > 0"),
    ({"address": ""}, "Ray address must be"),
])
def test_invalid_arguments_are_loi_errors(kwargs, message) -> None:
    from loi.errors import LoiError
    from loi.pipeline.ray_executor import RayExecutor

    with pytest.raises(LoiError, match=message):
        RayExecutor(**kwargs)


# ----------------------------------------------------------------------------- on a Ray cluster

def _ray_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("ray") is not None and shutil.which("ray") is not None
    except (ImportError, ValueError):
        return False


_ray_skip = pytest.mark.skipif(not _ray_available(), reason='Ray is not installed (pip install -e ".[ray]")')


def ray_only(test):
    """Needs Ray; runs on the one xdist worker that holds the module's loopback cluster (pyproject's
    --dist loadgroup): the cluster fixture's `ray stop --force` ends every Ray process on the machine."""
    return pytest.mark.xdist_group("ray_cluster")(_ray_skip(test))


@pytest.fixture(scope="module")
def workspace() -> Path:
    # Short and outside pytest's tmp tree: Ray's unix socket paths must stay under 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="loi-ray-"))
    (path / "study.toml").write_text(CONFIG)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def driver_env(workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    # One compilation cache for every process. XLA flags are part of its keys: with the flag Ray workers
    # get, the local reference run compiles the programs the workers then load instead of recompiling.
    return {**env, "LOI_CACHE_DIR": str(workspace / "jax-cache"), "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}


@pytest.fixture(scope="module")
def cluster(workspace: Path) -> str:
    """A Ray head on 127.0.0.1 with 2 CPUs; stopped (``ray stop --force``) whatever happens."""
    port = _free_port()
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # keeps every Ray socket on loopback
    command = ["ray", "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
               "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={workspace / 'ray-tmp'}"]
    try:
        started = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(["ray", "stop", "--force"], capture_output=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def reference(workspace: Path, driver_env) -> Path:
    out = workspace / "local"
    rc, _, stderr = _run_driver(DRIVER, workspace / "study.toml", out, "local", env=driver_env)
    assert rc == 0, stderr[-3000:]
    return out


class LoopbackWatch:
    """Samples ``ss -ltnp`` while a driver runs; remembers Ray listeners seen."""

    def __init__(self) -> None:
        self.inside: set[str] = set()
        self.outside: set[str] = set()
        self.last = 0.0

    def __call__(self, process) -> None:
        if time.monotonic() - self.last > 1.0:
            self.last = time.monotonic()
            inside, outside = ray_listeners()
            self.inside.update(inside)
            self.outside.update(outside)


@ray_only
def test_study_on_a_loopback_ray_cluster_equals_the_local_run(cluster, workspace, driver_env, reference) -> None:
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed: cannot check where Ray listens")
    watch = LoopbackWatch()
    out = workspace / "run-ray"
    rc, _, stderr = _run_driver(DRIVER, workspace / "study.toml", out, cluster, env=driver_env, watch=watch)
    assert rc == 0, stderr[-3000:]
    _assert_same_tables(out, reference)
    # The head (GCS, raylet), the workers and the driver all listened, and only on loopback.
    assert any(cluster.split(":")[1] in listener for listener in watch.inside)
    assert len(watch.inside) >= 4, watch.inside
    assert not watch.outside, f"Ray listeners outside 127.0.0.0/8: {sorted(watch.outside)}"


def _training_workers() -> list[int]:
    found = subprocess.run(["pgrep", "-f", "^ray::loi train_job"], capture_output=True, text=True, timeout=30)
    return [int(pid) for pid in found.stdout.split()]


# A slow test (a third study on the cluster: ~75 s on one worker): in the default suite
# test_a_job_that_keeps_failing_fails_with_its_label has Ray retry a job whose worker died, the
# loopback study above equals the local run table for table, and a training job interrupted
# mid-run resumes to the same tables (test_pipeline_run's kill -9, test_training's resume).
@ray_only
@pytest.mark.slow
def test_a_killed_worker_is_retried_and_the_tables_are_unchanged(cluster, workspace, driver_env, reference) -> None:
    out = workspace / "ray-killed"
    killed: list[int] = []

    def kill_during_training(process) -> None:
        # Once a training job has written its first generation, SIGKILL the workers running training jobs.
        if killed or not any((out / "train").rglob("gen_000.msgpack")):
            return
        for pid in _training_workers():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    rc, _, stderr = _run_driver(DRIVER, workspace / "study.toml", out, cluster, env=driver_env,
                                watch=kill_during_training)
    assert rc == 0, stderr[-3000:]
    assert killed, "no training worker was seen running"
    _assert_same_tables(out, reference)


@ray_only
def test_an_unreachable_head_fails_fast() -> None:
    from loi.errors import LoiError
    from loi.pipeline.ray_executor import RayExecutor

    port = _free_port()  # nothing listens there once the probe socket is closed
    with pytest.raises(LoiError, match=rf"cannot reach the Ray head at 127.0.0.1:{port} \(Connection refused\)"):
        RayExecutor(f"127.0.0.1:{port}")
    with pytest.raises(LoiError, match="Ray address must be"):
        RayExecutor("head-without-port")


@ray_only
@pytest.mark.slow
def test_an_in_process_ray_instance_listens_on_loopback_only(workspace, driver_env) -> None:
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed: cannot check where Ray listens")
    watch = LoopbackWatch()
    rc, stdout, stderr = _run_driver(IN_PROCESS, workspace / "in-process", env=driver_env, watch=watch, timeout=300)
    assert rc == 0, stderr[-3000:]
    assert stdout.strip() == "[b'', '{\"a\": 1}']"
    assert len(watch.inside) >= 3, watch.inside
    assert not watch.outside, f"Ray listeners outside 127.0.0.0/8: {sorted(watch.outside)}"


@ray_only
def test_a_job_that_keeps_failing_fails_with_its_label(cluster, driver_env) -> None:
    rc, stdout, stderr = _run_driver(FAILING, cluster, env=driver_env, timeout=300)
    assert rc == 0, stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in stdout.strip().splitlines())
    assert lines["MAP"] == ("job 'doomed' failed: its Ray worker died 2 time(s) (WorkerCrashedError); "
                            "finished jobs are kept, re-run to resume")
    assert lines["DONE"] == "[('fine', '[1, 2]')]"  # the other job finished and was reported
    assert lines["SUBMIT"].startswith("job 'bad json' failed: JSONDecodeError: Expecting property name")


@ray_only
@pytest.mark.slow
def test_driver_killed_then_restarted_resumes_to_the_same_tables(cluster, workspace, driver_env, reference) -> None:
    out = workspace / "ray-driver-killed"
    target = out / "stages" / "train_sp.json"  # stage 1 finished: kill the driver inside stage 2 or later

    def kill_driver(process) -> None:
        if target.exists():
            process.send_signal(signal.SIGKILL)

    rc, _, _ = _run_driver(DRIVER, workspace / "study.toml", out, cluster, env=driver_env, watch=kill_driver)
    assert rc == -signal.SIGKILL and target.exists()
    assert not (out / "stages" / "statistics.json").exists()
    rc, _, stderr = _run_driver(DRIVER, workspace / "study.toml", out, cluster, env=driver_env)
    assert rc == 0, stderr[-3000:]
    _assert_same_tables(out, reference)


def test_ray_core_lines_written_to_fd_2_while_connecting_are_kept_off_the_terminal(capfd) -> None:
    from loi.pipeline.ray_executor import _core_log_captured

    with _core_log_captured(remote=True):
        os.write(2, b"gcs_client.cc:210: Failed to get cluster ID from GCS server\n")
    with _core_log_captured(remote=False):  # a local start's output is left alone
        os.write(2, b"local line\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "local line\nafter\n"
