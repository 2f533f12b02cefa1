"""Fuzzing: mutated MIDI files, random melodies and random model output.

Every input either loads or raises ComposerError: the reader, the corpus
builder's per-file work, the melody tokenizer's round trip and the decoders
of model output (melody notes from any ids; the constrained chorale decoder
driven by an untrained network). CI runs a few hundred mutated files through
the same worker pool as `composer bench fuzz` (which runs 10,000).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composer.core.song import Note, Song, TimeSignature, Track
from composer.errors import ComposerError
from composer.io.midi_file import song_to_midi_bytes
from composer.io.tokens import build_tokenizer, decode_notes, encode_melody
from composer.services import fuzz_bench
from corpora.midi_folder import tokenize_file

TOKENIZER = build_tokenizer()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_small_fuzz_run_has_no_crash_and_no_hang(tmp_path):
    report = fuzz_bench.run_fuzz(files=300, folder=tmp_path / "fuzz", workers=2, time_limit=60,
                                 harmony_every=10)
    assert report["files"] == 300
    assert report["crashes"] == 0, report["crash_list"]
    assert report["hangs"] == 0, report["hang_list"]
    assert report["mismatches"] == 0, report["mismatch_list"]
    for target in ("read", "corpus", "decode"):
        assert sum(report["targets"][target].values()) == 300
    # Mutants both load and fail: the fuzzer reaches past the header checks.
    assert report["targets"]["read"]["ok"] > 100 and report["targets"]["read"]["error"] > 5
    assert report["targets"]["harmony"]["ok"] > 10
    names = {p.name for p in (tmp_path / "fuzz").iterdir()}
    assert {f"absurd-{n}.mid" for n in fuzz_bench.absurd_files()} <= names
    # Generated once: a second run reuses the files.
    assert fuzz_bench.make_fuzz_corpus(300, folder=tmp_path / "fuzz")[5].exists()


@FAST
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, 5))
def test_mutated_files_load_or_give_a_clear_reason(tmp_path_factory, seed, which):
    from composer.io.midi_file import read_midi

    rng = np.random.default_rng(seed)
    seeds = fuzz_bench.structural_seeds(np.random.default_rng(which))
    path = Path(tmp_path_factory.mktemp("mutant")) / "mutant.mid"
    path.write_bytes(fuzz_bench.mutate(seeds[which], rng, seeds))
    try:
        song = read_midi(path)
    except ComposerError as err:
        assert err.message.startswith(str(path)) and "\n" not in err.message
    else:
        assert all(n.duration_ticks >= 1 for t in song.tracks for n in t.notes)
    result = tokenize_file(str(path))
    assert ("skip" in result and result["skip"]) or len(result["tokens"]) >= 2


def _line(draw_gaps: list[int], lengths: list[int], pitches: list[int]) -> tuple[Note, ...]:
    notes, tick = [], 0
    for gap, length, pitch in zip(draw_gaps, lengths, pitches, strict=False):
        tick += gap * 40
        notes.append(Note(pitch=pitch, start_tick=tick, duration_ticks=length * 40))
        tick += length * 40
    return tuple(notes)


@FAST
@given(gaps=st.lists(st.integers(0, 24), min_size=1, max_size=40),
       lengths=st.lists(st.integers(1, 48), min_size=40, max_size=40),
       pitches=st.lists(st.integers(24, 108), min_size=40, max_size=40),
       beats=st.sampled_from([2, 3, 4, 5]))
def test_melodies_on_the_grid_survive_the_tokenizer_exactly(gaps, lengths, pitches, beats):
    """Onsets and lengths on the 12-per-beat grid (up to four beats) come back unchanged."""
    notes = _line(gaps, lengths, pitches)
    song = Song(tracks=(Track("Melody", notes),), time_signatures=(TimeSignature(0, beats, 4),))
    decoded = decode_notes(TOKENIZER, encode_melody(TOKENIZER, song))
    assert [(n.pitch, n.start_tick, n.duration_ticks) for n in decoded] == \
        [(n.pitch, n.start_tick, n.duration_ticks) for n in notes]


@FAST
@given(st.lists(st.integers(0, 10**6), max_size=300))
def test_any_model_output_decodes_or_gives_a_clear_error(raw):
    ids = [i % len(TOKENIZER.vocab) for i in raw]
    try:
        notes = decode_notes(TOKENIZER, ids)
    except ComposerError:
        return
    assert all(0 <= n.pitch <= 127 and n.start_tick >= 0 and n.duration_ticks >= 1
               for n in notes)


@pytest.fixture(scope="module")
def untrained_chorale_model():
    fuzz_bench.start_worker()
    return fuzz_bench._STATE


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(pitches=st.lists(st.integers(55, 84), min_size=1, max_size=12),
       lengths=st.lists(st.sampled_from([3, 6, 9, 12, 24, 36]), min_size=12, max_size=12),
       seed=st.integers(0, 1000))
def test_the_chorale_decoder_writes_valid_notes_whatever_the_network_says(
        untrained_chorale_model, pitches, lengths, seed):
    from composer.ml.harmony_decode import harmonize_chorale

    state = untrained_chorale_model
    soprano = list(_line([0] * len(pitches), lengths, pitches))
    setting = harmonize_chorale(state["model"], state["hv"], state["chorale"], soprano,
                                (TimeSignature(0, 4, 4),), fuzz_bench_key(), temperature=1.0,
                                rng=np.random.default_rng(seed))
    assert setting.alto or setting.tenor or setting.bass
    end = max(n.end_tick for n in soprano)
    for voice in (setting.alto, setting.tenor, setting.bass):
        assert all(n.start_tick >= 0 and n.end_tick <= end + 480 for n in voice)
        assert all(a.end_tick <= b.start_tick for a, b in zip(voice, voice[1:], strict=False))


def fuzz_bench_key():
    from composer.core.song import KeySignature

    return KeySignature(0, 0)


def test_absurd_sizes_are_refused_quickly_and_in_little_memory(tmp_path):
    """A track claiming 2^32-1 bytes, events 2^28 ticks apart, a SysEx claiming 256 MB:
    each loads or is refused in a worker held to 512 MB and 60 s."""
    from corpora.workers import WorkerPool

    folder = tmp_path / "absurd"
    folder.mkdir()
    names = [n for n in fuzz_bench.absurd_files() if n != "five-million-notes"]
    for name in names:
        (folder / f"{name}.mid").write_bytes(fuzz_bench.absurd_files()[name])
    items = [(str(folder / f"{n}.mid"), False) for n in names]
    pool = WorkerPool(fuzz_bench.check_file, workers=2, time_limit=60, memory_limit_mb=512,
                      initializer=fuzz_bench.start_worker)
    outcomes = {Path(item[0]).stem: outcome for item, outcome in pool.run(items)}
    assert set(outcomes) == set(names)
    for name, outcome in outcomes.items():
        assert outcome.status == "ok", (name, outcome)
        assert not any(r.startswith("crash") for r in outcome.value.values()), (name, outcome)
    assert outcomes["events-2^28-ticks-apart"].value["round_trip"].startswith(
        "error: the melody is")


def test_a_song_too_long_for_the_tokenizer_is_a_clear_error():
    song = Song(tracks=(Track("Melody", (Note(pitch=60, start_tick=0, duration_ticks=480),
                                         Note(pitch=62, start_tick=480 * 4 * 20_000,
                                              duration_ticks=480))),))
    with pytest.raises(ComposerError, match="20,001 bars long"):
        encode_melody(TOKENIZER, song)
    assert len(song_to_midi_bytes(song)) < 200
