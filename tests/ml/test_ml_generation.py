"""Continuation and infilling through the service, with tiny trained checkpoints.

The properties hold whatever the weights: output is monophonic, starts where
the prompt ends, stays inside whole bars, honours key lock and range, and
repeats with the same seed.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from composer.core.pitch import scale_pitch_classes
from composer.core.song import KeySignature, Note, Song, TimeSignature, Track
from composer.core.timing import BarGrid
from composer.errors import InvalidArgumentError
from composer.io.midi_file import write_midi
from composer.services.generate import (
    GenerationSettings,
    apply_continuation,
    continue_melody,
    infill_melody,
)
from tests.ml.conftest import tune

MODELS = ["transformer", "lstm", "markov"]


def settings(model: str, **extra) -> GenerationSettings:
    return GenerationSettings(**{"model": model, "bars": 2, "variations": 3, "seed": 5,
                                 "temperature": 1.0, **extra})


def assert_monophonic(notes):
    ordered = sorted(notes)
    assert all(a.end_tick <= b.start_tick for a, b in zip(ordered, ordered[1:]))


@pytest.mark.parametrize("model", MODELS)
def test_continuation_is_monophonic_and_fills_whole_bars(tiny_env, model):
    song = tune(bars=3)
    result = continue_melody(song, settings(model))
    grid = BarGrid.of(song)
    assert result.start_tick == song.end_tick == grid.bar_start_tick(3)
    assert result.end_tick == grid.bar_start_tick(5)
    assert len(result.variations) == 3
    for track in result.variations:
        assert track.notes, "every variation has notes"
        assert_monophonic(track.notes)
        assert track.notes[0].start_tick == result.start_tick, "starts where the prompt ends"
        assert all(result.start_tick <= n.start_tick and n.end_tick <= result.end_tick
                   for n in track.notes)


@pytest.mark.parametrize("model", MODELS)
def test_mid_bar_prompt_is_continued_from_its_last_note(tiny_env, model):
    song = tune(bars=2)
    cut = replace(song, tracks=(replace(song.tracks[0], notes=song.tracks[0].notes[:6]),))
    result = continue_melody(cut, settings(model, bars=1))
    grid = BarGrid.of(cut)
    assert result.start_tick == 6 * 480
    assert result.end_tick == grid.bar_start_tick(3)  # finish bar 2, then one more bar
    for track in result.variations:
        assert track.notes[0].start_tick == 6 * 480


@pytest.mark.parametrize("model", MODELS)
def test_same_seed_same_notes(tiny_env, model):
    song = tune(bars=2)
    first = continue_melody(song, settings(model, seed=11))
    again = continue_melody(song, settings(model, seed=11))
    other = continue_melody(song, settings(model, seed=12))
    assert [t.notes for t in first.variations] == [t.notes for t in again.variations]
    assert [t.notes for t in first.variations] != [t.notes for t in other.variations]


@pytest.mark.parametrize("model", MODELS)
def test_key_lock_and_range_hold(tiny_env, model):
    key = KeySignature(0, -3, "minor")  # C minor
    song = tune(bars=2, key=key)
    result = continue_melody(song, settings(model, key_lock=True, pitch_range=(60, 72),
                                            temperature=2.0, variations=4))
    allowed = scale_pitch_classes(key)
    notes = [n for t in result.variations for n in t.notes]
    assert notes
    assert all(n.pitch % 12 in allowed and 60 <= n.pitch <= 72 for n in notes)


@pytest.mark.parametrize("meter", [(3, 4), (6, 8), (2, 2), (5, 4)])
def test_other_meters_keep_the_bar_grid(tiny_env, meter):
    song = tune(bars=2, meter=meter)
    result = continue_melody(song, settings("transformer", bars=2))
    grid = BarGrid.of(song)
    assert result.end_tick == grid.bar_start_tick(4)
    for track in result.variations:
        assert all(n.end_tick <= result.end_tick for n in track.notes)


def test_long_prompts_are_cut_to_the_context(tiny_env):
    song = tune(bars=120)  # far more than the tiny models' 256-token context
    result = continue_melody(song, settings("transformer", bars=4, variations=1))
    assert result.start_tick == song.end_tick
    assert result.variations[0].notes


def test_polyphonic_prompt_uses_its_top_line(tiny_env):
    song = tune(bars=2)
    chords = list(song.tracks[0].notes) + [replace(n, pitch=n.pitch - 12) for n in song.tracks[0].notes]
    poly = replace(song, tracks=(song.tracks[0].with_notes(chords),))
    result = continue_melody(poly, settings("transformer"))
    assert any("top line" in m for m in result.messages)


def test_prompt_outside_the_models_range_is_moved_and_moved_back(tiny_env):
    song = tune(bars=2)
    high = replace(song, tracks=(song.tracks[0].with_notes(
        [replace(n, pitch=n.pitch + 55) for n in song.tracks[0].notes]),))
    result = continue_melody(high, settings("transformer", variations=1))
    assert any("octave" in m for m in result.messages)
    assert result.variations[0].notes


@pytest.mark.parametrize("song, message", [
    (Song(), "no notes"),
    (Song(tracks=(Track("Drums", (Note(pitch=36, start_tick=0, duration_ticks=120),), channel=9),)),
     "drum"),
])
def test_unusable_prompts_give_clear_messages(tiny_env, song, message):
    with pytest.raises(InvalidArgumentError, match=message):
        continue_melody(song, settings("transformer"))


def test_odd_meter_gives_a_clear_message(tiny_env):
    song = replace(tune(bars=2), time_signatures=(TimeSignature(0, 13, 8),))
    with pytest.raises(InvalidArgumentError, match="13/8"):
        continue_melody(song, settings("transformer"))


@pytest.mark.parametrize("extra, message", [
    ({"bars": 0}, "bars"), ({"model": "gpt"}, "unknown model"), ({"variations": 0}, "variations"),
    ({"top_p": 0.0}, "top-p"), ({"pitch_range": (70, 71)}, "narrow"),
])
def test_bad_settings_are_refused(extra, message):
    with pytest.raises(InvalidArgumentError, match=message):
        GenerationSettings(**extra)


@pytest.mark.parametrize("model", ["transformer", "lstm"])
def test_infill_regenerates_only_the_bar_range(tiny_env, model):
    song = tune(bars=6)
    result = infill_melody(song, 2, 3, settings(model, variations=2))
    grid = BarGrid.of(song)
    assert (result.start_tick, result.end_tick) == (grid.bar_start_tick(2), grid.bar_start_tick(4))
    for track in result.variations:
        assert_monophonic(track.notes)
        assert all(result.start_tick <= n.start_tick and n.end_tick <= result.end_tick
                   for n in track.notes)


def test_markov_declines_to_infill(tiny_env):
    with pytest.raises(InvalidArgumentError, match="Markov"):
        infill_melody(tune(bars=6), 2, 3, settings("markov"))


def test_infill_past_the_end_is_refused(tiny_env):
    with pytest.raises(InvalidArgumentError, match="past the end"):
        infill_melody(tune(bars=4), 5, 6, settings("transformer"))


def test_accepting_a_variation_extends_the_prompt_track(tiny_env):
    song = tune(bars=2)
    result = continue_melody(song, settings("lstm"))
    accepted = apply_continuation(song, result, 1)
    assert accepted.tracks[0].notes[:len(song.tracks[0].notes)] == song.tracks[0].notes
    assert set(result.variations[1].notes) <= set(accepted.tracks[0].notes)


def test_cli_continue_writes_one_track_per_variation(tiny_env, tmp_path):
    from composer.io.midi_file import read_midi

    write_midi(tune(bars=2), tmp_path / "in.mid")
    done = subprocess.run([sys.executable, "-m", "composer.cli", "continue", str(tmp_path / "in.mid"),
                           "-o", str(tmp_path / "out.mid"), "--bars", "2", "--variations", "3",
                           "--seed", "7", "--model", "lstm", "--key-lock", "--range", "C4:C6"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = read_midi(tmp_path / "out.mid")
    assert len(out.tracks) == 4


@pytest.mark.parametrize("args, message", [
    (["--bars", "0"], "--bars 0"), (["--model", "nope"], "unknown model"),
    (["--range", "C9:C2"], "--range"),
])
def test_cli_continue_bad_arguments_exit_2(tiny_env, tmp_path, args, message):
    write_midi(tune(bars=2), tmp_path / "in.mid")
    done = subprocess.run([sys.executable, "-m", "composer.cli", "continue", str(tmp_path / "in.mid"),
                           "-o", str(tmp_path / "out.mid"), *args], capture_output=True, text=True)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
