"""Run a function over many small items in worker processes, one bad item at a time.

Used where the items come from strangers (a user's MIDI folder, fuzzed files):
an item that makes the function hang or kill its process (a crash in C++
code, the memory limit) costs only that item. The worker is replaced and the
other items it held are handed out again.

A hang is an item that uses more than ``time_limit`` seconds of CPU, or gets
no answer within ``wall_limit`` seconds (blocked): CPU time, so that a worker
starved by other work on a busy machine is not taken for a hung one.

Each worker announces the item it is working on in a shared slot (its index,
start time and CPU time so far), which is how the parent knows whom to blame.
Items are sent in small batches, two batches ahead, so the pipes never fill.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

Status = Literal["ok", "raised", "timeout", "died"]


@dataclass(frozen=True)
class Outcome:
    """What became of one item: its value, or how it failed (a one-line detail)."""

    status: Status
    value: Any = None
    detail: str = ""


def _limit_memory(limit_bytes: int | None) -> None:
    if not limit_bytes:
        return
    import resource

    # Address space now (libraries already mapped) plus the allowance.
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[0])
    ceiling = pages * os.sysconf("SC_PAGE_SIZE") + limit_bytes
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this worker when the parent dies (even by SIGKILL), so no orphan
    keeps working or keeps a lock the parent held open."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def _worker_main(conn, slot, function: Callable[[Any], Any], memory_limit: int | None,
                 initializer: Callable[[], None] | None, parent: int, inherited: list) -> None:
    import faulthandler

    _die_with_parent(parent)
    for other in inherited:  # the parent's ends of this and older workers' pipes
        with contextlib.suppress(OSError):
            other.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    faulthandler.disable()  # a crash is reported as the item's outcome, not dumped on stderr
    if initializer is not None:
        initializer()
    _limit_memory(memory_limit)
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        for index, item in batch:
            slot[0], slot[2], slot[1] = float(index), time.process_time(), time.monotonic()
            try:
                outcome = Outcome("ok", function(item))
            except MemoryError:
                outcome = Outcome("raised", None, "MemoryError: the memory limit was reached")
            except Exception as err:  # the parent decides whether this counts as a crash
                outcome = Outcome("raised", None, f"{type(err).__name__}: {err}"[:300])
            slot[1] = 0.0
            try:
                conn.send((index, outcome))
            except (OSError, EOFError):
                return
            except Exception as err:  # a value that cannot be pickled
                conn.send((index, Outcome("raised", None, f"unpicklable result: {err}"[:300])))


class _Worker:
    def __init__(self, ctx, function, memory_limit: int | None, initializer,
                 siblings: list[_Worker]) -> None:
        # Item index, start time (0: between items), the worker's CPU seconds at the start.
        self.slot = ctx.RawArray("d", 3)
        self.conn, child = ctx.Pipe()
        inherited = [self.conn, *(w.conn for w in siblings)]
        self.process = ctx.Process(target=_worker_main, args=(child, self.slot, function,
                                                              memory_limit, initializer,
                                                              os.getpid(), inherited),
                                   daemon=True)
        self.process.start()
        child.close()
        self.assigned: collections.deque[tuple[int, Any]] = collections.deque()

    def stop(self, kill: bool = False) -> None:
        if kill and self.process.is_alive():
            self.process.kill()
        else:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


def death_detail(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"the reader crashed ({signal.Signals(-exitcode).name})"
    return f"the reader's process ended unexpectedly (exit code {exitcode})"


class WorkerPool:
    """``function`` over items in ``workers`` processes with a per-item time limit.

    Items should be small (paths, short byte strings); results may be large.
    ``run`` yields ``(item, Outcome)`` in completion order. The pool uses the
    fork start method so workers inherit the parent's imported modules;
    ``initializer`` runs once in each worker before its first item (outside
    the time limit), and the memory limit applies after it.
    """

    def __init__(self, function: Callable[[Any], Any], workers: int = 2,
                 time_limit: float = 30.0, memory_limit_mb: int | None = 2048,
                 batch: int = 8, initializer: Callable[[], None] | None = None,
                 wall_limit: float | None = None) -> None:
        import multiprocessing

        self.function = function
        self.count = max(1, workers)
        self.time_limit = time_limit
        self.wall_limit = wall_limit if wall_limit is not None else max(10 * time_limit, 120.0)
        self.memory_limit = memory_limit_mb * 1024 * 1024 if memory_limit_mb else None
        self.batch = max(1, batch)
        self.initializer = initializer
        self.ctx = multiprocessing.get_context("fork")
        self.workers: list[_Worker] = []
        self.restarts = 0
        self._lock = threading.Lock()

    def pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self.workers if w.process.pid is not None]

    def _start(self) -> _Worker:
        return _Worker(self.ctx, self.function, self.memory_limit, self.initializer,
                       self.workers)

    def _replace(self, worker: _Worker) -> None:
        with self._lock:
            index = self.workers.index(worker)
            self.workers[index] = self._start()
        self.restarts += 1

    def run(self, items: Iterable[Any], should_stop: Callable[[], bool] | None = None
            ) -> Iterator[tuple[Any, Outcome]]:
        """Process every item; stops early (without raising) when ``should_stop()``."""
        from multiprocessing.connection import wait

        pending: collections.deque[tuple[int, Any]] = collections.deque(enumerate(items))
        with self._lock:
            self.workers = []
            for _ in range(min(self.count, max(1, len(pending)))):
                self.workers.append(self._start())
        try:
            while True:
                if should_stop is not None and should_stop():
                    return
                for worker in self.workers:
                    while pending and len(worker.assigned) < 2 * self.batch:
                        batch = [pending.popleft() for _ in range(min(self.batch, len(pending)))]
                        worker.assigned.extend(batch)
                        worker.conn.send(batch)
                busy = [w for w in self.workers if w.assigned]
                if not busy:
                    return
                ready = wait([w.conn for w in busy], timeout=0.05)
                for worker in busy:
                    if worker.conn in ready:
                        yield from self._receive(worker, pending)
                yield from self._watch(pending)
        finally:
            self.close()

    def _receive(self, worker: _Worker, pending) -> Iterator[tuple[Any, Outcome]]:
        try:
            while worker.conn.poll():
                index, outcome = worker.conn.recv()
                yield self._settle(worker, index), outcome
        except (EOFError, OSError):
            yield from self._lost(worker, pending, death_detail(self._exitcode(worker)), "died")

    @staticmethod
    def _settle(worker: _Worker, index: int) -> Any:
        # Results come back in the order the items were sent.
        done_index, item = worker.assigned.popleft()
        if done_index != index:
            raise RuntimeError(f"a worker returned item {index} before item {done_index}")
        return item

    @staticmethod
    def _exitcode(worker: _Worker) -> int | None:
        worker.process.join(timeout=1)
        return worker.process.exitcode

    def _hung(self, worker: _Worker, now: float) -> str | None:
        """Why the worker counts as hung on its item, or None."""
        started = worker.slot[1]
        if not (worker.assigned and started and now - started > self.time_limit):
            return None
        if now - started > self.wall_limit:
            return f"gave no answer within {self.wall_limit:g} s"
        cpu = _cpu_seconds(worker.process.pid)
        if cpu is not None and cpu - worker.slot[2] > self.time_limit:
            return f"took longer than {self.time_limit:g} s of CPU time"
        return None

    def _watch(self, pending) -> Iterator[tuple[Any, Outcome]]:
        now = time.monotonic()
        for worker in list(self.workers):
            hung = self._hung(worker, now)
            if hung:
                # Collect what it finished before it stalled, then stop it.
                with contextlib.suppress(EOFError, OSError):
                    while worker.conn.poll():
                        index, outcome = worker.conn.recv()
                        yield self._settle(worker, index), outcome
                worker.process.kill()
                yield from self._lost(worker, pending, hung, "timeout")
            elif worker.assigned and not worker.process.is_alive():
                yield from self._receive(worker, pending)
                if worker in self.workers and worker.assigned and not worker.process.is_alive():
                    yield from self._lost(worker, pending, death_detail(self._exitcode(worker)),
                                          "died")

    def _lost(self, worker: _Worker, pending, detail: str, status: Status
              ) -> Iterator[tuple[Any, Outcome]]:
        """The worker is gone: blame the item it was on, hand the rest out again."""
        leftovers = list(worker.assigned)
        # Between items (it died sending a result): blame the oldest item it
        # held, so a worker that keeps dying cannot keep the pool going round.
        busy_with = int(worker.slot[0]) if worker.slot[1] else (
            leftovers[0][0] if leftovers else None)
        worker.assigned.clear()
        worker.stop(kill=True)
        self._replace(worker)
        for index, item in reversed(leftovers):
            if index != busy_with:
                pending.appendleft((index, item))
        for index, item in leftovers:
            if index == busy_with:
                log.info("item %r: %s", item, detail)
                yield item, Outcome(status, None, detail)

    def close(self) -> None:
        with self._lock:
            workers, self.workers = self.workers, []
        for worker in workers:
            worker.stop(kill=bool(worker.assigned))


# ------------------------------------------------------------------ memory


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process, from /proc (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_kb(pid: int, path: str, field: str) -> int:
    try:
        with open(f"/proc/{pid}/{path}") as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def child_pids(pid: int | None = None) -> list[int]:
    """The direct children of a process (this one by default), from /proc."""
    pid = pid or os.getpid()
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as handle:
                children.extend(int(p) for p in handle.read().split())
    except OSError:
        pass
    return children


class MemorySampler:
    """Peak memory of this process plus a changing set of worker processes.

    Samples every ``interval`` seconds in a thread: the summed RSS (shared
    pages counted in every process) and, every ``pss_every`` samples, the
    summed PSS (shared pages split among the processes that share them, so the
    total is what the job uses). PSS costs the kernel a walk of every page
    table (milliseconds for a large process), so it is read less often.
    """

    def __init__(self, pids: Callable[[], list[int]] = child_pids, interval: float = 0.05,
                 pss_every: int = 20) -> None:
        self.pids = pids
        self.interval = interval
        self.pss_every = pss_every
        self._count = 0
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="memory-sampler")

    def sample(self, pss: bool | None = None) -> None:
        processes = [os.getpid(), *self.pids()]
        rss = sum(_proc_kb(pid, "status", "VmRSS:") for pid in processes)
        self.peak_rss_kb = max(self.peak_rss_kb, rss)
        if pss or (pss is None and self._count % self.pss_every == 0):
            total = sum(_proc_kb(pid, "smaps_rollup", "Pss:") for pid in processes)
            self.peak_pss_kb = max(self.peak_pss_kb, total)
        self._count += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample(pss=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample(pss=True)
