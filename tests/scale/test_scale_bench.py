"""`composer bench corpus` and `composer bench train` on small runs: they measure
what they say (no figure is asserted against a speed; benches report, tests check)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from composer.errors import ComposerError
from composer.services.corpus_bench import make_library
from composer.services.train_bench import bench_train

COMPOSER = Path(sys.executable).parent / "composer"


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, COMPOSER_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run([str(COMPOSER), *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600, check=False)


def test_generated_library_has_the_mix_it_reports(tmp_path):
    made = make_library(tmp_path / "lib", 100, synthetic_only=True)
    files = sorted((tmp_path / "lib").rglob("*.mid"))
    assert len(files) == 100 == sum(made["counts"].values())
    assert made["sources"] == {"pop": "synthetic", "classical": "synthetic", "folk": "synthetic"}
    assert len(list((tmp_path / "lib" / "pop").rglob("*.mid"))) == 40


def test_bench_corpus_cli_reports_rates_memory_and_a_stable_split(tmp_path):
    result = run("bench", "corpus", "--files", "80", "--synthetic", "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["library"]["files"] == 80
    build = report["build"]
    assert sum(build["pieces"].values()) + build["skipped"] + build["duplicates"] == 80
    assert build["files_per_s"] > 0 and build["peak_pss_mb"] > 0 and build["cpu_seconds"] > 0
    assert report["reference"]["symusic_read_1_process"]["files"] == 80
    assert report["reference"]["build_vs_symusic_read"] > 0
    assert report["resume"]["tokenized_after_adding"] == report["resume"]["added_files"] == 4
    assert report["resume"]["pieces_that_changed_split"] == 0
    assert isinstance(report["meets_target"], bool) and report["target_files_per_s"] == 500
    assert not list(Path("/tmp").glob("composer-bench-corpus-*/library"))  # cleaned up


def test_bench_train_times_one_and_two_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPOSER_CACHE_DIR", str(tmp_path / "cache"))  # as on a clean clone
    report = bench_train(steps=20, warmup=10, batch_size=4, size="tiny")
    assert report["data"] == "generated tunes"
    one, two = report["one_process"], report["two_processes"]
    assert (one["processes"], two["processes"]) == (1, 2)
    assert one["threads_per_process"] == two["threads_per_process"] == 1
    # Same global batch: the same number of tokens per step, give or take packing.
    assert abs(one["tokens_per_step"] - two["tokens_per_step"]) < 0.1 * one["tokens_per_step"]
    assert one["tokens_per_s"] > 0 and two["tokens_per_s"] > 0
    assert report["ratio"] == pytest.approx(two["tokens_per_s"] / one["tokens_per_s"], rel=1e-2)
    assert report["timed_steps"] == 10
    assert report["cpu_bound_ratio"] > 0 and one["rank0_cpu_seconds_per_step"] > 0


def test_bench_train_refuses_settings_it_cannot_time():
    with pytest.raises(ComposerError, match="multiple of 10"):
        bench_train(steps=25)
    with pytest.raises(ComposerError, match="even"):
        bench_train(batch_size=3)
