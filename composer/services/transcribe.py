"""Audio to notes: the use case the CLI's `transcribe` and the TUI's audio import share.

``transcribe_file`` reads a recording in windows, runs composer's own
transcription network, decodes one line (mono) or every note (poly), tracks
beats and meter, detects the key and puts the notes on the bar grid. The
result holds the quantised Song, the unquantised performance and a few
sentences for the user (what was found, and anything odd about the audio).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from composer.core.song import Song, Track
from composer.errors import InvalidArgumentError
from composer.services.jobs import Progress, check_cancel, no_progress

log = logging.getLogger(__name__)

MODES = ("auto", "mono", "poly")
_CLIPPING_WARN = 0.001
_SILENCE_PEAK = 10 ** (-60 / 20)


@dataclass(frozen=True)
class TranscriptionResult:
    """What a recording became.

    ``song`` is quantised to the grid with tempo, meter and key; ``performance``
    is the same notes as played (same tick scale, not quantised); ``notes`` are
    the raw events in seconds; ``messages`` are sentences to show the user.
    """

    song: Song
    performance: Track
    messages: list[str] = field(default_factory=list)
    mode: str = "poly"
    duration_s: float = 0.0
    notes: tuple = ()

    @property
    def tempo_bpm(self) -> float:
        return self.song.tempos[0].tempo_bpm

    @property
    def meter(self) -> str:
        return str(self.song.time_signatures[0])

    @property
    def key(self) -> str:
        return self.song.keys[0].name if self.song.keys else ""


def transcribe_file(path: str | Path, mode: str = "auto", quantize: str = "1/16",
                    tempo_bpm: float | None = None, keep_bends: bool = False,
                    progress: Progress = no_progress,
                    cancel: threading.Event | None = None,
                    model_dir: Path | None = None) -> TranscriptionResult:
    """Transcribe an audio file (WAV, FLAC, OGG, MP3) into a Song on the bar grid.

    ``mode`` is auto, mono (one line: voice, whistling, a single instrument) or
    poly; ``quantize`` a grid such as 1/16, 1/8t or off; ``tempo_bpm`` fixes the
    tempo instead of detecting it; ``keep_bends`` keeps the fine pitch of a
    monophonic line as MIDI pitch bend. Raises InputFileError for files that
    are not audio, ModelError when the shipped model is missing or damaged,
    Cancelled when ``cancel`` is set.
    """
    from composer.audio import rhythm
    from composer.audio.checkpoint import load_checkpoint, load_mono_network
    from composer.audio.decode import DecodeConfig
    from composer.audio.load import LevelStats, iter_windows, probe
    from composer.audio.pipeline import decode_windows

    if mode not in MODES:
        raise InvalidArgumentError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    grid_ticks = rhythm.parse_quantize(quantize)
    if tempo_bpm is not None and not 20 <= tempo_bpm <= 400:
        raise InvalidArgumentError(f"tempo {tempo_bpm:g} BPM is outside 20..400")
    path = Path(path)
    info = probe(path)
    check_cancel(cancel)
    progress(0.0, "loading the transcription model")
    model, card = load_checkpoint(model_dir)
    mono_model = load_mono_network(model_dir) if mode != "poly" else None
    decode_config = DecodeConfig(**card.get("decode", {}))
    total = max(info.duration_s, 1e-6)
    stats = LevelStats()

    def on_window(seconds: float) -> None:
        progress(min(0.95 * seconds / total, 0.95),
                 f"listening: {_clock(seconds)} of {_clock(info.duration_s)}")

    decoded = decode_windows(model, iter_windows(path, stats=stats), mode=mode,
                             keep_bends=keep_bends, decode_config=decode_config,
                             progress=on_window, cancel=cancel, mono_model=mono_model)
    check_cancel(cancel)
    progress(0.96, "finding the beat, meter and key")
    messages = _audio_messages(stats, info.duration_s)
    title = path.stem
    track_name = "Melody" if decoded.mode == "mono" else "Transcription"
    placed = rhythm.place_on_grid(decoded.notes, decoded.duration_s, grid_ticks,
                                  tempo_bpm=tempo_bpm, track_name=track_name, title=title)
    song = placed.song
    if not decoded.notes:
        if not any("silent" in m for m in messages):
            messages.append("No notes were found in this recording.")
    else:
        if mode == "auto":
            messages.append(
                f"Heard {'one line' if decoded.mode == 'mono' else 'several parts at once'} "
                f"(two or more notes in {decoded.polyphony:.0%} of the time), so used "
                f"{decoded.mode} mode.")
        tempo_text = (f"{tempo_bpm:g} BPM (as given)" if tempo_bpm else
                      f"{placed.grid.tempo_bpm:.0f} BPM"
                      + ("" if placed.grid.steady else ", following the player's tempo"))
        messages.append(f"{len(decoded.notes)} notes, {_clock(decoded.duration_s)} long; "
                        f"{song.time_signatures[0]} at {tempo_text}; key "
                        f"{song.keys[0].name if song.keys else 'unknown'}.")
        if keep_bends and decoded.mode != "mono":
            messages.append("Pitch bends are kept only in mono mode; none were written.")
    progress(1.0, "done")
    return TranscriptionResult(song=song, performance=placed.performance, messages=messages,
                               mode=decoded.mode, duration_s=decoded.duration_s,
                               notes=decoded.notes)


def transcribe_to_file(in_path: str | Path, out_path: str | Path, **options) -> tuple[
        Path, TranscriptionResult]:
    """Transcribe and write the quantised song (MIDI or MusicXML by suffix)."""
    from composer.io.song_files import save_song

    out = Path(out_path)
    if out.suffix.lower() not in (".mid", ".midi", ".musicxml", ".xml"):
        raise InvalidArgumentError(f"{out}: write .mid or .musicxml")
    result = transcribe_file(in_path, **options)
    return save_song(result.song, out), result


def _audio_messages(stats, duration_s: float) -> list[str]:
    messages = []
    if stats.samples == 0 or duration_s <= 0:
        messages.append("The file holds no audio samples.")
    elif stats.peak < _SILENCE_PEAK:
        messages.append("The recording is silent (quieter than -60 dBFS throughout).")
    if stats.clipped_fraction > _CLIPPING_WARN:
        messages.append(f"The recording clips (distorts) in {stats.clipped_fraction:.1%} of "
                        "its samples; notes there may be less accurate.")
    return messages


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def write_performance(result: TranscriptionResult, path: str | Path) -> Path:
    """Write the unquantised performance (same tempo map and meter) as its own file."""
    from dataclasses import replace

    from composer.io.song_files import save_song

    return save_song(replace(result.song, tracks=(result.performance,)), path)
