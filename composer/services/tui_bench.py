"""``composer bench tui``: the editor measured as a person meets it, in a terminal.

The real ``composer`` runs in a pseudo-terminal of 120x40, exactly as a terminal
emulator would run it (this process plays the emulator: it reads the output and
answers the synchronized-output query, so every frame arrives between
``ESC[?2026h`` and ``ESC[?2026l``). Three figures, each beside a reference from
the same run:

* ``first_frame_s``: launch to the first frame of the editor on the demo tune,
  against a bare Textual app showing one word (the floor of Python + Textual);
* ``scroll_ms_median``: a cursor key or a mouse-wheel scroll on a 5,000-note
  song until its frame has been written, against the same keys on the demo
  tune (248 notes): a ratio near 1 says the cost does not grow with the song;
* ``rss_mb``: resident memory of the editor with its models loaded, then the
  change over scripted editing (insert, transpose, lengthen, move, copy, paste,
  undo, zoom, scroll), and what one kept edit costs the unlimited undo history.

Nothing here imports the editor: it is a separate process, as it is for a user.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from composer.core.song import Song
from composer.errors import ComposerError
from composer.services.jobs import Progress, check_cancel, no_progress

COLUMNS, ROWS = 120, 40
SYNC_END = b"\x1b[?2026l"
_SYNC_QUERY = b"\x1b[?2026$p"
_SYNC_REPLY = b"\x1b[?2026;2$y"
FIRST_FRAME_TARGET_S = 1.5
START_TIMEOUT_S = 300
"""Generous: on a machine shared with training jobs a start can take many seconds."""
SCROLL_TARGET_MS = 30.0

_BARE_APP = """
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("stopped")
Bare().run()
"""

KEYS = {
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "ctrl+right": b"\x1b[1;5C",
    "ctrl+left": b"\x1b[1;5D",
    "alt+right": b"\x1b[1;3C",
    "pagedown": b"\x1b[6~",
    "pageup": b"\x1b[5~",
    "home": b"\x1b[H",
    "enter": b"\r",
    "ctrl+z": b"\x1a",
    "ctrl+c": b"\x03",
    "ctrl+v": b"\x16",
    "ctrl+q": b"\x11",
}


def _wheel(button: int, column: int = 60, row: int = 20) -> bytes:
    """An SGR mouse report: 64/65 wheel up/down, +4 with Shift (sideways in Textual)."""
    return f"\x1b[<{button};{column};{row}M".encode()


WHEEL = {
    "wheel down": _wheel(65),
    "wheel up": _wheel(64),
    "wheel right": _wheel(69),
    "wheel left": _wheel(68),
}


class Terminal:
    """A command in a pseudo-terminal; this object reads its screen output and types keys."""

    def __init__(
        self, argv: list[str], env: dict[str, str], columns: int = COLUMNS, rows: int = ROWS
    ) -> None:
        import fcntl
        import pty
        import struct
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.output = bytearray()
        self.synchronized = False
        self.cpu_ms: list[float] = []
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)

    def pump(self, timeout: float) -> bool:
        """Read what is there (waiting up to ``timeout``); False when nothing came."""
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the program ended and closed the terminal
            return False
        if not chunk:
            return False
        tail = bytes(self.output[-len(_SYNC_QUERY) :])
        self.output += chunk
        if _SYNC_QUERY in tail + chunk and not self.synchronized:
            self.synchronized = True
            os.write(self.master, _SYNC_REPLY)
        return True

    def wait_for(self, needle: bytes, timeout: float, start: int = 0) -> float | None:
        """perf_counter() when ``needle`` has appeared after byte ``start``, or None."""
        deadline = time.perf_counter() + timeout
        while needle not in self.output[start:]:
            if time.perf_counter() > deadline or self.process.poll() is not None:
                return None
            self.pump(min(0.05, deadline - time.perf_counter()))
        return time.perf_counter()

    def settle(self, quiet_s: float = 0.05, limit_s: float = 5.0) -> None:
        """Read until the program has written nothing for ``quiet_s``."""
        deadline = time.perf_counter() + limit_s
        while time.perf_counter() < deadline and self.pump(quiet_s):
            pass

    def frame_ms(self, key: bytes, timeout: float = 3.0) -> float | None:
        """Milliseconds from typing ``key`` until the frame it caused is written.

        The CPU time the editor spent on it is added to ``cpu_ms`` (a figure that,
        unlike wall time, does not grow when other programs share the cores).
        """
        self.settle()
        mark = len(self.output)
        cpu = self.cpu_s()
        sent = time.perf_counter()
        os.write(self.master, key)
        done: float | None = None
        if self.synchronized:
            done = self.wait_for(SYNC_END, timeout, mark)
        else:
            # No synchronized output: the frame ends when the output pauses.
            deadline = sent + timeout
            while time.perf_counter() < deadline:
                if self.pump(0.02):
                    done = time.perf_counter()
                elif done is not None:
                    break
        if done is None:
            return None
        self.cpu_ms.append(1000 * (self.cpu_s() - cpu))
        return 1000 * (done - sent)

    def cpu_s(self) -> float:
        """CPU time the program's threads have used, from the scheduler (nanosecond clock)."""
        total = 0
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def type(self, key: bytes) -> None:
        os.write(self.master, key)
        self.settle()

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise ComposerError("cannot read the editor's memory use")

    def close(self) -> None:
        """Quit as a user does (Ctrl+Q); kill only if it will not go."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                os.write(self.master, KEYS["ctrl+q"])
            deadline = time.monotonic() + 15
            while self.process.poll() is None and time.monotonic() < deadline:
                self.pump(0.1)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        os.close(self.master)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bench_song(notes: int = 5000) -> Song:
    """The demo chorale repeated (each copy after the last) until it holds ``notes`` notes."""
    from composer.core.ops import shift
    from composer.core.timing import BarGrid
    from composer.services.project import demo_song

    demo = demo_song()
    length = BarGrid.of(demo).bar_start_tick(BarGrid.of(demo).bars_to_cover(demo.end_tick))
    copies = -(-notes // demo.note_count)
    tracks = [list(t.notes) for t in demo.tracks]
    for copy in range(1, copies):
        moved = shift(demo, copy * length)
        for i, track in enumerate(moved.tracks):
            tracks[i].extend(track.notes)
    song = demo.with_tracks([t.with_notes(n) for t, n in zip(demo.tracks, tracks, strict=True)])
    # Trim to exactly ``notes``, dropping the latest notes first.
    everything = sorted(
        ((n.start_tick, i, n) for i, t in enumerate(song.tracks) for n in t.notes),
        key=lambda x: (x[0], x[1]),
    )[:notes]
    kept = [[n for _, j, n in everything if j == i] for i in range(len(song.tracks))]
    return replace(
        song,
        title=f"{demo.title} ×{copies}",
        tracks=tuple(t.with_notes(k) for t, k in zip(song.tracks, kept, strict=True)),
    )


def _editor_env(state: Path, preload: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "COMPOSER_STATE_DIR": str(state),
            "TERM": "xterm-256color",
            "COMPOSER_PRELOAD_MODELS": "1" if preload else "0",
            "COLUMNS": str(COLUMNS),
            "LINES": str(ROWS),
        }
    )
    env.pop("TEXTUAL", None)
    return env


def _editor_argv() -> list[str]:
    return [sys.executable, "-m", "composer.cli"]


def _first_frame(argv: list[str], env: dict[str, str], needle: bytes) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the program) from launch to the first frame."""
    with Terminal(argv, env) as terminal:
        done = terminal.wait_for(needle, START_TIMEOUT_S)
        if done is None:
            raise ComposerError(
                f"no first frame within {START_TIMEOUT_S} s from {' '.join(argv[:3])}: "
                f"{bytes(terminal.output[-300:])!r}"
            )
        cpu = terminal.cpu_s()
        seconds = done - terminal.started
        terminal.settle(0.2)
    return seconds, cpu


