"""Run the study's independent jobs as Ray tasks (the optional ``ray`` extra).

Each :class:`~loi.pipeline.executor.Job` becomes one Ray task. The task calls
the job in a Ray worker, where it writes its outputs straight into the run
directory, so that directory must be on a filesystem every node sees at the
same absolute path (NFS, a cluster filesystem; on one machine any local path
works). Ray retries a task whose worker process or node dies (``max_retries``
times); an exception raised by the job itself is not retried, because it would
be raised again. Jobs are idempotent and resumable (finished outputs are
reused, a training resumes from its last generation), so a retry or a re-run
of the driver continues where the lost attempt stopped.

Threads: a job asks Ray for ``num_cpus`` CPUs and its worker runs XLA with as
many threads (``OMP_NUM_THREADS`` is set by Ray; Eigen's own thread pool is
turned off when ``num_cpus == 1``), so parallel jobs on one node do not
oversubscribe its cores.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from loi.errors import LoiError
from loi.pipeline.job import Job

INSTALL_HINT = 'Ray is not installed; install the extra with: pip install -e ".[ray]"'
# Read by Ray when it is imported: with it at "0", Ray keeps a cluster whose
# address is on loopback on loopback, instead of rewriting 127.0.0.1 to the
# machine's network address (which exposes the sockets and then fails to connect).
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# Forwarded to workers so that they share the driver's JAX compilation cache.
_FORWARDED_ENV = ("LOI_CACHE_DIR", "XDG_CACHE_HOME")


def _import_ray(loopback: bool):
    if loopback and "ray" not in sys.modules:
        os.environ.setdefault(_LOOPBACK_ENV, "0")
    try:
        import ray
    except ImportError:
        raise LoiError(INSTALL_HINT) from None
    return ray


def _is_loopback(address: str | None) -> bool:
    """``None``/"local" (a cluster inside this process) or a HOST:PORT on 127.0.0.0/8 / localhost."""
    if address in (None, "local"):
        return True
    if address == "auto" or address.startswith("ray://"):
        return False
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast on a HOST:PORT nobody listens on (ray.init would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise LoiError(f"Ray address must be 'auto', 'HOST:PORT' or 'ray://HOST:PORT', got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise LoiError(f"cannot reach the Ray head at {address} ({err.strerror or err}); start it with "
                       f"`ray start --head` or check the address") from None


@contextlib.contextmanager
def _core_log_captured(remote: bool):
    """While connecting to a remote cluster, Ray's C++ client writes a warning line per retry
    straight to file descriptor 2 (about 20 before it gives up on a wrong address); keep them
    out of the terminal so a failure reads as loi's one line. A local start is left alone."""
    if not remote:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _token_available() -> bool:
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or (Path.home() / ".ray" / "auth_token").is_file())


def run_job_in_worker(job: Job) -> Any:
    """The Ray task: run ``job`` with the persistent JAX compilation cache on."""
    from loi.pipeline.compilation import enable_compilation_cache

    enable_compilation_cache()  # a no-op after the worker's first job
    return job()


