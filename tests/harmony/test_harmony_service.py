"""The harmonize service and the live harmoniser, with the shipped HMM."""

import threading

import pytest

from composer.analysis.beats import sounding_note
from composer.analysis.chord_labels import chord_events
from composer.analysis.voice_leading import SATB_RANGES, analyse_voices
from composer.core.ops import is_monophonic
from composer.core.song import DRUM_CHANNEL, KeySignature, Note, Song, Track
from composer.errors import Cancelled, InputFileError, InvalidArgumentError
from composer.services.harmonize import LiveHarmonizer, add_variation, harmonize
from tests.harmony.builders import TUNE, line, melody_song

# The HMM's own behaviour, whatever neural harmonisers models/ holds ("auto" picks
# the best installed one, which here is the HMM).
pytestmark = pytest.mark.usefixtures("hmm_only_models")


def atb(result, variation=0):
    return [t.notes for t in result.variations[variation]]


def test_chorale_style_adds_alto_tenor_bass_in_range_under_the_melody():
    song = melody_song()
    result = harmonize(song, style="chorale", variations=1, seed=1)
    tracks = result.variations[0]
    assert [t.name for t in tracks] == ["Alto", "Tenor", "Bass"]
    assert len({t.channel for t in tracks} | {song.tracks[0].channel}) == 4
    assert all(t.program == 52 and is_monophonic(t) and t.notes for t in tracks)
    for track in tracks:
        low, high = SATB_RANGES[track.name]
        assert all(low <= n.pitch <= high for n in track.notes)
    melody = song.tracks[0].notes
    for beat in range(len(TUNE)):
        soprano = sounding_note(melody, beat * 480).pitch
        below = [sounding_note(t.notes, beat * 480) for t in tracks]
        assert soprano >= below[0].pitch >= below[1].pitch >= below[2].pitch
    report = analyse_voices([melody, *atb(result)])
    assert report.parallels_per_100 == 0 and report.out_of_range == 0
    assert result.key.name == "C major" and len(result.chords[0]) == len(TUNE)


def test_chord_style_adds_a_playable_chord_track_with_symbols():
    result = harmonize(melody_song(), style="chords", variations=2, seed=4)
    for tracks in result.variations:
        (chords,) = tracks
        assert chords.name == "Chords" and chords.notes
        events = chord_events(chords)
        assert events and all(chord is not None for _, chord in events)
        assert events[0][0] == 0
        # every sounding chord note belongs to the chord symbol in force
        for note in chords.notes:
            symbol = [c for tick, c in events if tick <= note.start_tick][-1]
            assert note.pitch % 12 in symbol.pitch_classes


def test_the_same_seed_gives_the_same_notes_and_variation_one_is_the_best():
    song = melody_song()
    a = harmonize(song, variations=3, seed=11, temperature=1.2)
    b = harmonize(song, variations=3, seed=11, temperature=1.2)
    c = harmonize(song, variations=3, seed=12, temperature=1.2)
    assert a.variations == b.variations
    assert a.variations[0] == c.variations[0]  # the most likely setting does not depend on the seed
    assert len({tuple(n for t in v for n in t.notes) for v in a.variations}) == 3


def test_add_variation_appends_tracks():
    song = melody_song()
    result = harmonize(song, variations=2, seed=1)
    added = add_variation(song, result, 1)
    assert [t.name for t in added.tracks] == ["Melody", "Alto", "Tenor", "Bass"]
    with pytest.raises(InvalidArgumentError, match="no variation 3"):
        add_variation(song, result, 2)


@pytest.mark.parametrize("song, kwargs, error, text", [
    (Song(tracks=(Track("Drums", line([36, 38]), channel=DRUM_CHANNEL),)), {}, InputFileError,
     "only drum tracks"),
    (Song(tracks=(Track("Empty"),)), {}, InputFileError, "no notes"),
    (melody_song(), {"track_index": 3}, InvalidArgumentError, "no track 4"),
    (melody_song(), {"model": "transformer"}, InvalidArgumentError, "not trained yet"),
    (melody_song(), {"model": "gpt"}, InvalidArgumentError, "not a harmony model"),
    (melody_song(), {"style": "jazz"}, InvalidArgumentError, "unknown harmony style"),
    (melody_song(), {"temperature": 0.0}, InvalidArgumentError, "temperature"),
    (melody_song(), {"variations": 17}, InvalidArgumentError, "variations"),
    (melody_song(), {"seed": -1}, InvalidArgumentError, "seed"),
])
def test_bad_input_gets_one_clear_error(song, kwargs, error, text):
    with pytest.raises(error, match=text):
        harmonize(song, **kwargs)


