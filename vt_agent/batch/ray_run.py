"""The core's two stages on a Ray cluster, as a Ray Data pipeline.

* preparation: :func:`vt_agent.pipeline.prepare_item` in Ray tasks (one CPU each, on every node
  with CPUs free; ``prepare_workers`` caps how many run at once), each item's frames pickled into
  the object store;
* engine: actors that each hold one backend (:class:`~vt_agent.batch.engine.EngineSpec`: vLLM
  in-process with its tensor-parallel size, transformers, an OpenAI-compatible endpoint, or fake)
  and run ``task(reasoner)`` on each prepared item (default :func:`vt_agent.pipeline.reason_with`),
  ``concurrency`` items at once per actor (threads calling into the actor's one event loop, so a
  batching engine sees them together).

:func:`ray_map` yields each item's :class:`Done` as it comes back to the driver. Ray is imported
only here (the ``[ray]`` extra: ``pip install 'vt-agent[ray]'``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vt_agent.batch.engine import FATAL, EngineSpec
from vt_agent.errors import BackendUnavailableError, ConfigError, MissingExtraError

if TYPE_CHECKING:
    from vt_agent.pipeline import PipelineItem, PreparedItem
    from vt_agent.reasoner import VideoReasoner

__all__ = ["Cluster", "Done", "RayOptions", "Task", "aray_map", "connect", "ray_map"]

Task = Callable[["VideoReasoner"], Callable[["PreparedItem"], Awaitable[Any]]]
"""What an engine actor runs: given its reasoner, the generate stage (an async function of a
prepared item). Must be picklable (a module-level function or a ``functools.partial`` of one)."""

MAX_BLOCKS = 2000
"""Items are split into at most this many blocks (one item a block below it: rows stream back singly)."""


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingExtraError(exc.name or "ray", "ray", "--ray (Ray Data batch runs)") from exc
    return ray


@dataclass(frozen=True)
class Cluster:
    """The Ray cluster a run uses."""

    address: str
    nodes: int
    cpus: float
    gpus: float
    started_here: bool

    def line(self) -> str:
        how = "a local Ray instance started for this run" if self.started_here else "Ray cluster"
        return (
            f"ray: {how} at {self.address}: {self.nodes} node(s), {self.cpus:g} CPU(s), {self.gpus:g} GPU(s)"
        )


def connect(address: str, num_cpus: int | None = None) -> Cluster:
    """Join the Ray cluster at ``address``; ``"auto"``: the one ``RAY_ADDRESS`` or ``ray start``
    names on this machine, else a new local instance (``num_cpus`` CPUs). A Ray already
    initialised in this process is used as it is."""
    ray = _ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "logging_level": "WARNING",
            "log_to_driver": False,
        }
        if address == "auto":
            started = not (os.environ.get("RAY_ADDRESS") or _local_cluster_running())
            if started and num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            ray.init(**kwargs)
        else:
            _check_reachable(address)
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ConfigError(
                    f"--ray {address}: cannot join a Ray cluster there ({exc}); start one with "
                    "`ray start --head` and give its address (HOST:6379 or ray://HOST:10001), or use --ray auto"
                ) from None
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    res = ray.cluster_resources()
    address_now = str(ray.get_runtime_context().gcs_address)
    return Cluster(address_now, len(nodes), float(res.get("CPU", 0)), float(res.get("GPU", 0)), started)


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """ConfigError at once when nothing answers at ``address`` (Ray itself retries for minutes)."""
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"--ray {address}: give auto or a cluster address HOST:PORT (HOST:6379, or ray://HOST:10001)"
        )
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConfigError(
            f"--ray {address}: nothing answers there ({exc}); start the cluster with `ray start --head` "
            "on its head node and give that address, or use --ray auto"
        ) from None


def _local_cluster_running() -> bool:
    """True when ``ray start`` left a cluster address on this machine (what ``ray.init()`` joins)."""
    return os.path.exists(os.path.join(tempfile.gettempdir(), "ray", "ray_current_cluster"))


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Done:
    """One item back from the cluster: ``value`` (what the task returned) or ``error`` (``Type:
    text``) and the ``stage`` that raised it; ``fatal`` when the engine itself failed
    (:data:`~vt_agent.batch.engine.FATAL`). Times: ``prepare_s`` and the wall-clock end of the
    preparation ``prepared_at``, the generation's wall-clock ``start``/``end``; ``worker`` and
    ``engine`` name the processes (host:pid)."""

    item: PipelineItem
    value: Any = None
    error: str = ""
    stage: str = ""
    fatal: bool = False
    prepare_s: float = 0.0
    prepared_at: float = 0.0
    start: float = 0.0
    end: float = 0.0
    worker: str = ""
    engine: str = ""
    exception: Exception | None = None
    """The error itself when it crosses processes intact (else only its text in ``error``)."""

    @property
    def ok(self) -> bool:
        return not self.error

    def fail(self, exc: Exception | None, stage: str, text: str = "") -> None:
        """Record ``exc`` (or only its ``text`` when it could not cross processes)."""
        self.error, self.stage, self.fatal = (
            text or _message(exc or RuntimeError()),
            stage,
            isinstance(exc, FATAL),
        )
        self.exception = _round_trip(exc) if exc is not None else None


@dataclass(frozen=True)
class RayOptions:
    """How a run uses the cluster: the engine (``spec``), ``actors`` holding one each with
    ``gpus_per_actor`` and ``cpus_per_actor``, ``concurrency`` items at once in each, and
    ``prepare_workers`` preparation tasks at once (None: as many as free CPUs allow)."""

    spec: EngineSpec
    actors: int = 1
    gpus_per_actor: float = 0
    cpus_per_actor: float | None = None
    concurrency: int = 4
    prepare_workers: int | None = None

    def line(self) -> str:
        gpus = f"{self.gpus_per_actor:g} GPU(s) each" if self.gpus_per_actor else "no GPU"
        return (
            f"engine: {self.actors} actor(s) ({self.spec.backend}), {gpus}, {self.concurrency} at once each"
        )


def prepare_rows(batch: dict[str, Any], preset: str) -> dict[str, list[Any]]:
    """The preparation stage (a Ray task): each item's prepared frames, pickled, or its error."""
    from vt_agent.pipeline import prepare_item
    from vt_agent.video import set_cache_limit

    set_cache_limit(0)  # frames leave this process; keeping them would only hold memory
    keys = ("item", "prepared", "error", "exception", "prepare_s", "prepared_at", "worker")
    out: dict[str, list[Any]] = {k: [] for k in keys}
    for blob in batch["item"]:
        prepared, error, exception, took = b"", "", b"", 0.0
        try:
            ready = prepare_item(pickle.loads(blob), preset)
            took = ready.prepare_s
            prepared = pickle.dumps(ready, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            error = _message(exc)
            back = _round_trip(exc)
            exception = pickle.dumps(back) if back is not None else b""
        for key, value in (
            ("item", blob),
            ("prepared", prepared),
            ("error", error),
            ("exception", exception),
            ("prepare_s", took),
            ("prepared_at", time.time()),
            ("worker", _worker_name()),
        ):
            out[key].append(value)
    return out


def _round_trip(exc: Exception) -> Exception | None:
    """``exc`` as another process will see it, or None when its class does not pickle."""
    try:
        back = pickle.loads(pickle.dumps(exc))
    except Exception:
        return None
    return back if isinstance(back, Exception) else None


def _reason(reasoner: VideoReasoner) -> Callable[[PreparedItem], Awaitable[Any]]:
    from vt_agent.pipeline import reason_with

    return reason_with(reasoner)


class EngineStage:
    """The engine stage (a Ray actor): one backend, loaded once, running ``task`` on prepared items."""

    def __init__(self, spec: EngineSpec, task: Task | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="vt-batch-engine", daemon=True).start()
        self.reasoner = spec.reasoner()
        self.generate = (task or _reason)(self.reasoner)
        self.name = _worker_name()
        asyncio.run_coroutine_threadsafe(self.reasoner.load(), self.loop).result()

    async def _run(self, prepared: PreparedItem) -> Any:
        return await self.generate(prepared)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[bytes]]:
        out: list[bytes] = []
        columns = ("item", "prepared", "error", "exception", "prepare_s", "prepared_at", "worker")
        for blob, prepared, error, exception, prepare_s, prepared_at, worker in zip(
            *(batch[c] for c in columns), strict=True
        ):
            done = Done(pickle.loads(blob), prepare_s=float(prepare_s), prepared_at=float(prepared_at))
            done.worker, done.engine = str(worker), self.name
            if error:
                done.fail(pickle.loads(exception) if exception else None, "prepare", str(error))
            else:
                done.start = time.time()
                try:
                    ready = pickle.loads(prepared)
                    done.value = asyncio.run_coroutine_threadsafe(self._run(ready), self.loop).result()
                except Exception as exc:
                    done.fail(exc, "generate")
                done.end = time.time()
            out.append(pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL))
        return {"done": out}


