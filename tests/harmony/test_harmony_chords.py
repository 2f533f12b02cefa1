import pytest

from composer.core.chords import (
    QUALITY_INTERVALS,
    ChordSymbol,
    format_chord,
    match_chord,
    parse_chord,
    same_root,
    same_triad,
    spell_pitch_class,
)
from composer.core.song import KeySignature


@pytest.mark.parametrize("quality", list(QUALITY_INTERVALS))
@pytest.mark.parametrize("root", range(12))
def test_every_chord_round_trips_through_both_spellings(quality, root):
    for interval in QUALITY_INTERVALS[quality]:
        chord = ChordSymbol(root, quality, (root + interval) % 12)
        assert parse_chord(chord.format()) == chord
        assert parse_chord(chord.format(prefer_flats=True)) == chord
        assert parse_chord(chord.harte()) == chord


@pytest.mark.parametrize("text, root, quality, bass", [
    ("F#m7/C#", 6, "min7", 1),
    ("Bbmaj7", 10, "maj7", 10),
    ("Bm7b5", 11, "hdim7", 11),
    ("C:maj7", 0, "maj7", 0),
    ("F#:maj7/5", 6, "maj7", 1),
    ("Bb:sus4(b7)", 10, "7sus4", 10),
    ("Eb:min/b3", 3, "min", 6),
    ("A:hdim7", 9, "hdim7", 9),
    ("Gsus", 7, "sus4", 7),
    ("Ebm", 3, "min", 3),
])
def test_known_symbols_parse(text, root, quality, bass):
    assert parse_chord(text) == ChordSymbol(root, quality, bass)


def test_no_chord_is_none_both_ways():
    assert parse_chord("N") is None
    assert parse_chord("N.C.") is None
    assert format_chord(None) == "N"


@pytest.mark.parametrize("text", ["", "H7", "Cxyz", "C/H", "C:foo", "C:maj/13b", "7"])
def test_bad_symbols_are_refused_by_name(text):
    with pytest.raises(ValueError):
        parse_chord(text)


def test_bad_fields_are_refused():
    with pytest.raises(ValueError, match="quality"):
        ChordSymbol(0, "maj9")
    with pytest.raises(ValueError, match="root"):
        ChordSymbol(12)


def test_triad_classes_and_comparisons():
    assert parse_chord("G7").triad == "maj"
    assert parse_chord("Bm7b5").triad == "dim"
    assert parse_chord("Csus2").triad == "sus2"
    assert same_triad(parse_chord("Cmaj7"), parse_chord("C/E"))
    assert not same_triad(parse_chord("C"), parse_chord("Cm"))
    assert same_root(parse_chord("C"), parse_chord("Cm"))
    assert same_triad(None, None) and not same_triad(None, parse_chord("C"))


def test_pitch_classes_root_first():
    assert parse_chord("G7").pitch_classes == (7, 11, 2, 5)
    assert parse_chord("D/F#").transpose(2) == parse_chord("E/G#")


def test_matcher_names_plain_chords():
    assert match_chord({0: 1, 4: 1, 7: 1}) == ChordSymbol(0, "maj")
    assert match_chord({9: 1, 0: 1, 4: 1}, bass_pc=9) == ChordSymbol(9, "min")
    assert match_chord({7: 1, 11: 1, 2: 1, 5: 1}, bass_pc=7) == ChordSymbol(7, "7")
    assert match_chord({7: 1, 11: 1, 5: 1}, bass_pc=7) == ChordSymbol(7, "7")  # fifth left out
    assert match_chord({11: 1, 2: 1, 5: 1}, bass_pc=2) == ChordSymbol(11, "dim", 2)
    assert match_chord({}) is None


def test_matcher_uses_the_bass_to_settle_ambiguous_sets():
    weights = {2: 1, 5: 1, 9: 1, 0: 1}
    every = list(QUALITY_INTERVALS)
    assert match_chord(weights, bass_pc=2, qualities=every) == ChordSymbol(2, "min7")
    assert match_chord(weights, bass_pc=5, qualities=every) == ChordSymbol(5, "maj6")


def test_matcher_outweighs_a_passing_note():
    assert match_chord({0: 1.5, 4: 1.5, 7: 1.0, 2: 0.3}, bass_pc=0) == ChordSymbol(0, "maj")


@pytest.mark.parametrize("key, pc, name", [
    (KeySignature(0, -2, "minor"), 6, "F#"),  # G minor's leading tone
    (KeySignature(0, -2, "minor"), 3, "Eb"),
    (KeySignature(0, -5, "major"), 6, "Gb"),  # Db major's fourth
    (KeySignature(0, 6, "major"), 5, "E#"),   # F# major's seventh
    (KeySignature(0, 0, "major"), 10, "Bb"),
    (KeySignature(0, 0, "minor"), 8, "G#"),
])
def test_spelling_follows_the_key(key, pc, name):
    assert spell_pitch_class(pc, key) == name


def test_symbols_are_spelled_for_the_key():
    chord = ChordSymbol(2, "maj", 6)
    assert chord.format(key=KeySignature(0, -2, "minor")) == "D/F#"
    assert chord.format(prefer_flats=True) == "D/Gb"
