"""Recording takes from a MIDI input, for the CLI and the editor.

A take is recorded against a tempo and meter, after an optional count-in,
with an optional metronome on the output's drum channel (and the input
passed through, so a keyboard without its own sound is heard). Takes stay in
a :class:`TakeList` until discarded; keeping one quantises it if asked (grid,
strength, swing) and adds it to a song file or project as a new track.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from composer.core.song import DRUM_CHANNEL, Song, TempoChange, TimeSignature, Track
from composer.errors import InvalidArgumentError
from composer.services.jobs import Progress, no_progress


def parse_meter(text: str) -> TimeSignature:
    """'3/4' -> TimeSignature(0, 3, 4); a clear error for anything else."""
    try:
        numerator, denominator = (int(part) for part in text.split("/"))
        return TimeSignature(0, numerator, denominator)
    except ValueError as err:
        raise InvalidArgumentError(f"meter {text!r} is not like 4/4 or 6/8") from err


def parse_grid(text: str) -> int:
    """A note value like '1/16', '1/8t' (triplet) or a tick count, as grid ticks."""
    from composer.core.song import PPQ

    text = text.strip().lower()
    triplet = text.endswith("t")
    body = text[:-1] if triplet else text
    try:
        if "/" in body:
            numerator, denominator = (int(part) for part in body.split("/"))
            ticks = PPQ * 4 * numerator / denominator
        else:
            ticks = float(body)
    except (ValueError, ZeroDivisionError) as err:
        raise InvalidArgumentError(f"quantise grid {text!r} is not like 1/16 or 1/8t") from err
    if triplet:
        ticks = ticks * 2 / 3
    if ticks < 1 or ticks != int(ticks):
        raise InvalidArgumentError(f"quantise grid {text!r} does not fit {PPQ} ticks per quarter")
    return int(ticks)


@dataclass(frozen=True)
class RecordSettings:
    tempo_bpm: float = 120.0
    meter: str = "4/4"
    count_in_bars: int = 1
    metronome: bool = True
    thru: bool = True

    def __post_init__(self) -> None:
        if not 20 <= self.tempo_bpm <= 400:
            raise InvalidArgumentError(f"tempo {self.tempo_bpm:g} BPM is outside 20..400")
        if not 0 <= self.count_in_bars <= 8:
            raise InvalidArgumentError(f"count-in of {self.count_in_bars} bars is outside 0..8")
        parse_meter(self.meter)

    @property
    def time_signature(self) -> TimeSignature:
        return parse_meter(self.meter)


class TakeList:
    """Recorded takes, kept until discarded (numbers are never reused)."""

    def __init__(self) -> None:
        self._takes: dict[int, object] = {}
        self._next = 1

    @property
    def next_number(self) -> int:
        return self._next

    def add(self, take) -> None:
        self._takes[take.number] = take
        self._next = max(self._next, take.number + 1)

    def get(self, number: int):
        if number not in self._takes:
            raise InvalidArgumentError(
                f"there is no take {number}", f"takes: {', '.join(map(str, self._takes)) or 'none'}"
            )
        return self._takes[number]

    def discard(self, number: int) -> None:
        self.get(number)
        del self._takes[number]

    @property
    def takes(self) -> list:
        return [self._takes[n] for n in sorted(self._takes)]

    def __len__(self) -> int:
        return len(self._takes)


def record_take(
    inp: str | None = None,
    out: str | None = None,
    *,
    backend: str | None = None,
    virtual_in: bool = False,
    virtual_out: bool = False,
    settings: RecordSettings | None = None,
    seconds: float | None = None,
    take_number: int = 1,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
    on_event=None,
):
    """Record one take until ``cancel`` is set or ``seconds`` pass after the count-in.

    The input is a port by name (or composer's virtual input when None); the
    output (for metronome and thru) a port, the virtual output, or a FluidSynth.
    Returns the :class:`~composer.live.recorder.Take`.
    """
    from composer.live.jam import BeatGrid, JamSession, RecordEngine
    from composer.services.ports import OutputChoice, open_input_choice

    settings = settings or RecordSettings()
    cancel = cancel or threading.Event()
    grid = BeatGrid(settings.tempo_bpm, settings.time_signature)
    engine = RecordEngine(
        grid, settings.count_in_bars, settings.metronome, settings.thru, take_number
    )
    with (
        open_input_choice(inp, backend, virtual_in) as port_in,
        OutputChoice(out, backend, virtual_out) as output,
    ):
        session = JamSession(port_in, output.port, engine, on_event=on_event)
        progress(-1, f"recording from {port_in.name}")
        until = None
        if seconds is not None:
            count_in_s = (
                settings.count_in_bars * grid.meter.bar_ticks * 60 / (settings.tempo_bpm * 480)
            )
            until = session.now() + count_in_s + seconds
        session.run(cancel, until)
    assert engine.take is not None
    return engine.take


def add_track_to_file(
    path: str | Path, track: Track, tempo_bpm: float = 120.0, meter: TimeSignature | None = None
) -> tuple[Path, int]:
    """Add ``track`` to a song file or project (made with this tempo and meter if new).

    The existing tracks are never changed; the new one gets a free channel and
    a name no other track has. Returns the path and the new track's index.
    """
    from composer.io.project_file import Project, read_project, write_project
    from composer.io.song_files import load_song, save_song

    path = Path(path)
    is_project = path.suffix.lower() in (".composer", ".json")
    project = None
    if path.exists():
        if is_project:
            project = read_project(path)
            song = project.song
        else:
            song = load_song(path)
    else:
        meter = meter or TimeSignature(0, 4, 4)
        song = Song(
            tempos=(TempoChange.from_bpm(0, tempo_bpm),),
            time_signatures=(TimeSignature(0, meter.numerator, meter.denominator),),
            title=path.stem,
        )
    used = {t.channel for t in song.tracks}
    channel = next((c for c in range(16) if c not in used and c != DRUM_CHANNEL), track.channel)
    names = {t.name for t in song.tracks}
    name, n = track.name, 1
    while name in names:
        n += 1
        name = f"{track.name} ({n})"
    from dataclasses import replace

    new_song = song.with_tracks((*song.tracks, replace(track, name=name, channel=channel)))
    if is_project:
        write_project(Project(new_song, project.view if project else {}), path)
    else:
        save_song(new_song, path)
    return path, len(new_song.tracks) - 1