def _open_project(song: Song, folder: Path) -> Path:
    """A fresh state folder whose last project is ``song``, so `composer` opens it."""
    from composer.services.project import ProjectSession

    state = folder / f"state-{time.monotonic_ns()}"
    state.mkdir(parents=True)
    ProjectSession(song, state_dir=state).save_as(folder / f"{len(song.tracks)}-{song.note_count}")
    return state


def _wait_models(terminal: Terminal, start: int) -> str:
    """Wait for the background model load to report; returns what it said
    ("Models ready (transformer)", or why none loaded)."""
    import re

    pattern = re.compile(rb"Models (?:ready \([^)]*\)|not loaded[^\x1b\r\n]*)")
    deadline = time.perf_counter() + 240
    while True:
        found = pattern.search(bytes(terminal.output[start:]))
        if found is not None:
            return found.group(0).decode(errors="replace").strip()
        if time.perf_counter() > deadline or terminal.process.poll() is not None:
            return "no model report"
        terminal.pump(0.1)


SCROLL_SCRIPT: tuple[tuple[str, str, int], ...] = (
    ("cursor", "right", 40),
    ("cursor", "ctrl+right", 15),
    ("cursor", "down", 12),
    ("cursor", "up", 12),
    ("cursor", "pagedown", 4),
    ("cursor", "pageup", 4),
    ("cursor", "ctrl+left", 8),
    ("cursor", "left", 10),
    ("wheel", "wheel down", 15),
    ("wheel", "wheel up", 15),
    ("wheel", "wheel right", 10),
    ("wheel", "wheel left", 10),
)


