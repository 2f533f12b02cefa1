"""Crash safety: a process killed mid-write, and a full disk.

Every file composer writes goes through composer.io.atomic (temp file, fsync,
rename): a SIGKILL in the middle of writing a large file leaves the old file
whole; a full disk gives one clear line and no corrupt file. The full disk is
a real 1 MB tmpfs where this machine lets us mount one (root here), else an
ENOSPC injected into the write (CI containers may forbid mounting).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from composer.cli import main
from composer.core.song import Note, Song, Track
from composer.errors import OutputFileError
from composer.io.atomic import atomic_open, atomic_write_bytes
from composer.io.midi_file import read_midi, write_midi
from composer.io.project_file import Project, read_project, write_project

ROOT = Path(__file__).resolve().parents[2]


def start(script: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the child never got there"
        time.sleep(0.02)


def song(notes: int, pitch: int = 60) -> Song:
    return Song(tracks=(Track("Lead", tuple(Note(pitch=pitch + i % 12, start_tick=240 * i,
                                                 duration_ticks=240) for i in range(notes))),))


# ------------------------------------------------------------------ SIGKILL


def test_kill_in_the_middle_of_a_large_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "big.bin"
    old = os.urandom(1 << 20)
    target.write_bytes(old)
    marker = tmp_path / "half-written"
    child = start("""
        import sys, time
        from pathlib import Path
        from composer.io.atomic import atomic_open
        target, marker = Path(sys.argv[1]), Path(sys.argv[2])
        with atomic_open(target) as handle:
            for i in range(64):  # 64 MB of the new file ...
                handle.write(bytes([i % 251]) * (1 << 20))
            handle.flush()
            marker.touch()
            time.sleep(600)  # ... and the rest never comes
    """, str(target), str(marker))
    wait_for(marker.exists)
    temps = list(tmp_path.glob(".big.bin.*.tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size >= 64 << 20  # it was mid-write
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == old


def test_projects_saved_in_a_loop_and_killed_are_always_whole(tmp_path):
    """The editor's save/autosave path, killed at three different moments."""
    path = tmp_path / "song.composer"
    write_project(Project(song(10)), path)
    script = """
        import sys
        from pathlib import Path
        from composer.core.song import Note, Song, Track
        from composer.io.project_file import Project, write_project
        path, marker = Path(sys.argv[1]), Path(sys.argv[2])
        versions = [Song(tracks=(Track("Lead", tuple(Note(pitch=40 + k, start_tick=240 * i,
                     duration_ticks=240) for i in range(5_000 + 1000 * k))),)) for k in range(3)]
        for round_ in range(10_000):
            write_project(Project(versions[round_ % 3], {"round": round_}), path)
            marker.touch()
    """
    for delay in (0.0, 0.07, 0.31):
        marker = tmp_path / f"saved-{delay}"
        child = start(script, str(path), str(marker))
        wait_for(marker.exists)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        project = read_project(path)  # whole, valid JSON, passes the schema
        count = len(project.song.tracks[0].notes)
        assert count == 10 or (count - 5_000) % 1000 == 0 and count <= 7_000


def test_corpus_build_killed_mid_way_resumes_to_the_same_corpus(tmp_path):
    from corpora import midi_folder
    from tests.scale.test_scale_corpus import folder_of_tunes, pieces

    folder = folder_of_tunes(tmp_path / "library", 200)
    corpus = tmp_path / "corpus"
    child = start("""
        import sys
        from pathlib import Path
        from corpora import midi_folder
        midi_folder.build(Path(sys.argv[1]), name="mine", workers=1, directory=Path(sys.argv[2]))
    """, str(folder), str(corpus))
    journal = corpus / "journal.jsonl"
    wait_for(lambda: journal.exists() and journal.read_text().count("\n") > 40)
    child.send_signal(signal.SIGKILL)  # the parent: its worker dies with it, the lock is freed
    child.wait(timeout=30)
    done = journal.read_text().count("\n") - 1
    assert 40 <= done < 200 and not (corpus / "report.json").exists()
    manifest = midi_folder.build(folder, name="mine", workers=2, directory=corpus)
    assert manifest["resumed"] >= 40 and manifest["tokenized"] == 200 - manifest["resumed"]
    fresh = midi_folder.build(folder, name="fresh", workers=2, directory=tmp_path / "fresh")
    assert pieces(corpus) == pieces(tmp_path / "fresh")
    assert manifest["counts"] == fresh["counts"]