def test_auto_takes_the_best_installed_model_for_the_style():
    from composer.services.harmony_models import available_models

    for style in ("chorale", "chords"):
        result = harmonize(melody_song(), style=style, variations=1, seed=2)
        assert result.model == available_models(style)[0] != "auto"


def test_an_unavailable_model_names_the_available_ones():
    with pytest.raises(InvalidArgumentError) as caught:
        harmonize(melody_song(), model="lstm", style="chords")
    assert "available: hmm" in caught.value.one_line()


def test_a_note_held_for_thousands_of_bars_is_refused_quickly():
    # what a corrupt file looks like: the fuzzer found one that kept harmonize busy 300 s
    song = Song(tracks=(Track("Melody", (*line([60, 62]), Note(pitch=64, start_tick=960, duration_ticks=480 * 4 * 4000))),))
    with pytest.raises(InputFileError, match="at most 4096 beats"):
        harmonize(song)


def test_a_drum_track_is_refused_when_chosen():
    song = melody_song()
    song = song.with_tracks([*song.tracks, Track("Kit", line([36]), channel=DRUM_CHANNEL)])
    with pytest.raises(InputFileError, match="drum track"):
        harmonize(song, track_index=1)
    assert harmonize(song, variations=1).melody_track == 0


def test_polyphonic_input_uses_the_top_line_and_says_so():
    chords = tuple(Note(pitch=p + d, start_tick=i * 480, duration_ticks=480)
                   for i, p in enumerate(TUNE) for d in (0, -5, -12))
    result = harmonize(Song(tracks=(Track("Piano", chords),)), variations=1, seed=0)
    assert any("top line" in m for m in result.messages)
    bass = result.variations[0][2].notes
    assert all(n.pitch < TUNE[n.start_tick // 480] for n in bass)


@pytest.mark.parametrize("octaves, lands_at", [(-3, 0), (3, 1)])
def test_a_melody_far_out_of_range_is_moved_in_and_back(octaves, lands_at):
    """Three octaves low comes up to the soprano range at TUNE's own octave; three
    octaves high comes down to one octave above it (still in range)."""
    song = melody_song([p + 12 * octaves for p in TUNE])
    result = harmonize(song, variations=1, seed=0)
    assert any(("low" if octaves < 0 else "high") in m and "moved the harmony back" in m
               for m in result.messages)
    in_range = harmonize(melody_song([p + 12 * lands_at for p in TUNE]), variations=1, seed=0)
    for moved, plain in zip(atb(result), atb(in_range), strict=True):
        assert [n.pitch - 12 * (octaves - lands_at) for n in moved] == [n.pitch for n in plain]


def test_a_melody_at_the_edge_of_midi_keeps_every_note_in_range():
    song = melody_song([p - 55 for p in TUNE])  # lowest note 5
    for style in ("chorale", "chords"):
        result = harmonize(song, style=style, variations=1, seed=0)
        assert all(0 <= n.pitch <= 127 for t in result.variations[0] for n in t.notes)


def test_odd_meters_get_their_beats_and_a_note():
    song = melody_song(TUNE, duration=240, meter=(7, 8))
    result = harmonize(song, variations=1, seed=0)
    assert any("7/8" in m and "2+2+2+1" in m for m in result.messages)
    starts = {n.start_tick % 1680 for n in result.variations[0][2].notes}  # 7/8 bars
    assert starts <= {0, 480, 960, 1440}


def test_pickups_rests_and_long_notes():
    # A pickup on beat 4, a bar of rest, and a note three bars long.
    pitches = [None, None, None, 67, 72, 71, 72, 74, None, None, None, None, 76]
    song = melody_song(pitches)
    song = song.replace_track(0, song.tracks[0].with_notes(
        [*song.tracks[0].notes[:-1], Note(pitch=72, start_tick=12 * 480, duration_ticks=12 * 480)]))
    chorale = harmonize(song, variations=1, seed=0)
    notes = [n for notes in atb(chorale) for n in notes]
    assert min(n.start_tick for n in notes) == 3 * 480  # nothing before the pickup
    assert not any(n.start_tick < 12 * 480 and n.end_tick > 8 * 480 for n in notes)  # the rest
    assert max(n.end_tick for n in notes) == 24 * 480
    chords = harmonize(song, style="chords", variations=1, seed=0)
    assert chords.variations[0][0].notes


def test_the_declared_key_is_used_when_the_melody_fits_it():
    song = melody_song(key=KeySignature(0, 0, "major"))
    assert harmonize(song, variations=1).messages == []
    wrong = melody_song([p + 1 for p in TUNE], key=KeySignature(0, 0, "major"))
    result = harmonize(wrong, variations=1)
    assert result.key.name == "Db major"
    assert any("says C major" in m for m in result.messages)


def test_cancel_stops_the_job():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        harmonize(melody_song(), cancel=cancel)


def test_progress_reaches_one():
    seen = []
    harmonize(melody_song(), variations=2, progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0


@pytest.mark.parametrize("style", ["chorale", "chords"])
def test_the_live_harmoniser_voices_each_note(style):
    live = LiveHarmonizer(style=style, model="hmm", key="C major")
    for pitch in TUNE:
        harmony = live.note_on(pitch, 90)
        assert 2 <= len(harmony) <= 4 and pitch not in harmony
        assert all(p < pitch for p in harmony)
        assert live.note_off(pitch) == harmony
    assert live.note_off(99) == []
    held = live.note_on(64)
    assert live.sounding() == sorted(held)
    assert live.note_on(64, 0) == held  # velocity 0 is a note off
    live.reset()
    assert live.sounding() == []


def test_the_live_harmoniser_follows_the_key_it_hears():
    live = LiveHarmonizer("chorale", "hmm")
    out = [live.note_on(p) for p in (62, 66, 69, 74, 73, 71, 69, 66, 62)]  # D major
    assert all(len(h) == 3 for h in out)
    last = {p % 12 for p in out[-1]} | {62 % 12}
    assert last <= {2, 6, 9}  # ends on a D major chord


def test_the_live_harmoniser_moves_extreme_notes_into_range_and_back():
    live = LiveHarmonizer("chorale", "hmm", key="C major")
    high = live.note_on(108)
    assert all(0 <= p < 108 for p in high)
    low = live.note_on(24)
    assert all(0 <= p <= 127 for p in low)


@pytest.mark.parametrize("key", ["H major", "C lydian", "C major minor"])
def test_the_live_harmoniser_refuses_a_bad_key(key):
    with pytest.raises(InvalidArgumentError, match="not a key"):
        LiveHarmonizer("chorale", "hmm", key=key)


def test_key_names_are_read():
    assert LiveHarmonizer("chords", "hmm", key="Em")._session.key.name == "E minor"
    assert LiveHarmonizer("chords", "hmm", key="Bb major")._session.key.name == "Bb major"


def test_open_voicing_spreads_the_chord_track():
    def spans(voicing):
        notes = harmonize(melody_song(), style="chords", variations=1, voicing=voicing,
                          seed=0).variations[0][0].notes
        by_start = {}
        for n in notes:
            by_start.setdefault(n.start_tick, []).append(n.pitch)
        return [sorted(p)[-1] - sorted(p)[1] for p in by_start.values()]  # above the bass

    assert max(spans("close")) < 12 <= min(spans("open"))
    with pytest.raises(InvalidArgumentError, match="voicing"):
        harmonize(melody_song(), style="chords", voicing="spread")


def test_auto_prefers_a_neural_model_only_once_its_card_beats_the_hmm(tmp_path, monkeypatch):
    import json
    import shutil
    from pathlib import Path

    from composer.services.capabilities import harmony_models
    from composer.services.harmony_models import best_model, clear_cache

    models = Path(__file__).resolve().parents[2] / "models"
    folder = tmp_path / "models"
    shutil.copytree(models / "harmony-hmm-chorale", folder / "harmony-hmm-chorale")
    neural = folder / "harmony-chorale-lstm"
    neural.mkdir()
    (neural / "model.pt").write_bytes(b"only its presence is looked at here")
    monkeypatch.setenv("COMPOSER_MODELS_DIR", str(folder))
    clear_cache()

    def card(lstm: float | None) -> None:
        rows = {"hmm": {"pc_agreement": 0.31}}
        if lstm is not None:
            rows["lstm"] = {"pc_agreement": lstm}
        (neural / "card.json").write_text(json.dumps({"eval": {"test_chorales": rows}}))

    for lstm, best in ((None, "hmm"), (0.28, "hmm"), (0.35, "lstm")):
        card(lstm)
        assert best_model("chorale") == best
        assert harmony_models("chorale")[0] == best and len(harmony_models("chorale")) == 2