def _scroll_latencies(terminal: Terminal) -> dict[str, list[float]]:
    terminal.type(KEYS["home"])
    found: dict[str, list[float]] = {"cursor": [], "wheel": [], "missed": []}
    for kind, key, count in SCROLL_SCRIPT:
        data = KEYS.get(key) or WHEEL[key]
        for _ in range(count):
            ms = terminal.frame_ms(data)
            if ms is None:
                found["missed"].append(0.0)
            else:
                found[kind].append(ms)
    return found


EDIT_ROUND = (
    "ctrl+right",
    "enter",
    "left",
    "plus",
    "bracket",
    "alt+right",
    "ctrl+z",
    "ctrl+z",
    "ctrl+z",
    "ctrl+z",
    "b",
    "ctrl+c",
    "ctrl+right",
    "ctrl+v",
    "ctrl+z",
    "z",
    "Z",
    "wheel down",
    "wheel up",
)
_EDIT_KEYS = {**KEYS, **WHEEL, "plus": b"+", "bracket": b"]", "b": b"b", "z": b"z", "Z": b"Z"}


def _history_kb_per_edit(song: Song, edits: int = 200) -> float:
    """What one kept edit costs the undo history on ``song`` (tracemalloc, this process)."""
    import tracemalloc

    from composer.services import editing
    from composer.services.project import ProjectSession

    session = ProjectSession(song, state_dir=Path(tempfile.gettempdir()))
    track = max(range(len(song.tracks)), key=lambda i: len(song.tracks[i].notes))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(edits):
        notes = list(session.song.tracks[track].notes)
        note = notes[(i * 37) % len(notes)]
        session.apply(
            editing.transpose_notes(session.song, track, [note], 1 if i % 2 else -1), f"edit {i}"
        )
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / edits / 1024