# ---------------------------------------------------------------- full disk


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A folder on a 1 MB tmpfs, or (where mounting is not allowed) a folder whose
    writes fail with ENOSPC once ``fill()`` is called."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = "COMPOSER_TEST_INJECT_ENOSPC" not in os.environ and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True, check=False).returncode == 0

    def fill() -> None:
        if mounted:
            # Leave about 40 KB: small files still fit, anything real does not.
            free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
            (folder / "filler").write_bytes(b"\0" * max(0, free - 40_000))
            return
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            if str(folder) in os.readlink(f"/proc/self/fd/{fd}"):
                raise OSError(errno.ENOSPC, "No space left on device")
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)

    small_disk_info = {"folder": folder, "fill": fill, "real": mounted}
    yield small_disk_info
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_full_disk_keeps_old_files_and_says_so(small_disk, tmp_path):
    folder = small_disk["folder"]
    blob = folder / "data.bin"
    atomic_write_bytes(blob, b"old contents")
    tune = folder / "tune.mid"
    write_midi(song(50), tune)
    project = folder / "song.composer"
    write_project(Project(song(50)), project)
    small_disk["fill"]()

    with pytest.raises(OutputFileError, match="disk is full; nothing was changed"):
        atomic_write_bytes(blob, os.urandom(200_000))
    assert blob.read_bytes() == b"old contents"
    with pytest.raises(OutputFileError, match="disk is full"):
        write_midi(song(8_000), tune)
    assert len(read_midi(tune).tracks[0].notes) == 50
    with pytest.raises(OutputFileError, match="disk is full"):
        write_project(Project(song(8_000)), project)
    assert len(read_project(project).song.tracks[0].notes) == 50
    with pytest.raises(OutputFileError, match="disk is full"), atomic_open(folder / "w.npy") as h:
        np.save(h, np.zeros(100_000))
    assert not (folder / "w.npy").exists()
    assert leftovers(folder) == []


def test_full_disk_in_the_cli_is_one_line_and_exit_2(small_disk, tmp_path, capsys):
    source = tmp_path / "source.mid"
    write_midi(song(8_000), source)
    out = small_disk["folder"] / "out.mid"
    write_midi(song(50), out)
    small_disk["fill"]()
    assert main(["export", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "disk is full" in err and "Traceback" not in err
    assert len(read_midi(out).tracks[0].notes) == 50


def test_full_disk_during_a_checkpoint_save_keeps_the_old_checkpoint(small_disk):
    import torch

    from composer.io.tokens import build_tokenizer
    from composer.ml.checkpoint import build_model, load_checkpoint, save_checkpoint

    folder = small_disk["folder"] / "model"
    tiny = {"arch": "lstm", "vocab_size": 300, "block_size": 16, "n_layer": 1, "n_embd": 8,
            "lstm_hidden": 8, "dropout": 0.0}
    torch.manual_seed(0)
    save_checkpoint(folder, build_model(tiny), {"task": "melody"}, build_tokenizer())
    before = (folder / "model.pt").read_bytes()
    small_disk["fill"]()
    big = {**tiny, "n_embd": 64, "lstm_hidden": 256}
    with pytest.raises(OutputFileError, match="disk is full"):
        save_checkpoint(folder, build_model(big), {"task": "melody"}, build_tokenizer())
    assert (folder / "model.pt").read_bytes() == before
    loaded = load_checkpoint(folder)  # still verifies against its card's SHA-256
    assert loaded is not None
    assert leftovers(folder) == []


def test_full_disk_during_a_corpus_build_is_a_clear_error(small_disk, tmp_path, capsys,
                                                          monkeypatch):
    from tests.scale.test_scale_corpus import folder_of_tunes

    folder = folder_of_tunes(tmp_path / "library", 300)
    monkeypatch.setenv("COMPOSER_CACHE_DIR", str(small_disk["folder"] / "cache"))
    small_disk["fill"]()
    code = main(["corpus", "build", "--source", str(folder), "--name", "mine", "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "disk is full" in err and "Traceback" not in err
    report = small_disk["folder"] / "cache" / "corpus" / "mine" / "report.json"
    assert not report.exists()


def test_small_disk_fixture_reports_which_kind_it_is(small_disk):
    # Not a skip: both kinds run every assertion above; this records which one ran.
    print(json.dumps({"real_tmpfs": small_disk["real"]}))
