"""The harness of `composer bench tui`: the real editor in a pseudo-terminal, driven
by keys as a user drives it. Timings are the benchmark's business; this checks the
harness itself (the song it scrolls, the frames it sees, a clean quit)."""

from __future__ import annotations

from pathlib import Path

from composer.services.tui_bench import (
    KEYS,
    Terminal,
    _editor_argv,
    _editor_env,
    _open_project,
    bench_song,
)


def test_the_big_song_has_exactly_the_notes_asked_for():
    song = bench_song(5000)
    assert song.note_count == 5000
    for track in song.tracks:
        starts = [n.start_tick for n in track.notes]
        assert starts == sorted(starts)


def test_the_editor_runs_in_the_pseudo_terminal_answers_keys_and_quits(tmp_path: Path):
    song = bench_song(600)
    state = _open_project(song, tmp_path)
    with Terminal(_editor_argv(), _editor_env(state, preload=False), 100, 30) as terminal:
        assert terminal.wait_for(b"stopped", 120) is not None
        assert terminal.synchronized  # it asked for synchronized output, and was answered
        assert terminal.frame_ms(KEYS["right"]) is not None  # one frame per key
        assert terminal.frame_ms(KEYS["ctrl+right"]) is not None
        assert terminal.rss_mb() > 0
    assert terminal.process.returncode == 0  # Ctrl+Q, nothing unsaved: no question
