"""Job handles: calls that outlive one tool call.

Every ``video_reason`` call runs as a :class:`Job` in the server's task group. The call waits for
it up to ``wait_s`` seconds, forwarding its progress. If the job is not done by then the call
returns its ``job_id`` and the job goes on; a later call with that ``job_id`` waits again and
returns the result (or the error) once it is there. Cancelling the call that started a job
cancels the job, unless the job's handle was already handed out. Finished jobs are kept for
``ttl_s`` seconds; at most ``max_jobs`` jobs exist at once.

A job belongs to the caller that started it (``owner``: the MCP session and the credential, see
:func:`mcp_server.tool.caller_identity`); :meth:`JobStore.get` answers None for another owner,
exactly as for an unknown id.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import anyio
import anyio.abc

from vt_agent.errors import JobsFullError

__all__ = ["Job", "JobStore", "JobsFullError", "Update"]

T = TypeVar("T")
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


@dataclass(frozen=True)
class Update:
    """One progress step: ``progress`` out of 100, with a message."""

    progress: float
    message: str


@dataclass
class Job(Generic[T]):
    """One unit of work and what it produced."""

    id: str
    owner: str = ""
    key: Hashable = None
    """What was asked (videos, question, options, preset...): a repeated call waits on this job."""
    created: float = field(default_factory=time.monotonic)
    status: JobStatus = "queued"
    result: T | None = None
    error: BaseException | None = None
    finished: float | None = None
    handed_out: bool = False
    updates: list[Update] = field(default_factory=list)
    _done: anyio.Event = field(default_factory=anyio.Event)
    _changed: anyio.Event = field(default_factory=anyio.Event)
    _scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def elapsed_s(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return end - self.created

    @property
    def last_message(self) -> str:
        return self.updates[-1].message if self.updates else self.status

    def report(self, progress: float, message: str) -> None:
        """Record a progress step (progress never goes backwards)."""
        last = self.updates[-1].progress if self.updates else 0.0
        self.updates.append(Update(max(last, min(100.0, progress)), message))
        self._changed.set()
        self._changed = anyio.Event()

    def cancel(self) -> None:
        self._scope.cancel()

    async def wait(
        self,
        timeout_s: float,
        on_update: Callable[[Update], Awaitable[None]] | None = None,
        *,
        from_latest: bool = False,
    ) -> bool:
        """Wait up to ``timeout_s`` for the job to finish, calling ``on_update`` for each new step.

        ``from_latest``: start from the last step reported (a poll), not from the first: a poll
        shows where the job is, it does not replay its progress from 0 %. Returns True when done.
        """
        seen = max(0, len(self.updates) - 1) if from_latest else 0
        deadline = time.monotonic() + timeout_s
        while True:
            if on_update is not None:
                while seen < len(self.updates):
                    await on_update(self.updates[seen])
                    seen += 1
            if self.done:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            changed = self._changed
            with anyio.move_on_after(remaining):
                async with anyio.create_task_group() as tg:

                    async def until(event: anyio.Event) -> None:
                        await event.wait()
                        tg.cancel_scope.cancel()

                    tg.start_soon(until, changed)
                    tg.start_soon(until, self._done)


class JobStore(Generic[T]):
    """Runs jobs in ``task_group``; keeps them until picked up or expired."""

    def __init__(self, task_group: anyio.abc.TaskGroup, *, ttl_s: float = 900.0, max_jobs: int = 32) -> None:
        self._tg = task_group
        self.ttl_s = ttl_s
        self.max_jobs = max_jobs
        self._jobs: dict[str, Job[T]] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    def purge(self) -> None:
        """Forget finished jobs older than the TTL; cancel running ones whose handle expired."""
        now = time.monotonic()
        for job_id, job in list(self._jobs.items()):
            if job.finished is not None and now - job.finished > self.ttl_s:
                del self._jobs[job_id]
            elif job.finished is None and now - job.created > self.ttl_s + 3600:
                job.cancel()

    def start(self, work: Callable[[Job[T]], Awaitable[T]], owner: str = "", key: Hashable = None) -> Job[T]:
        """Start ``work(job)`` in the background and return its job, owned by ``owner``."""
        self.purge()
        if len(self._jobs) >= self.max_jobs:
            raise JobsFullError(f"{len(self._jobs)} jobs are already queued or running")
        job: Job[T] = Job(id=secrets.token_hex(8), owner=owner, key=key)
        self._jobs[job.id] = job

        async def run() -> None:
            with job._scope:
                try:
                    job.result = await work(job)
                    job.status = "done"
                except anyio.get_cancelled_exc_class():
                    job.status = "cancelled"
                    raise
                except BaseException as exc:  # the error is the job's result
                    job.error = exc
                    job.status = "failed"
                finally:
                    job.finished = time.monotonic()
                    job._done.set()
                    job._changed.set()
            if job._scope.cancelled_caught and job.status not in ("done", "failed"):
                job.status = "cancelled"

        self._tg.start_soon(run)
        return job

    def get(self, job_id: str, owner: str = "") -> Job[T] | None:
        """The job ``job_id`` when ``owner`` started it; None otherwise (as for an unknown id)."""
        self.purge()
        job = self._jobs.get(job_id)
        if job is None or not secrets.compare_digest(job.owner, owner):
            return None
        return job

    def find(self, key: Hashable, owner: str = "") -> Job[T] | None:
        """The newest job of ``owner`` asked with ``key`` and not yet collected (running, or done)."""
        self.purge()
        if key is None:
            return None
        for job in reversed(list(self._jobs.values())):
            stopped = job.status == "cancelled" or job._scope.cancel_called
            if job.key == key and not stopped and secrets.compare_digest(job.owner, owner):
                return job
        return None

    def forget(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)

    def running(self) -> int:
        return sum(1 for j in self._jobs.values() if not j.done)


def retry_after_s(job: Job[Any]) -> int:
    """A polling hint in whole seconds."""
    return max(1, math.ceil(min(30.0, max(2.0, job.elapsed_s / 4))))
