import numpy as np

from composer.analysis.beats import beat_grid
from composer.analysis.voice_leading import SATB_RANGES, analyse_voices
from composer.analysis.voicing import (
    VoicingBeat,
    candidates,
    chord_track_notes,
    chord_voicing,
    next_voicing,
    satb_beats,
    voice_satb,
    voices_to_notes,
)
from composer.core.chords import parse_chord
from composer.core.song import TimeSignature
from tests.harmony.builders import line

C, F, G, G7, AM, DM = (parse_chord(t) for t in ("C", "F", "G", "G7", "Am", "Dm"))


def voiced(chords, soprano_pitches):
    beats = beat_grid((TimeSignature(0, 4, 4),), 0, 480 * len(chords))
    soprano = line(soprano_pitches)
    plan = satb_beats(beats, chords, soprano)
    voicing = voice_satb(plan)
    return soprano, voices_to_notes(beats, chords, voicing, soprano), voicing


def test_a_progression_is_voiced_in_range_complete_and_without_parallels():
    chords = [C, F, DM, G7, C, AM, F, G, C]
    soprano, (alto, tenor, bass), voicing = voiced(chords, [72, 72, 74, 71, 72, 72, 69, 71, 72])
    for name, notes in (("Alto", alto), ("Tenor", tenor), ("Bass", bass)):
        low, high = SATB_RANGES[name]
        assert all(low <= n.pitch <= high for n in notes)
    sopranos = [72, 72, 74, 71, 72, 72, 69, 71, 72]
    for chord, pitches, s in zip(chords, voicing, sopranos, strict=True):
        pcs = {p % 12 for p in (s, *pitches)}
        tones = chord.pitch_classes
        assert {tones[0], tones[1]} <= pcs  # root and third are always there
        assert s > pitches[0] >= pitches[1] >= pitches[2]  # no crossing
    report = analyse_voices([soprano, alto, tenor, bass])
    assert report.parallels_per_100 == 0.0
    assert report.counts["crossing"] == 0 and report.counts["spacing"] == 0


def test_the_leading_tone_rises_in_a_cadence():
    # The soprano holds D over G7 -> C; whoever has the B must go to C.
    _, _, voicing = voiced([G7, C], [74, 72])
    (a1, t1, b1), (a2, t2, b2) = voicing
    for before, after in ((a1, a2), (t1, t2), (b1, b2)):
        if before % 12 == 11:
            assert after % 12 == 0 or before - after == 4


def test_held_notes_are_tied_and_silent_beats_rest():
    chords = [C, C, None, G]
    soprano, (alto, tenor, bass), voicing = voiced(chords, [67, 67, None, 67])
    assert voicing[2] is None
    assert all(not (960 <= n.start_tick < 1440) for n in (*alto, *tenor, *bass))
    assert bass[0].duration_ticks == 960  # held across the two C beats


def test_an_impossible_soprano_still_gets_a_voicing():
    rows, cost = candidates(C, 40)  # soprano far below every range: relaxed search, then stacking
    assert len(rows) >= 1 and len(rows) == len(cost)
    assert all(a < 40 and t <= a and b <= t for a, t, b in rows.tolist())


def test_next_voicing_moves_little():
    first = next_voicing(C, 72, None, None, None)
    second = next_voicing(F, 72, first, 72, C)
    assert sum(abs(a - b) for a, b in zip(first, second, strict=True)) <= 8
    assert {p % 12 for p in second} <= set(F.pitch_classes)


def test_close_and_open_chord_voicings():
    close = chord_voicing(parse_chord("Cmaj7"), None, ceiling=79)
    bass, *upper = close
    assert bass % 12 == 0 and 36 <= bass <= 52
    assert upper[-1] - upper[0] < 12 and {p % 12 for p in upper} == {4, 7, 11}
    spread = chord_voicing(C, None, ceiling=79, position="open")
    assert spread[-1] - spread[1] > 12
    inverted = chord_voicing(parse_chord("C/E"), None, ceiling=79)
    assert inverted[0] % 12 == 4


def test_chord_voicings_stay_under_the_melody_and_move_smoothly():
    previous = None
    for chord in (C, AM, F, G, C):
        voicing = chord_voicing(chord, previous, ceiling=74)
        assert max(voicing) < 74
        if previous:
            moves = [abs(a - b) for a, b in zip(sorted(previous[1:]), voicing[1:], strict=True)]
            assert sum(moves) <= 7
        previous = voicing


def test_chord_track_holds_chords_and_restrikes_each_bar():
    beats = beat_grid((TimeSignature(0, 4, 4),), 0, 480 * 8)
    chords = [C] * 6 + [G, None]
    notes = chord_track_notes(beats, chords, line([76] * 8))
    starts = sorted({n.start_tick for n in notes})
    assert starts == [0, 1920, 2880]  # bar 1, bar 2, the G
    assert max(n.end_tick for n in notes) == 3360  # nothing sounds over the last, chordless beat
    assert {n.pitch % 12 for n in notes if n.start_tick == 0} == {0, 4, 7}


def test_voicing_plan_reads_the_soprano_on_and_across_the_beat():
    beats = beat_grid((TimeSignature(0, 4, 4),), 0, 960)
    soprano = line([72, 74, 76, 77], duration=240)
    plan = satb_beats(beats, [C, G], soprano)
    assert plan[0] == VoicingBeat(C, 72, 74) and plan[1] == VoicingBeat(G, 76, 77)


def test_a_noisy_voicing_is_reproducible_and_still_clean():
    chords = [C, F, G, C, AM, DM, G, C]
    plan = satb_beats(beat_grid((TimeSignature(0, 4, 4),), 0, 480 * 8), chords,
                      line([72, 72, 71, 72, 72, 74, 74, 72]))
    one = voice_satb(plan, np.random.default_rng(1), noise=3.0)
    assert one == voice_satb(plan, np.random.default_rng(1), noise=3.0)
    alto, tenor, bass = ([(row[v] if row else None) for row in one] for v in range(3))
    soprano = [72, 72, 71, 72, 72, 74, 74, 72]
    report = analyse_voices([line(soprano), line(alto), line(tenor), line(bass)])
    assert report.parallels_per_100 == 0