class RayExecutor:
    """The :class:`~loi.pipeline.executor.Executor` interface on a Ray cluster.

    ``address``: ``None`` starts a Ray instance inside this process, bound to
    127.0.0.1 (one machine, ``num_cpus_total`` CPUs, default all); ``"auto"``
    joins the cluster ``ray start`` launched on this machine (or ``$RAY_ADDRESS``);
    ``"HOST:PORT"`` joins the cluster whose head's GCS listens there;
    ``"ray://HOST:PORT"`` connects through Ray Client. If Ray is already
    initialised in this process, that connection is used as is.

    ``max_retries``: how often Ray re-runs a job whose worker died;
    ``num_cpus``: CPUs reserved for each job (and the XLA threads it uses).
    :meth:`close` (or leaving a ``with`` block) shuts down what this executor started.
    """

    def __init__(self, address: str | None = None, *, max_retries: int = 3, num_cpus: float = 1,
                 num_cpus_total: int | None = None, temp_dir: str | Path | None = None) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise LoiError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, float)) or not num_cpus > 0:
            raise LoiError(f"num_cpus must be a number > 0, got {num_cpus!r}")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise LoiError(f"Ray address must be 'auto', 'HOST:PORT' or 'ray://HOST:PORT', got {address!r}")
        self.address, self.max_retries, self.num_cpus = address, max_retries, num_cpus
        loopback = _is_loopback(address)
        if address not in (None, "local") and _token_available():
            # Ray 2.60 clusters require a token by default; a driver uses it only in token mode.
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        ray = _import_ray(loopback)
        self._ray = ray
        self._owns_ray = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
            if address in (None, "local"):
                options.update(address="local", num_cpus=num_cpus_total, include_dashboard=False,
                               _node_ip_address="127.0.0.1")
                if temp_dir is not None:
                    options["_temp_dir"] = str(temp_dir)
            else:
                if address != "auto" and not address.startswith("ray://"):
                    _check_reachable(address)
                options["address"] = address
                if loopback:
                    options["_node_ip_address"] = "127.0.0.1"
            try:
                with _core_log_captured(remote=address not in (None, "local")):
                    ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as err:
                message = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
                raise LoiError(f"cannot connect to the Ray cluster at {address!r}: {message}") from None
            self._owns_ray = True
        env_vars = {name: os.environ[name] for name in _FORWARDED_ENV if name in os.environ}
        if num_cpus <= 1:
            # Eigen would otherwise start one thread per core of the node in every worker.
            flags = os.environ.get("XLA_FLAGS", "")
            if "xla_cpu_multi_thread_eigen" not in flags:
                flags = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
            env_vars["XLA_FLAGS"] = flags
        self._task = ray.remote(run_job_in_worker)
        self._task_options: dict[str, Any] = {"num_cpus": num_cpus, "max_retries": max_retries,
                                              "retry_exceptions": False}
        if env_vars:
            self._task_options["runtime_env"] = {"env_vars": env_vars}

    # ------------------------------------------------------------------ Executor

    def submit(self, job: Job) -> Future:
        """Start ``job`` on the cluster; the future's exception is a LoiError naming it."""
        ref = self._start(job)
        future: Future = Future()

        def settle(ray_future: Future) -> None:
            try:
                future.set_result(ray_future.result())
            except BaseException as err:
                future.set_exception(self._job_error(job, err))

        ref.future().add_done_callback(settle)
        return future

    def map(self, jobs: Iterable[Job], on_done: Callable[[Job, Any], None] | None = None) -> list[Any]:
        """Run ``jobs`` in parallel; ``on_done`` is called as each finishes (completion order);
        results come back in job order. When jobs fail, the others still run to the end
        (their outputs stay in the run directory) and then one LoiError names every failed job."""
        ray = self._ray
        jobs = list(jobs)
        refs = [self._start(job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(jobs)
        failures: list[tuple[Job, BaseException]] = []
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    job = jobs[index[ref]]
                    try:
                        results[index[ref]] = ray.get(ref)
                    except Exception as err:
                        failures.append((job, err))
                        continue
                    if on_done is not None:
                        on_done(job, results[index[ref]])
        except BaseException:  # Ctrl-C or an on_done error: do not leave tasks running on the cluster
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        if failures:
            first = self._job_error(*failures[0])
            if len(failures) == 1:
                raise first from failures[0][1]
            others = ", ".join(repr(job.label or job.function) for job, _ in failures[1:])
            raise LoiError(f"{len(failures)} of {len(jobs)} jobs failed on Ray (finished jobs are kept; re-run to "
                           f"resume); first: {first}; also failed: {others}") from failures[0][1]
        return results

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Shut down the Ray instance this executor started (a joined cluster keeps running)."""
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _start(self, job: Job):
        kwargs = dict(job.kwargs)
        if "run_dir" in kwargs:  # workers do not share the driver's working directory
            kwargs["run_dir"] = os.path.abspath(kwargs["run_dir"])
        name = f"loi {job.function.rpartition(':')[2]} {job.label}".strip()
        return self._task.options(name=name, **self._task_options).remote(Job(job.function, kwargs, job.label))

    def _job_error(self, job: Job, err: BaseException) -> BaseException:
        ray = self._ray
        label = repr(job.label or job.function)
        if isinstance(err, ray.exceptions.RayTaskError):
            cause = err.cause if err.cause is not None else err
            if isinstance(cause, LoiError):
                return LoiError(f"job {label}: {cause}")
            detail = str(cause).strip().splitlines()
            return LoiError(f"job {label} failed: {type(cause).__name__}: {detail[-1] if detail else ''}".rstrip())
        if isinstance(err, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                            ray.exceptions.OutOfMemoryError, ray.exceptions.ObjectLostError)):
            return LoiError(f"job {label} failed: its Ray worker died {self.max_retries + 1} time(s) "
                            f"({type(err).__name__}); finished jobs are kept, re-run to resume")
        if isinstance(err, ray.exceptions.RayError):
            return LoiError(f"job {label} failed on Ray: {type(err).__name__}")
        return err
