"""Rendering notes to audio with FluidSynth, and spoiling the audio on purpose.

Training and evaluation audio both come from here: a list of ``Excerpt`` (notes
in seconds, a General MIDI program and a pitch-bend curve per voice) becomes one
MIDI "session" file, FluidSynth renders it with a soundfont, and
``apply_condition`` adds what real recordings have (noise, reverb, EQ, gain,
clipping). Which soundfonts are for training and which for evaluation is fixed
here, and ``check_renderable`` keeps held-out pieces out of training audio.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from composer.core.song import DRUM_CHANNEL, Song
from composer.core.timing import TempoMap
from composer.errors import AudioError, InvalidArgumentError

log = logging.getLogger(__name__)

TRAINING_SOUNDFONTS = {
    "fluidr3": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "musescore": Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
}
EVAL_SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
"""Used for evaluation audio and nothing else, so scores are on an unseen sound."""

BEND_RANGE_SEMITONES = 2.0  # General MIDI's default pitch-bend range
_MIDI_TICKS_PER_SECOND = 960  # PPQ 480 at 120 BPM: about 1 ms per tick
_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)


@dataclass(frozen=True)
class RenderNote:
    """A note to render, in seconds; ``voice`` picks the channel (and program, bends)."""

    pitch: int
    onset_s: float
    offset_s: float
    velocity: int
    voice: int = 0


@dataclass
class Excerpt:
    """A passage to render: notes, one program per voice, pitch bends per voice.

    ``bends[voice]`` is a list of ``(time_s, semitones)``; each value holds
    until the next. ``source`` names the corpus piece it came from.
    """

    notes: list[RenderNote]
    programs: list[int]
    bends: list[list[tuple[float, float]]] = field(default_factory=list)
    duration_s: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.programs) > len(_CHANNELS):
            raise InvalidArgumentError(f"{len(self.programs)} voices is more than MIDI's "
                                       f"{len(_CHANNELS)} melodic channels")
        if not self.bends:
            self.bends = [[] for _ in self.programs]
        if not self.duration_s:
            self.duration_s = max((n.offset_s for n in self.notes), default=0.0)


def is_dev_piece(piece_id: str) -> bool:
    """One train-split piece in 25, by hash: dev audio (for choosing checkpoints and
    decoder settings), never rendered as training audio."""
    import hashlib

    return int(hashlib.sha256(piece_id.encode()).hexdigest(), 16) % 25 == 0


def check_renderable(piece_id: str) -> None:
    """Refuse a piece that may not become transcription training audio.

    Test and valid pieces, and the chorales listed under ``transcription_test``
    in heldout.json, are never rendered for training.
    """
    from corpora.heldout import load_heldout

    if not load_heldout().may_render_for_transcription(piece_id):
        raise InvalidArgumentError(
            f"{piece_id} is held out (test, valid or transcription_test) and is never "
            "rendered as training audio")


def song_to_excerpt(song: Song, programs: list[int], tempo_scale: float = 1.0,
                    transpose: int = 0, velocity_scale: float = 1.0,
                    duration_scale: float = 1.0, source: str = "") -> Excerpt:
    """The notes of ``song`` in seconds (its own tempo map, sped up by ``tempo_scale``).

    One voice per track; ``duration_scale`` below 1 shortens notes (detached
    playing); velocities are scaled and kept in 1..127.
    """
    if len(programs) != len(song.tracks):
        raise InvalidArgumentError(f"{len(programs)} programs for {len(song.tracks)} tracks")
    tempo = TempoMap.of(song)
    notes = []
    for voice, track in enumerate(song.tracks):
        for n in track.notes:
            pitch = n.pitch + transpose
            if not 0 <= pitch <= 127:
                continue
            onset = tempo.seconds_at(n.start_tick) / tempo_scale
            offset = tempo.seconds_at(n.end_tick) / tempo_scale
            offset = onset + max((offset - onset) * duration_scale, 0.03)
            velocity = int(np.clip(round(n.velocity * velocity_scale), 1, 127))
            notes.append(RenderNote(pitch, onset, offset, velocity, voice))
    notes.sort(key=lambda n: (n.onset_s, n.pitch))
    return Excerpt(notes=notes, programs=list(programs), source=source)


def session_midi_bytes(excerpts: list[Excerpt], gap_s: float = 1.0
                       ) -> tuple[bytes, list[float], float]:
    """One MIDI file playing ``excerpts`` one after another.

    Returns (MIDI bytes, start time of each excerpt in seconds, total length).
    Between excerpts every channel is silenced, reset and given its next
    program, so each excerpt sounds as if rendered alone.
    """
    import io

    import mido

    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, message)

    def at(seconds: float) -> int:
        return max(0, round(seconds * _MIDI_TICKS_PER_SECOND))

    starts = []
    now = 0.5
    for excerpt in excerpts:
        setup = at(now - 0.25)
        for voice, program in enumerate(excerpt.programs):
            ch = _CHANNELS[voice]
            events += [
                (setup, 0, mido.Message("control_change", channel=ch, control=121, value=0)),
                (setup, 1, mido.Message("program_change", channel=ch, program=program)),
                (setup, 2, mido.Message("control_change", channel=ch, control=7, value=110)),
                (setup, 3, mido.Message("pitchwheel", channel=ch, pitch=0)),
            ]
            for time_s, semitones in excerpt.bends[voice]:
                events.append((at(now + time_s), 4, mido.Message(
                    "pitchwheel", channel=ch, pitch=bend_value(semitones))))
        for n in excerpt.notes:
            ch = _CHANNELS[n.voice]
            events.append((at(now + n.offset_s), 5, mido.Message(
                "note_off", channel=ch, note=n.pitch, velocity=0)))
            events.append((at(now + n.onset_s), 6, mido.Message(
                "note_on", channel=ch, note=n.pitch, velocity=n.velocity)))
        starts.append(now)
        end = now + excerpt.duration_s
        for voice in range(len(excerpt.programs)):
            events.append((at(end + 0.05), 7, mido.Message(
                "control_change", channel=_CHANNELS[voice], control=123, value=0)))
        now = end + gap_s
    # A last harmless event keeps the player (and the recording) going
    # through the final release tails.
    events.append((at(now + 0.5), 8, mido.Message("control_change", channel=0, control=110,
                                                 value=0)))
    midi = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))
    last = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - last))
        last = tick
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue(), starts, now + 0.5


def bend_value(semitones: float) -> int:
    """A MIDI pitch-bend value for ``semitones`` at the General MIDI range of ±2."""
    return int(np.clip(round(semitones / BEND_RANGE_SEMITONES * 8192), -8192, 8191))


def fluidsynth_available() -> bool:
    return shutil.which("fluidsynth") is not None


def render_midi_bytes(midi: bytes, soundfont: Path, sample_rate: int = 16_000,
                      effects: bool = False, gain: float = 0.5) -> np.ndarray:
    """Render MIDI with FluidSynth; returns mono float32 audio at ``sample_rate``.

    ``effects`` turns on FluidSynth's own reverb and chorus.
    """
    import soundfile as sf

    if not fluidsynth_available():
        raise AudioError("FluidSynth is not installed",
                         "install the Debian package fluidsynth (run.sh does)")
    if not soundfont.exists():
        raise AudioError(f"soundfont {soundfont} is missing",
                         "install fluid-soundfont-gm, musescore-general-soundfont and "
                         "timgm6mb-soundfont (run.sh does)")
    with tempfile.TemporaryDirectory(prefix="composer-render-") as tmp:
        midi_path = Path(tmp) / "in.mid"
        wav_path = Path(tmp) / "out.wav"
        midi_path.write_bytes(midi)
        command = ["fluidsynth", "-ni", "-q", "-F", str(wav_path), "-r", str(sample_rate),
                   "-g", f"{gain:g}", "-o", "synth.polyphony=512"]
        if not effects:
            command += ["-R", "0", "-C", "0"]
        command += [str(soundfont), str(midi_path)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not wav_path.exists():
            raise AudioError(f"FluidSynth failed: {(result.stderr or result.stdout).strip()[:200]}")
        audio, rate = sf.read(str(wav_path), dtype="float32", always_2d=True)
    if rate != sample_rate:
        raise AudioError(f"FluidSynth wrote {rate} Hz audio instead of {sample_rate} Hz")
    return audio.mean(axis=1)


# ------------------------------------------------------------ spoiling audio


@dataclass(frozen=True)
class Condition:
    """What happens to clean audio: reverb, noise, EQ, gain, clipping.

    ``rt60_s`` 0 means dry; ``snr_db`` None means no noise; ``eq`` is a list of
    (centre Hz, gain dB) bell filters one octave wide; ``clip_db`` drives the
    signal that far past full scale into hard clipping.
    """

    rt60_s: float = 0.0
    wet: float = 0.0
    snr_db: float | None = None
    noise_colour: float = 1.0  # 0 white, 1 pink, 2 brown
    eq: tuple[tuple[float, float], ...] = ()
    gain_db: float = 0.0
    clip_db: float = 0.0


EVAL_CONDITIONS = {
    "clean": Condition(),
    "noise": Condition(snr_db=20.0, noise_colour=1.0),
    "reverb": Condition(rt60_s=1.2, wet=0.5),
}
"""The evaluation's timbre conditions; the seeds of their noise differ from training's."""


def random_condition(rng: np.random.Generator) -> Condition:
    """A training condition: about a third clean, the rest noisy, reverberant or both."""
    kind = rng.choice(["clean", "noise", "reverb", "both"], p=[0.3, 0.25, 0.3, 0.15])
    rt60 = float(rng.uniform(0.3, 2.0)) if kind in ("reverb", "both") else 0.0
    wet = float(rng.uniform(0.2, 0.7)) if rt60 else 0.0
    snr = float(rng.uniform(8.0, 35.0)) if kind in ("noise", "both") else None
    eq: tuple[tuple[float, float], ...] = ()
    if rng.random() < 0.5:
        eq = tuple((float(np.exp(rng.uniform(np.log(80), np.log(6000)))),
                    float(rng.uniform(-9, 9))) for _ in range(int(rng.integers(1, 4))))
    clip = float(rng.uniform(1, 10)) if rng.random() < 0.05 else 0.0
    return Condition(rt60_s=rt60, wet=wet, snr_db=snr, noise_colour=float(rng.uniform(0, 2)),
                     eq=eq, gain_db=float(rng.uniform(-24, 0)), clip_db=clip)


def apply_condition(audio: np.ndarray, condition: Condition, rng: np.random.Generator,
                    sample_rate: int = 16_000) -> np.ndarray:
    """``audio`` with the condition's reverb, EQ, noise, gain and clipping, in that order."""
    out = audio.astype(np.float64)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 0:
        out = out / peak * 0.5
    if condition.rt60_s > 0:
        out = reverberate(out, condition.rt60_s, condition.wet, rng, sample_rate)
    for centre, gain_db in condition.eq:
        out = bell_filter(out, centre, gain_db, sample_rate)
    if condition.snr_db is not None:
        out = out + coloured_noise(out.size, condition.noise_colour, rng) * _noise_scale(
            out, condition.snr_db)
    if condition.clip_db > 0:
        out = np.clip(out * 10 ** (condition.clip_db / 20) / max(np.max(np.abs(out)), 1e-9),
                      -1.0, 1.0)
    out = out * 10 ** (condition.gain_db / 20)
    return out.astype(np.float32)


