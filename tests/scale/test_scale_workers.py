"""The worker pool: a hang or a crash costs one item, never the run."""

from __future__ import annotations

import os
import signal
import time

from corpora.workers import MemorySampler, WorkerPool


def troublesome(item: str) -> str:
    if item == "hang":
        while True:  # spins: CPU time runs out
            pass
    if item == "blocked":
        time.sleep(600)  # uses no CPU: the wall-clock limit catches it
    if item == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if item == "exit":
        os._exit(3)
    if item == "raise":
        raise ValueError("bad item")
    if item == "huge":
        return "x" * (1 << 40)  # past the memory limit
    return item.upper()


def test_each_failure_is_charged_to_its_own_item():
    items = [f"ok{i}" for i in range(30)]
    for index, bad in zip((3, 9, 14, 20, 26), ("hang", "segfault", "exit", "raise", "huge"),
                          strict=True):
        items.insert(index, bad)
    pool = WorkerPool(troublesome, workers=2, time_limit=0.5, memory_limit_mb=512, batch=4,
                      wall_limit=120)
    started = time.monotonic()
    outcomes = dict(pool.run(items))
    assert time.monotonic() - started < 60
    assert set(outcomes) == set(items)
    for i in range(30):
        assert outcomes[f"ok{i}"].status == "ok" and outcomes[f"ok{i}"].value == f"OK{i}"
    assert outcomes["hang"].status == "timeout"
    assert outcomes["hang"].detail == "took longer than 0.5 s of CPU time"
    assert outcomes["segfault"].status == "died" and "SIGSEGV" in outcomes["segfault"].detail
    assert outcomes["exit"].status == "died" and "exit code 3" in outcomes["exit"].detail
    assert outcomes["raise"].status == "raised" and outcomes["raise"].detail == \
        "ValueError: bad item"
    assert outcomes["huge"].status == "raised" and "MemoryError" in outcomes["huge"].detail
    assert pool.restarts == 3
    assert pool.workers == []  # every process is gone after the run


def test_a_worker_blocked_without_using_cpu_is_stopped_by_the_clock():
    pool = WorkerPool(troublesome, workers=1, time_limit=0.2, wall_limit=2.0)
    outcomes = dict(pool.run(["ok1", "blocked", "ok2"]))
    assert outcomes["blocked"].status == "timeout"
    assert outcomes["blocked"].detail == "gave no answer within 2 s"
    assert outcomes["ok2"].value == "OK2"


def test_stopping_early_leaves_no_process_behind():
    pool = WorkerPool(troublesome, workers=2, time_limit=5.0)
    done = []
    for item, _outcome in pool.run([f"ok{i}" for i in range(200)],
                                  should_stop=lambda: len(done) >= 5):
        done.append(item)
    assert 5 <= len(done) < 200
    assert pool.workers == []


def test_memory_sampler_counts_the_workers():
    with MemorySampler() as memory:
        outcomes = list(WorkerPool(troublesome, workers=2).run([f"ok{i}" for i in range(50)]))
    assert len(outcomes) == 50
    own = memory.peak_rss_kb
    assert own > 0 and memory.peak_pss_kb > 0
