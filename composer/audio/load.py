"""Reading audio files: WAV, FLAC, OGG and MP3, any rate, mono or stereo.

Files are streamed: blocks are decoded (libsndfile, through soundfile), mixed
to mono and resampled to 16 kHz once (soxr, streaming), and handed out as
overlapping windows, so memory stays the same for a ten-second hum and a
three-hour rehearsal. A file that is not audio gets one clear sentence that
says what it looks like instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from composer.audio.features import HOP, SAMPLE_RATE
from composer.errors import InputFileError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")
_BLOCK_SECONDS = 5.0
_CLIP_LEVEL = 0.999


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, from its header."""

    path: str
    format: str
    sample_rate: int
    channels: int
    duration_s: float


@dataclass(frozen=True)
class Window:
    """A stretch of 16 kHz mono audio: ``context`` samples, then the ``core`` the
    caller is after, then ``context`` again (zeros past either end of the file).
    ``first_frame`` is the global frame index of the core's first frame."""

    audio: np.ndarray
    context: int
    core: int
    first_frame: int

    @property
    def core_frames(self) -> int:
        return -(-self.core // HOP)


@dataclass
class LevelStats:
    """Filled in while a file streams: its peak and how much of it clips."""

    samples: int = 0
    clipped: int = 0
    peak: float = 0.0
    sum_squares: float = 0.0

    @property
    def clipped_fraction(self) -> float:
        return self.clipped / self.samples if self.samples else 0.0

    @property
    def rms(self) -> float:
        return float(np.sqrt(self.sum_squares / self.samples)) if self.samples else 0.0


def _sniff(path: Path) -> str | None:
    """A name for well-known non-audio contents, from the first bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    if head[:4] == b"MThd":
        return "a MIDI file (open it with `composer info` or `composer export`)"
    if head[4:8] == b"ftyp":
        return "an MP4/MOV/M4A container (video, or AAC audio)"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "a Matroska/WebM video"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "an AVI video"
    if head[:4] == b"%PDF":
        return "a PDF document"
    if head[:2] in (b"PK",):
        return "a ZIP archive (MusicXML .mxl or a document)"
    return None


def probe(path: str | Path) -> AudioInfo:
    """Header facts of an audio file; raises InputFileError for anything else."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: the file is empty")
    try:
        with sf.SoundFile(str(path)) as handle:
            frames, rate, channels, fmt = handle.frames, handle.samplerate, handle.channels, \
                handle.format
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        looks_like = _sniff(path)
        if looks_like:
            raise InputFileError(
                f"{path}: is {looks_like}, not an audio file composer can read",
                "composer reads WAV, FLAC, OGG and MP3; extract the audio first, e.g. "
                "ffmpeg -i IN -vn OUT.wav") from err
        raise InputFileError(
            f"{path}: cannot be decoded as audio ({_short(err)})",
            "composer reads WAV, FLAC, OGG and MP3; the file may be damaged") from err
    if rate <= 0 or channels <= 0:
        raise InputFileError(f"{path}: the audio header is damaged ({rate} Hz, "
                             f"{channels} channels)")
    return AudioInfo(str(path), fmt, int(rate), int(channels), frames / rate if rate else 0.0)


def _short(err: Exception) -> str:
    text = " ".join(str(err).split())
    return text.split(": ", 1)[-1][:100] if text else type(err).__name__


def iter_windows(path: str | Path, core_s: float = 30.0, context_s: float = 1.5,
                 stats: LevelStats | None = None) -> Iterator[Window]:
    """Overlapping 16 kHz mono windows covering the whole file in order.

    ``core_s`` and ``context_s`` are rounded to whole frames. ``stats`` (if
    given) collects the peak level and clipping of the original samples.
    """
    import soundfile as sf
    import soxr

    info = probe(path)
    core = max(1, round(core_s * SAMPLE_RATE / HOP)) * HOP
    context = round(context_s * SAMPLE_RATE / HOP) * HOP
    resampler = (soxr.ResampleStream(info.sample_rate, SAMPLE_RATE, 1, dtype="float32",
                                     quality="HQ")
                 if info.sample_rate != SAMPLE_RATE else None)
    # ``buffer`` holds resampled audio starting at global sample ``buffer_start``
    # (negative at first: the zero context before the file starts).
    buffer = np.zeros(context, np.float32)
    buffer_start = -context
    next_core = 0
    try:
        with sf.SoundFile(info.path) as handle:
            block = max(int(_BLOCK_SECONDS * info.sample_rate), 1)
            while True:
                data = handle.read(block, dtype="float32", always_2d=True)
                last = data.shape[0] < block
                mono = data.mean(axis=1) if data.size else np.zeros(0, np.float32)
                if stats is not None and data.size:
                    stats.samples += data.shape[0]
                    stats.clipped += int((np.abs(data) >= _CLIP_LEVEL).any(axis=1).sum())
                    stats.peak = max(stats.peak, float(np.abs(data).max()))
                    stats.sum_squares += float(np.sum(mono.astype(np.float64) ** 2))
                if resampler is not None:
                    mono = resampler.resample_chunk(mono, last=last)
                buffer = np.concatenate([buffer, np.asarray(mono, np.float32)])
                while buffer_start + buffer.size >= next_core + core + context:
                    yield _window(buffer, buffer_start, next_core, core, context)
                    next_core += core
                    drop = next_core - context - buffer_start
                    buffer, buffer_start = buffer[drop:], buffer_start + drop
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as err:
        raise InputFileError(f"{path}: decoding failed part-way ({_short(err)})",
                             "the file may be truncated or damaged") from err
    end = buffer_start + buffer.size
    while next_core < end:
        remaining = end - next_core
        yield _window(buffer, buffer_start, next_core, min(core, remaining), context)
        next_core += core


def _window(buffer: np.ndarray, buffer_start: int, core_start: int, core: int,
            context: int) -> Window:
    lo = core_start - context - buffer_start
    audio = buffer[lo:lo + core + 2 * context]
    if audio.size < core + 2 * context:
        audio = np.pad(audio, (0, core + 2 * context - audio.size))
    return Window(audio=audio, context=context, core=core, first_frame=core_start // HOP)


def load_audio(path: str | Path, max_seconds: float = 600.0) -> np.ndarray:
    """A whole (short) file as 16 kHz mono float32; longer files are refused."""
    info = probe(path)
    if info.duration_s > max_seconds:
        raise InputFileError(f"{path}: is {info.duration_s / 60:.0f} minutes long; "
                             f"load_audio takes at most {max_seconds / 60:.0f}")
    parts = [w.audio[w.context:w.context + w.core] for w in iter_windows(path, core_s=60.0,
                                                                          context_s=0.0)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