def bench_tui(
    notes: int = 5000,
    edit_seconds: float = 60.0,
    first_frame_runs: int = 3,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Run the editor in a pseudo-terminal and measure it; see the module docstring."""
    if shutil.which("python3") is None and not sys.executable:
        raise ComposerError("no Python interpreter to run the editor with")
    folder = Path(tempfile.mkdtemp(prefix="composer-bench-tui-"))
    try:
        return _bench(folder, notes, edit_seconds, first_frame_runs, progress, cancel)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _bench(
    folder: Path,
    notes: int,
    edit_seconds: float,
    runs: int,
    progress: Progress,
    cancel: threading.Event | None,
) -> dict[str, Any]:
    report: dict[str, Any] = {"terminal": f"{COLUMNS}x{ROWS}", "notes": notes}

    # 1. First frame: the editor's first start (demo tune) against a bare Textual app.
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    report["cpu_count"] = os.cpu_count()
    editor_frames, bare_frames, editor_cpu, bare_cpu = [], [], [], []
    for run in range(runs):
        check_cancel(cancel)
        progress(run / (runs * 8), f"first frame, run {run + 1} of {runs}")
        wall, cpu = _first_frame(
            [sys.executable, "-c", _BARE_APP], _editor_env(folder / "bare", False), b"stopped"
        )
        bare_frames.append(wall)
        bare_cpu.append(cpu)
        state = folder / f"first-{run}"
        wall, cpu = _first_frame(_editor_argv(), _editor_env(state, True), b"stopped")
        editor_frames.append(wall)
        editor_cpu.append(cpu)
    report["first_frame_s"] = round(statistics.median(editor_frames), 3)
    report["first_frame_runs_s"] = [round(s, 3) for s in editor_frames]
    report["reference_first_frame_s"] = round(statistics.median(bare_frames), 3)
    report["first_frame_ratio"] = round(
        report["first_frame_s"] / report["reference_first_frame_s"], 2
    )
    report["first_frame_cpu_s"] = round(statistics.median(editor_cpu), 3)
    report["reference_first_frame_cpu_s"] = round(statistics.median(bare_cpu), 3)

    # 2. Scroll and cursor keys: the demo (reference), then a 5,000-note song.
    from composer.services.project import demo_song

    latencies: dict[str, dict[str, list[float]]] = {}
    big = bench_song(notes)
    for label, song in (("reference", demo_song()), ("big", big)):
        check_cancel(cancel)
        progress(
            0.15 if label == "reference" else 0.35, f"scrolling the {song.note_count}-note song"
        )
        state = _open_project(song, folder)
        with Terminal(_editor_argv(), _editor_env(state, True)) as terminal:
            if terminal.wait_for(b"stopped", START_TIMEOUT_S) is None:
                raise ComposerError("the editor did not start for the scroll benchmark")
            models = _wait_models(terminal, 0)
            terminal.cpu_ms.clear()
            latencies[label] = _scroll_latencies(terminal)
            latencies[label]["cpu"] = list(terminal.cpu_ms)
            if label == "big":
                report["models"] = models
                report.update(_memory(terminal, edit_seconds, progress, cancel))
    big_all = latencies["big"]["cursor"] + latencies["big"]["wheel"]
    ref_all = latencies["reference"]["cursor"] + latencies["reference"]["wheel"]
    if not big_all or not ref_all:
        raise ComposerError("no frames were measured (the editor did not answer the keys)")
    report["scroll_ms_median"] = round(statistics.median(big_all), 2)
    report["scroll_ms_p90"] = round(_percentile(big_all, 90), 2)
    report["cursor_ms_median"] = round(statistics.median(latencies["big"]["cursor"]), 2)
    report["wheel_ms_median"] = round(statistics.median(latencies["big"]["wheel"]), 2)
    report["reference_scroll_ms_median"] = round(statistics.median(ref_all), 2)
    report["scroll_ratio"] = round(
        report["scroll_ms_median"] / report["reference_scroll_ms_median"], 2
    )
    report["scroll_cpu_ms_median"] = round(statistics.median(latencies["big"]["cpu"]), 2)
    report["reference_scroll_cpu_ms_median"] = round(
        statistics.median(latencies["reference"]["cpu"]), 2
    )
    report["frames_measured"] = len(big_all)
    report["frames_missed"] = len(latencies["big"]["missed"])
    report["history_kb_per_edit"] = round(_history_kb_per_edit(big), 2)
    report["targets"] = {
        "first_frame_s": FIRST_FRAME_TARGET_S,
        "scroll_ms_median": SCROLL_TARGET_MS,
    }
    report["meets_targets"] = {
        "first_frame_s": report["first_frame_s"] <= FIRST_FRAME_TARGET_S,
        "scroll_ms_median": report["scroll_ms_median"] <= SCROLL_TARGET_MS,
    }
    progress(1.0, "done")
    return report


def _memory(
    terminal: Terminal, edit_seconds: float, progress: Progress, cancel: threading.Event | None
) -> dict[str, Any]:
    """RSS with models loaded, then over ``edit_seconds`` of scripted editing."""
    terminal.settle(0.3)
    rss_start = terminal.rss_mb()
    samples = [rss_start]
    edit_ms: list[float] = []
    rounds = 0
    began = time.monotonic()
    while time.monotonic() - began < edit_seconds:
        check_cancel(cancel)
        for key in EDIT_ROUND:
            ms = terminal.frame_ms(_EDIT_KEYS[key])
            if ms is not None:
                edit_ms.append(ms)
        rounds += 1
        if rounds % 10 == 0:
            terminal.type(KEYS["home"])
        samples.append(terminal.rss_mb())
        progress(
            0.4 + 0.55 * min(1.0, (time.monotonic() - began) / edit_seconds),
            f"scripted editing: round {rounds}, {samples[-1]:.0f} MB",
        )
    # Growth is measured from the end of the first round: caches fill once, then stay.
    # The second half alone tells a slow warm-up (flat late) from a leak (steady slope).
    settled = samples[1] if len(samples) > 1 else rss_start
    middle = samples[len(samples) // 2]
    return {
        "rss_mb": round(rss_start, 1),
        "rss_end_mb": round(samples[-1], 1),
        "rss_growth_mb": round(samples[-1] - settled, 1),
        "rss_growth_second_half_mb": round(samples[-1] - middle, 1),
        "rss_max_mb": round(max(samples), 1),
        "edit_rounds": rounds,
        "edit_keys": rounds * len(EDIT_ROUND),
        "edit_seconds": round(time.monotonic() - began, 1),
        "edit_ms_median": round(statistics.median(edit_ms), 2) if edit_ms else None,
    }


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(percent / 100 * (len(ordered) - 1))))
    return ordered[index]


def report_rows(report: dict[str, Any]) -> list[list[Any]]:
    """The report as (figure, value, reference or target) rows for a table."""
    return [
        [
            "load average (1, 5, 15 min)",
            " ".join(map(str, report["load_average"])),
            f"{report['cpu_count']} cores",
        ],
        [
            "editor CPU to first frame (s)",
            report["first_frame_cpu_s"],
            f"bare Textual {report['reference_first_frame_cpu_s']} s",
        ],
        [
            "first frame (s)",
            report["first_frame_s"],
            f"bare Textual {report['reference_first_frame_s']} s (x{report['first_frame_ratio']}); "
            f"target <= {FIRST_FRAME_TARGET_S}",
        ],
        [
            "scroll/cursor re-render, median (ms)",
            report["scroll_ms_median"],
            f"{report['notes']} notes; demo {report['reference_scroll_ms_median']} ms "
            f"(x{report['scroll_ratio']}); target <= {SCROLL_TARGET_MS:g}",
        ],
        [
            "  editor CPU per key, median (ms)",
            report["scroll_cpu_ms_median"],
            f"demo {report['reference_scroll_cpu_ms_median']} ms",
        ],
        ["  cursor keys, median (ms)", report["cursor_ms_median"], ""],
        ["  mouse wheel, median (ms)", report["wheel_ms_median"], ""],
        ["  p90 (ms)", report["scroll_ms_p90"], f"{report['frames_measured']} frames"],
        ["RSS with models (MB)", report["rss_mb"], report.get("models", "")],
        [
            "RSS after editing (MB)",
            report["rss_end_mb"],
            f"{report['edit_keys']} keys in {report['edit_seconds']} s",
        ],
        ["RSS growth while editing (MB)", report["rss_growth_mb"], "after the first round"],
        ["  in the second half (MB)", report["rss_growth_second_half_mb"], "warm-up vs leak"],
        ["edit key re-render, median (ms)", report["edit_ms_median"], ""],
        [
            "undo history per kept edit (KB)",
            report["history_kb_per_edit"],
            f"{report['notes']}-note song",
        ],
    ]


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=1)