def _noise_scale(signal: np.ndarray, snr_db: float) -> float:
    # SNR against the signal's power where it sounds, so quiet gaps do not count.
    frames = signal[: signal.size // 1024 * 1024].reshape(-1, 1024)
    if not frames.size:
        return 0.0
    power = (frames ** 2).mean(axis=1)
    loud = power[power > power.max() * 1e-3] if power.max() > 0 else power
    return float(np.sqrt(loud.mean() / 10 ** (snr_db / 10))) if loud.size else 0.0


def coloured_noise(n: int, colour: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise with a 1/f**colour power spectrum (0 white, 1 pink, 2 brown)."""
    if n == 0:
        return np.zeros(0)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    spectrum *= freqs ** (-colour / 2)
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)


def room_impulse(rt60_s: float, rng: np.random.Generator, sample_rate: int = 16_000
                 ) -> np.ndarray:
    """A synthetic room: sparse early reflections, then exponentially decaying noise
    that darkens as it decays (high frequencies die sooner, as in real rooms)."""
    length = int(min(rt60_s * 1.2, 3.0) * sample_rate)
    t = np.arange(length) / sample_rate
    decay = np.exp(-6.9 * t / rt60_s)  # -60 dB at rt60
    tail = rng.standard_normal(length) * decay
    # Darkening: blend toward a low-passed copy as time goes on.
    from scipy.signal import lfilter

    lowpassed = lfilter([0.2], [1, -0.8], tail)
    mix = np.clip(t / rt60_s, 0, 1)
    tail = tail * (1 - mix) + lowpassed * mix
    onset = int(rng.uniform(0.005, 0.02) * sample_rate)
    tail[:onset] = 0
    for _ in range(6):
        i = int(rng.uniform(0.003, 0.05) * sample_rate)
        tail[i] += rng.uniform(-0.6, 0.6)
    tail[0] = 1.0
    return tail / np.sqrt(np.sum(tail ** 2))


def reverberate(audio: np.ndarray, rt60_s: float, wet: float, rng: np.random.Generator,
                sample_rate: int = 16_000) -> np.ndarray:
    from scipy.signal import fftconvolve

    impulse = room_impulse(rt60_s, rng, sample_rate)
    reverberant = fftconvolve(audio, impulse)[: audio.size]
    dry_rms = np.sqrt(np.mean(audio ** 2)) + 1e-12
    reverberant *= dry_rms / (np.sqrt(np.mean(reverberant ** 2)) + 1e-12)
    return (1 - wet) * audio + wet * reverberant


def bell_filter(audio: np.ndarray, centre_hz: float, gain_db: float,
                sample_rate: int = 16_000, q: float = 1.4) -> np.ndarray:
    """A peaking EQ (the RBJ cookbook biquad)."""
    from scipy.signal import lfilter

    centre_hz = min(centre_hz, sample_rate * 0.45)
    a_gain = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * centre_hz / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = [1 + alpha * a_gain, -2 * np.cos(w0), 1 - alpha * a_gain]
    a = [1 + alpha / a_gain, -2 * np.cos(w0), 1 - alpha / a_gain]
    return lfilter(b, a, audio)


def singing_bends(notes: list[RenderNote], rng: np.random.Generator,
                  detune_cents: float = 45.0, vibrato_cents: tuple[float, float] = (0.0, 70.0),
                  slide_probability: float = 0.3, step_s: float = 0.01
                  ) -> list[tuple[float, float]]:
    """A pitch-bend curve that makes a monophonic line sound sung.

    Each note is off the semitone grid by up to ``detune_cents``, may slide in
    from up to a semitone and a half away, and gets vibrato (4.5-6.5 Hz,
    ``vibrato_cents`` deep) after a short steady start. Returns (time_s,
    semitones) events every ``step_s`` while notes sound.
    """
    events: list[tuple[float, float]] = []
    for n in sorted(notes, key=lambda n: n.onset_s):
        offset = float(rng.uniform(-detune_cents, detune_cents)) / 100
        depth = float(rng.uniform(*vibrato_cents)) / 100
        rate = float(rng.uniform(4.5, 6.5))
        delay = float(rng.uniform(0.1, 0.35))
        slide_from = float(rng.uniform(-1.5, 1.5)) if rng.random() < slide_probability else 0.0
        slide_s = float(rng.uniform(0.04, 0.12))
        phase = float(rng.uniform(0, 2 * np.pi))
        times = np.arange(n.onset_s, n.offset_s, step_s)
        for t in times:
            age = t - n.onset_s
            value = offset
            if slide_from and age < slide_s:
                value += slide_from * (1 - age / slide_s)
            if age > delay:
                ramp = min((age - delay) / 0.2, 1.0)
                value += ramp * depth * np.sin(2 * np.pi * rate * (age - delay) + phase)
            events.append((float(t), float(np.clip(value, -BEND_RANGE_SEMITONES,
                                                    BEND_RANGE_SEMITONES))))
    return events


# ---------------------------------------------------------------- timbres

ENSEMBLES: dict[str, tuple[int, ...]] = {
    # Four-part settings; a part beyond the list reuses its last program.
    "piano": (0,), "bright piano": (1,), "electric grand": (2,), "e-piano": (4,),
    "e-piano 2": (5,), "harpsichord": (6,), "organ": (19,), "drawbar organ": (16,),
    "rock organ": (18,), "reed organ": (20,), "accordion": (21,), "nylon guitar": (24,),
    "steel guitar": (25,), "jazz guitar": (26,), "harp": (46,), "vibraphone": (11,),
    "marimba": (12,), "celesta": (8,), "strings": (40, 40, 41, 42, 43),
    "string ensemble": (48,), "slow strings": (49,), "synth strings": (50,),
    "choir": (52,), "voice oohs": (53,), "synth voice": (54,),
    "winds": (73, 68, 71, 70, 70), "recorders": (74, 74, 74, 74), "clarinets": (71,),
    "brass": (56, 56, 57, 58, 58), "horns": (60,), "brass section": (61,),
    "saxophones": (64, 65, 66, 67, 67), "square lead": (80,), "saw lead": (81,),
    "warm pad": (89,), "mixed": (),
}
"""Training ensembles by name; ``mixed`` draws a program per voice."""

MELODY_PROGRAMS = (0, 4, 6, 11, 19, 21, 22, 24, 25, 40, 41, 42, 52, 53, 54, 56, 57, 60,
                   64, 65, 66, 68, 69, 71, 72, 73, 74, 75, 78, 79, 80, 81, 85)
SINGING_PROGRAMS = (52, 53, 54, 85, 73, 74, 78, 79, 40, 41, 42, 71, 68, 65, 66)
"""Programs for sung-like melodies: voices, then instruments that bend and sing."""

EVAL_ENSEMBLES = {"piano": (0,), "strings": (40, 40, 41, 42), "winds": (73, 68, 71, 70)}
EVAL_MELODY_PROGRAMS = {"flute": 73, "violin": 40, "clarinet": 71, "trumpet": 56,
                        "voice": 53, "piano": 0, "alto sax": 65, "oboe": 68}


def ensemble_programs(name: str, voices: int, rng: np.random.Generator | None = None
                      ) -> list[int]:
    """One program per voice for a named ensemble (highest voice first)."""
    programs = ENSEMBLES.get(name, EVAL_ENSEMBLES.get(name))
    if programs is None:
        raise InvalidArgumentError(f"unknown ensemble {name!r}")
    if not programs:
        if rng is None:
            raise InvalidArgumentError("the mixed ensemble needs a random generator")
        pool = [p for ps in ENSEMBLES.values() for p in ps]
        return [int(rng.choice(pool)) for _ in range(voices)]
    return [programs[min(i, len(programs) - 1)] for i in range(voices)]