def ray_map(items: Sequence[PipelineItem], run: RayOptions, task: Task | None = None) -> Iterator[Done]:
    """Every item through both stages on the connected cluster (:func:`connect`); each
    :class:`Done` as it comes back. ``cpus_per_actor`` None: 1 for a local model (transformers,
    vllm), else 0 (an endpoint or a script takes no CPU of the actor's node)."""
    ray = _ray()
    if not items:
        return
    spec, concurrency, cpus_per_actor = run.spec, run.concurrency, run.cpus_per_actor
    if cpus_per_actor is None:
        cpus_per_actor = 1.0 if spec.backend in ("transformers", "vllm") and spec.factory is None else 0.0
    rows = [{"item": pickle.dumps(it, protocol=pickle.HIGHEST_PROTOCOL)} for it in items]
    ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), MAX_BLOCKS))
    ds = ds.map_batches(
        prepare_rows,
        batch_size=1,
        fn_kwargs={"preset": spec.preset},
        num_cpus=1,
        compute=ray.data.TaskPoolStrategy(size=run.prepare_workers) if run.prepare_workers else None,
    )
    ds = ds.map_batches(
        EngineStage,
        fn_constructor_kwargs={"spec": spec, "task": task},
        batch_size=1,
        num_cpus=cpus_per_actor,
        num_gpus=run.gpus_per_actor or None,
        compute=ray.data.ActorPoolStrategy(
            size=run.actors,
            max_tasks_in_flight_per_actor=max(2, concurrency),
            max_concurrent_calls_per_actor=concurrency,
            enable_true_multi_threading=concurrency > 1,
        ),
    )
    try:
        for row in ds.iter_rows():
            done = pickle.loads(row["done"])
            assert isinstance(done, Done)
            yield done
    except ray.exceptions.RayError as exc:  # an actor that could not start, a node lost, ...
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise BackendUnavailableError(
            f"the Ray pipeline failed: {lines[-1] if lines else type(exc).__name__} "
            f"({type(exc).__name__}; the workers' logs are under /tmp/ray/session_latest/logs on each node). "
            "The rows written so far are kept: run the same command again to go on"
        ) from exc


async def aray_map(
    items: Sequence[PipelineItem], run: RayOptions, task: Task | None = None
) -> AsyncIterator[Done]:
    """:func:`ray_map` for a coroutine: the blocking iteration runs in a thread, rows come through a queue."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Done | BaseException | None] = asyncio.Queue()
    stop = threading.Event()

    def pump() -> None:
        try:
            for done in ray_map(items, run, task):
                loop.call_soon_threadsafe(queue.put_nowait, done)
                if stop.is_set():
                    return
        except BaseException as exc:
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    thread = asyncio.ensure_future(asyncio.to_thread(pump))
    try:
        while (got := await queue.get()) is not None:
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
        await asyncio.wait({thread})
