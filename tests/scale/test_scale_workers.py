"""The worker pool: a hang or a crash costs one item, never the run."""

from __future__ import annotations

import os
import signal
import time

from corpora.workers import MemorySampler, WorkerPool


def troublesome(item: str) -> str:
    if item == "hang":
        time.sleep(60)
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
    pool = WorkerPool(troublesome, workers=2, time_limit=1.0, memory_limit_mb=512, batch=4)
    started = time.monotonic()
    outcomes = dict(pool.run(items))
    assert time.monotonic() - started < 30
    assert set(outcomes) == set(items)
    for i in range(30):
        assert outcomes[f"ok{i}"].status == "ok" and outcomes[f"ok{i}"].value == f"OK{i}"
    assert outcomes["hang"].status == "timeout" and "longer than 1 s" in outcomes["hang"].detail
    assert outcomes["segfault"].status == "died" and "SIGSEGV" in outcomes["segfault"].detail
    assert outcomes["exit"].status == "died" and "exit code 3" in outcomes["exit"].detail
    assert outcomes["raise"].status == "raised" and outcomes["raise"].detail == \
        "ValueError: bad item"
    assert outcomes["huge"].status == "raised" and "MemoryError" in outcomes["huge"].detail
    assert pool.restarts == 3
    assert pool.workers == []  # every process is gone after the run


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
