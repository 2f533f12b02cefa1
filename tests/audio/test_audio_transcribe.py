"""The transcription service end to end, on real FluidSynth audio and synthetic singing.

FluidSynth renders with the FluidR3 GM soundfont (the evaluation's TimGM6mb
soundfont is kept for `composer eval transcription` only).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf

from composer.audio import render
from composer.audio.features import SAMPLE_RATE
from composer.audio.training import note_scores, notes_to_mir
from composer.core.song import Note, Song, TempoChange, TimeSignature, Track
from composer.errors import Cancelled, InputFileError, InvalidArgumentError
from composer.io.midi_file import read_midi
from composer.services.transcribe import transcribe_file, transcribe_to_file

# A G-major tune in 3/4 (pitch, beats): the kind of idea a person hums.
TUNE = [(67, 1), (71, 1), (74, 1), (72, 2), (71, 1), (69, 1), (67, 1), (69, 1), (71, 2),
        (67, 1), (74, 1), (76, 1), (74, 1), (72, 1), (71, 1), (69, 1), (67, 2)]


def _tune_song(bpm: float = 100) -> Song:
    notes, tick = [], 480 * 3  # a bar of count-in silence
    for pitch, beats in TUNE:
        notes.append(Note(pitch=pitch, start_tick=tick, duration_ticks=beats * 480 - 40,
                          velocity=90))
        tick += beats * 480
    return Song(tracks=(Track("Tune", tuple(notes)),), tempos=(TempoChange.from_bpm(0, bpm),),
                time_signatures=(TimeSignature(0, 3, 4),))


def _render(song: Song, programs: list[int], path, gain: float = 1.0) -> np.ndarray:
    excerpt = render.song_to_excerpt(song, programs)
    midi, starts, _ = render.session_midi_bytes([excerpt], gap_s=0.5)
    audio = render.render_midi_bytes(midi, render.TRAINING_SOUNDFONTS["fluidr3"]) * gain
    sf.write(str(path), np.clip(audio, -1, 1), SAMPLE_RATE, subtype="PCM_16")
    return np.array([(n.pitch, n.onset_s + starts[0], n.offset_s + starts[0])
                     for n in excerpt.notes])


def _f1(reference: np.ndarray, notes) -> float:
    hz = 440.0 * 2 ** ((reference[:, 0] - 69) / 12)
    return note_scores(reference[:, 1:3], hz, *notes_to_mir(notes))["f1"]


@pytest.fixture(scope="module")
def tune_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "tune.wav"
    reference = _render(_tune_song(), [73], path)  # flute
    return path, reference


def test_hummed_tune_becomes_a_melody_on_the_grid(tune_wav, tmp_path):
    path, reference = tune_wav
    updates = []
    result = transcribe_file(path, progress=lambda f, m: updates.append(f))
    assert result.mode == "mono"
    assert _f1(reference, result.notes) >= 0.95
    song = result.song
    assert str(song.time_signatures[0]) == "3/4"
    assert song.tempos[0].tempo_bpm == pytest.approx(100, rel=0.05)
    assert song.keys[0].name == "G major"
    assert [n.pitch for n in song.tracks[0].notes] == [p for p, _ in TUNE]
    assert all(n.start_tick % 120 == 0 for n in song.tracks[0].notes)
    assert len(result.performance.notes) == len(TUNE)
    assert updates[-1] == 1.0 and updates == sorted(u for u in updates if u >= 0)
    assert any("3/4" in m for m in result.messages)
    out, _ = transcribe_to_file(path, tmp_path / "tune.mid", quantize="1/8")
    back = read_midi(out)
    assert [n.pitch for n in back.tracks[0].notes] == [p for p, _ in TUNE]
    assert str(back.time_signatures[0]) == "3/4" and back.keys[0].name == "G major"


def test_piano_chords_are_transcribed_in_poly_mode(tmp_path):
    chords = [(48, 55, 64, 72), (53, 57, 65, 72), (55, 59, 67, 74), (48, 55, 64, 72)] * 2
    tracks = []
    for voice in range(4):
        notes = [Note(pitch=chord[voice], start_tick=480 * 2 * i, duration_ticks=900,
                      velocity=80) for i, chord in enumerate(chords)]
        tracks.append(Track(f"v{voice}", tuple(notes), channel=voice))
    song = Song(tracks=tuple(tracks), tempos=(TempoChange.from_bpm(0, 90),))
    reference = _render(song, [0, 0, 0, 0], tmp_path / "chords.flac")
    result = transcribe_file(tmp_path / "chords.flac")
    assert result.mode == "poly"
    assert _f1(reference, result.notes) >= 0.9


def _sung(path, notes: list[tuple[float, float, float]], vibrato_cents: float, seconds: float):
    """A voice-like tone: harmonics under two formants, vibrato after 150 ms, a scoop
    into each note, breathy noise. ``notes`` are (midi incl. detune, onset, offset)."""
    rng = np.random.default_rng(4)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    midi = np.full(t.size, np.nan)
    for pitch, on, off in notes:
        inside = (t >= on) & (t < off)
        age = t[inside] - on
        scoop = -0.6 * np.clip(1 - age / 0.08, 0, 1)
        vibrato = vibrato_cents / 100 * np.sin(2 * np.pi * 5.5 * age) * np.clip(
            (age - 0.15) / 0.2, 0, 1)
        midi[inside] = pitch + scoop + vibrato
    voiced = ~np.isnan(midi)
    freq = np.where(voiced, 440 * 2 ** ((np.nan_to_num(midi, nan=60) - 69) / 12), 0)
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    audio = np.zeros(t.size)
    for h in range(1, 12):
        hz = freq * h
        gain = (np.exp(-0.5 * ((hz - 600) / 250) ** 2) + 0.6 * np.exp(-0.5 * ((hz - 1100) / 300)
                ** 2) + 0.15 / h) * (hz < 7500)
        audio += gain * np.sin(h * phase)
    envelope = np.convolve(voiced.astype(float), np.ones(400) / 400, mode="same")
    audio = audio * envelope + rng.normal(0, 0.003, t.size) * envelope
    sf.write(str(path), 0.3 * audio / np.abs(audio).max(), SAMPLE_RATE, subtype="PCM_16")


@pytest.mark.parametrize("cents", [-40, -30, 30, 40])
def test_off_grid_singing_with_vibrato_lands_on_the_nearest_notes(tmp_path, cents):
    sung = [(60 + cents / 100 + p, 0.5 + i * 0.9, 0.5 + i * 0.9 + 0.75)
            for i, p in enumerate([0, 2, 4, 5, 7])]
    sung.append((72 + cents / 100, 5.2, 8.2))  # a long held note with wide vibrato
    path = tmp_path / "sung.wav"
    _sung(path, sung, vibrato_cents=50, seconds=9.0)
    result = transcribe_file(path, mode="mono", keep_bends=True)
    assert [n.pitch for n in result.notes] == [60, 62, 64, 65, 67, 72]
    held = result.notes[-1]
    assert held.offset_s - held.onset_s > 2.5
    bends = result.song.tracks[0].pitch_bends
    assert len(bends) > 20
    values = np.array([b.value for b in bends]) / 8192 * 2
    assert values.max() > 0.5 if cents > 0 else values.min() < -0.5
    plain = transcribe_file(path, mode="mono")
    assert plain.song.tracks[0].pitch_bends == ()


def test_silence_gives_an_empty_song_and_says_so(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(str(path), np.zeros(SAMPLE_RATE * 4), SAMPLE_RATE)
    result = transcribe_file(path)
    assert result.song.note_count == 0 and result.notes == ()
    assert any("silent" in m for m in result.messages)


def test_noise_alone_gives_next_to_no_notes(tmp_path):
    path = tmp_path / "hiss.wav"
    rng = np.random.default_rng(1)
    sf.write(str(path), rng.normal(0, 0.05, SAMPLE_RATE * 6), SAMPLE_RATE)
    result = transcribe_file(path)
    assert len(result.notes) <= 3


def test_clipping_is_reported_and_notes_still_come_out(tmp_path, tune_wav):
    path, reference = tune_wav
    audio, rate = sf.read(str(path))
    clipped = tmp_path / "clipped.wav"
    # Driven 18 dB past full scale (the rendering itself peaks well below it).
    sf.write(str(clipped), np.clip(audio / np.abs(audio).max() * 8, -1, 1), rate,
             subtype="PCM_16")
    result = transcribe_file(clipped)
    assert any("clips" in m for m in result.messages)
    assert _f1(reference, result.notes) >= 0.8


def test_bad_files_and_options_are_clear_errors(tmp_path, tune_wav):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    with pytest.raises(InputFileError, match="MP4"):
        transcribe_file(video)
    with pytest.raises(InputFileError, match="no such file"):
        transcribe_file(tmp_path / "missing.wav")
    path, _ = tune_wav
    with pytest.raises(InvalidArgumentError, match="mode"):
        transcribe_file(path, mode="stereo")
    with pytest.raises(InvalidArgumentError, match="tempo"):
        transcribe_file(path, tempo_bpm=5)
    with pytest.raises(InvalidArgumentError, match="quantize"):
        transcribe_file(path, quantize="1/7")
    with pytest.raises(InvalidArgumentError, match=".mid"):
        transcribe_to_file(path, tmp_path / "out.wav")


def test_cancel_stops_the_job(tune_wav):
    path, _ = tune_wav
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        transcribe_file(path, cancel=cancel)
