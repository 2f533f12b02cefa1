"""Training and evaluation audio: held-out pieces refused, timing exact, real FluidSynth."""

from __future__ import annotations

import importlib.util

import mido
import numpy as np
import pytest

from composer.audio import render, targets
from composer.audio.features import FRAMES_PER_SECOND, LOWEST_MIDI, SAMPLE_RATE
from composer.core.song import Note, Song, TempoChange, Track
from composer.errors import InvalidArgumentError
from composer.paths import REPO_ROOT
from corpora.heldout import load_heldout


def _render_script():
    spec = importlib.util.spec_from_file_location(
        "transcription_render", REPO_ROOT / "scripts" / "transcription_render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_renderer_refuses_every_held_out_piece():
    heldout = load_heldout()
    refused = (heldout.transcription_test | heldout.test_chorales | heldout.valid_chorales
               | set(sorted(heldout.test_folk)[:50]) | set(sorted(heldout.valid_folk)[:50]))
    assert heldout.transcription_test  # the list the evaluation uses
    script = _render_script()
    for piece_id in refused:
        with pytest.raises(InvalidArgumentError, match="held out"):
            render.check_renderable(piece_id)
        assert not script._allowed(piece_id)
    render.check_renderable("palestrina/Agnus_01.krn")
    assert script._allowed("bach/bwv10.7") == ("bach/bwv10.7" not in refused)


def test_render_script_never_plans_held_out_pieces():
    heldout = load_heldout()
    script = _render_script()
    song = Song(tracks=(Track("Melody", (Note(pitch=60, start_tick=0, duration_ticks=480),)),))
    candidates = [{"id": i, "kind": "chorale", "song": song}
                  for i in sorted(heldout.transcription_test)[:3]]
    candidates.append({"id": "palestrina/Agnus_01.krn", "kind": "palestrina", "song": song})
    kept = [c for c in candidates if script._allowed(c["id"])]
    plan = script.plan_excerpts(kept, np.random.default_rng(0), 1)
    assert {item["excerpt"].source for item in plan} == {"palestrina/Agnus_01.krn"}


def _song() -> Song:
    notes = [Note(pitch=60 + i, start_tick=i * 480, duration_ticks=480, velocity=90)
             for i in range(4)]
    return Song(tracks=(Track("Melody", tuple(notes)),), tempos=(TempoChange.from_bpm(0, 120),))


def test_session_midi_places_excerpts_one_after_another():
    first = render.song_to_excerpt(_song(), [0])
    second = render.song_to_excerpt(_song(), [40], transpose=2)
    second.bends = [[(0.0, 0.25)]]
    data, starts, total = render.session_midi_bytes([first, second], gap_s=1.0)
    assert starts == [0.5, 0.5 + 2.0 + 1.0]
    midi = mido.MidiFile(file=__import__("io").BytesIO(data))
    seconds, ons, programs, bends = 0.0, [], [], []
    for message in midi:
        seconds += message.time
        if message.type == "note_on" and message.velocity:
            ons.append((round(seconds, 3), message.note))
        elif message.type == "program_change":
            programs.append(message.program)
        elif message.type == "pitchwheel" and message.pitch:
            bends.append((round(seconds, 3), message.pitch))
    assert ons[:4] == [(0.5, 60), (1.0, 61), (1.5, 62), (2.0, 63)]
    assert ons[4:] == [(3.5, 62), (4.0, 63), (4.5, 64), (5.0, 65)]
    assert programs == [0, 40]
    assert bends == [(3.5, render.bend_value(0.25))]
    assert total > 5.5


def test_fluidsynth_renders_notes_where_they_are():
    excerpt = render.song_to_excerpt(_song(), [0])
    data, starts, _ = render.session_midi_bytes([excerpt])
    audio = render.render_midi_bytes(data, render.TRAINING_SOUNDFONTS["fluidr3"])
    rms = np.sqrt(np.convolve(audio ** 2, np.ones(800) / 800, mode="same"))
    before = rms[: int((starts[0] - 0.1) * SAMPLE_RATE)].max()
    during = rms[int((starts[0] + 0.2) * SAMPLE_RATE): int((starts[0] + 1.8) * SAMPLE_RATE)]
    assert before < 1e-4 < during.min()
    # The first note's fundamental (C4, 261.6 Hz) dominates its first half second.
    segment = audio[int(starts[0] * SAMPLE_RATE): int((starts[0] + 0.45) * SAMPLE_RATE)]
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(segment.size)))
    freqs = np.fft.rfftfreq(segment.size, 1 / SAMPLE_RATE)
    assert abs(freqs[np.argmax(spectrum[freqs < 1000])] - 261.6) < 6


def test_conditions_reach_their_noise_level_and_keep_length():
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    clean = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    noisy = render.apply_condition(clean, render.Condition(snr_db=10.0), rng)
    scaled = clean / np.abs(clean).max() * 0.5
    noise = noisy - scaled
    snr = 10 * np.log10(np.mean(scaled ** 2) / np.mean(noise ** 2))
    assert abs(snr - 10.0) < 0.5
    wet = render.apply_condition(clean, render.EVAL_CONDITIONS["reverb"], rng)
    assert wet.shape == clean.shape and np.isfinite(wet).all()
    clipped = render.apply_condition(clean, render.Condition(clip_db=6.0), rng)
    assert np.abs(clipped).max() <= 1.0 and np.mean(np.abs(clipped) >= 0.999) > 0.2
    for _ in range(20):
        condition = render.random_condition(rng)
        out = render.apply_condition(clean, condition, rng)
        assert out.shape == clean.shape and np.isfinite(out).all()


def test_singing_bends_stay_within_their_limits():
    rng = np.random.default_rng(3)
    notes = [render.RenderNote(60 + i, i * 0.5, i * 0.5 + 0.45, 80) for i in range(8)]
    curve = render.singing_bends(notes, rng, detune_cents=45, vibrato_cents=(0, 60),
                                 slide_probability=0.0)
    values = np.array([v for _, v in curve])
    assert np.abs(values).max() <= 0.45 + 0.6 + 1e-6
    assert len(curve) > 8 * 40


def test_targets_mark_onsets_frames_and_bent_pitch():
    notes = np.array([[60, 0.5, 1.0, 100, 0], [64, 0.5, 1.5, 50, 1]], np.float64)
    bends = np.zeros((2, 120), np.float32)
    targets.bend_frames([[], [(0.0, 0.3)]], 0.5, 1.5, bends)
    out = targets.session_targets(notes, bends, 120)
    key = 60 - LOWEST_MIDI
    start = round(0.5 * FRAMES_PER_SECOND)
    assert out["onset"][start, key] == 1 and out["onset"].sum() == 2
    assert out["frame"][start:round(1.0 * FRAMES_PER_SECOND), key].all()
    assert out["velocity"][start, key] == 100
    sounding = sorted(float(p) for p in out["pitch"][start + 3] if not np.isnan(p))
    assert sounding == pytest.approx([60.0, 64.3], abs=0.02)  # stored as float16
    contour = targets.contour_target(out["pitch"][start + 3:start + 4])
    assert contour[0].argmax() in ((60 - LOWEST_MIDI) * 3 + 1, (64 - LOWEST_MIDI) * 3 + 2)
    assert contour[0, (64 - LOWEST_MIDI) * 3 + 2] > 0.9
