"""The held-out rule: test and valid pieces never reach train, proven against the list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from composer.core import ops
from composer.core.song import Note, Song, Track
from composer.paths import REPO_ROOT
from corpora import music21_corpus
from corpora.heldout import SPLITS, folk_rule_split, load_heldout, soprano_signature
from corpora.music21_corpus import chorale_jobs, clean_abc, folk_jobs, has_free_meter
from corpora.store import Piece, load_pieces, read_manifest

SHARED_HELDOUT = REPO_ROOT.parent / "shared" / "corpus" / "heldout.json"
REPO_HELDOUT = REPO_ROOT / "corpora" / "heldout.json"


@pytest.fixture(scope="module")
def folk_ids() -> list[str]:
    return [job.id for job in folk_jobs()]


@pytest.fixture(scope="module")
def chorale_ids() -> list[str]:
    return [job.id for job in chorale_jobs()]


def test_repo_copy_equals_the_shared_list():
    ours = json.loads(REPO_HELDOUT.read_text())
    if SHARED_HELDOUT.exists():  # on the build machines; a clean clone has only the copy
        assert ours == json.loads(SHARED_HELDOUT.read_text())
        assert REPO_HELDOUT.read_bytes() == SHARED_HELDOUT.read_bytes()
    assert set(ours) >= {"test", "valid", "transcription_test", "pop909", "counts"}
    heldout = load_heldout()
    assert not heldout.test_folk & heldout.valid_folk
    assert not heldout.test_chorales & heldout.valid_chorales
    assert not heldout.test_pop909 & heldout.valid_pop909


def test_heldout_was_made_for_this_music21(folk_ids):
    import music21

    assert load_heldout().music21_version == music21.__version__
    assert len(folk_ids) == len(set(folk_ids))  # ids are unique


def test_folk_lists_are_the_sha256_rule_over_every_tune(folk_ids):
    heldout = load_heldout()
    by_rule = {split: {i for i in folk_ids if folk_rule_split(i) == split} for split in SPLITS}
    assert heldout.test_folk == by_rule["test"]
    assert heldout.valid_folk == by_rule["valid"]
    counts = json.loads(REPO_HELDOUT.read_text())["counts"]["folk"]
    assert {split: len(ids) for split, ids in by_rule.items()} == counts


def test_split_assignment_of_every_folk_tune(folk_ids):
    heldout = load_heldout()
    for tune_id in folk_ids:
        assert heldout.folk_split(tune_id) == folk_rule_split(tune_id)


def test_split_assignment_of_every_chorale(chorale_ids):
    heldout = load_heldout()
    assert heldout.test_chorales | heldout.valid_chorales <= set(chorale_ids)
    counts = {split: 0 for split in SPLITS}
    for chorale_id in chorale_ids:
        split = heldout.chorale_split(chorale_id)
        counts[split] += 1
        assert (split == "test") == (chorale_id in heldout.test_chorales)
        assert (split == "valid") == (chorale_id in heldout.valid_chorales)
    assert counts == json.loads(REPO_HELDOUT.read_text())["counts"]["chorales"]


def test_transcription_rendering_excludes_every_heldout_piece(folk_ids, chorale_ids):
    heldout = load_heldout()
    for piece_id in folk_ids + chorale_ids:
        allowed = heldout.may_render_for_transcription(piece_id)
        listed = piece_id in (heldout.test_folk | heldout.valid_folk | heldout.test_chorales
                              | heldout.valid_chorales | heldout.transcription_test)
        assert allowed == (not listed)


def _chorale(piece_id: str, soprano: list[int]) -> Piece:
    voices = tuple(
        Track(name, tuple(Note(pitch=p - 7 * i, start_tick=480 * k, duration_ticks=480)
                          for k, p in enumerate(soprano)), channel=i)
        for i, name in enumerate(("Soprano", "Alto", "Tenor", "Bass"))
    )
    return Piece(piece_id, "bach", Song(tracks=voices))


def test_a_chorale_repeating_a_heldout_soprano_is_kept_out_of_train():
    heldout = load_heldout()
    test_id = sorted(heldout.test_chorales)[0]
    valid_id = sorted(heldout.valid_chorales)[0]
    tune, other = [67, 69, 71, 72, 71, 69, 67], [60, 59, 57, 55, 57, 59, 60]
    parsed = {
        "folk": [],
        "chorales": [
            _chorale(test_id, tune),
            _chorale("bach/train-a", [p + 5 for p in tune]),  # same tune, another key
            _chorale(valid_id, other),
            _chorale("bach/train-b", other),
            _chorale("bach/train-c", [60, 64, 67, 72]),
        ],
    }
    splits, regrouped = music21_corpus._assign_splits(parsed, heldout)
    ids = {split: {p.id for p in pieces} for split, pieces in splits["chorales"].items()}
    assert ids == {"test": {test_id}, "valid": {valid_id, "bach/train-a", "bach/train-b"},
                   "train": {"bach/train-c"}}
    assert regrouped == [
        {"id": "bach/train-a", "split": "valid", "same_soprano_as": test_id},
        {"id": "bach/train-b", "split": "valid", "same_soprano_as": valid_id},
    ]
    assert soprano_signature(tune) == soprano_signature([p + 5 for p in tune])


# Real pieces, parsed by the real builder: held-out folk tunes and chorales of
# each split, a chorale whose soprano repeats a test chorale's (BWV 154.8 and
# 70.11), a tune with a grace note inside a triplet, and a free-meter tune.
BUILD_IDS = {
    "essenFolksong/altdeu10.abc#1": "train",
    "essenFolksong/altdeu10.abc#2": "train",  # M: none
    "essenFolksong/altdeu10.abc#11": "valid",
    "essenFolksong/altdeu10.abc#20": "test",
    "oneills1850/1376-1475.abc#1463": "train",  # (3{d}cBc
    "bach/bwv2.6": "train",
    "bach/bwv6.6": "test",
    "bach/bwv9.7": "valid",
    "bach/bwv70.11": "test",
    "bach/bwv154.8": "valid",  # listed as train; repeats the soprano of 70.11
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMPOSER_CACHE_DIR", str(cache))
        manifest = music21_corpus.build(processes=2, only=set(BUILD_IDS), name="heldout-check")
        pieces = {(kind, split): load_pieces("heldout-check", kind, split)
                  for kind in ("folk", "chorales") for split in SPLITS}
        assert read_manifest("heldout-check") == manifest
    return {"manifest": manifest, "pieces": pieces, "cache": cache}


def test_builder_puts_pieces_only_in_their_splits(built):
    heldout = load_heldout()
    placed = {p.id: split for (kind, split), ps in built["pieces"].items() for p in ps}
    assert placed == BUILD_IDS
    for (kind, split), pieces in built["pieces"].items():
        for piece in pieces:
            if split == "train":
                assert piece.id not in heldout.test_folk | heldout.valid_folk
                assert piece.id not in heldout.test_chorales | heldout.valid_chorales
            elif kind == "folk":
                assert heldout.folk_split(piece.id) == split
    assert built["manifest"]["skipped"] == []
    assert built["manifest"]["regrouped"] == [
        {"id": "bach/bwv154.8", "split": "valid", "same_soprano_as": "bach/bwv70.11"}]
    assert built["manifest"]["free_meter"] == ["essenFolksong/altdeu10.abc#2"]


def test_built_pieces_have_the_promised_shape(built):
    for (kind, _), pieces in built["pieces"].items():
        for piece in pieces:
            song = piece.song
            if kind == "folk":
                assert [t.name for t in song.tracks] == ["Melody"]
            else:
                assert [t.name for t in song.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
            for track in song.tracks:
                assert ops.is_monophonic(track)
            assert song.time_signatures[0].tick == 0


def test_corpus_files_are_readable_by_others(built):
    for path in Path(built["cache"], "corpus", "heldout-check").iterdir():
        assert path.stat().st_mode & 0o044 == 0o044  # not owner-only


def test_clean_abc_moves_grace_notes_out_of_tuplets_and_drops_stray_header_lines():
    tune = ("X:1\nT:Tune\nN bars 13 and 21 are |f2ed| marked\nM:C|\nK:D\n"
            "(3{d}cBc d2 (3:2:3{ef}gfe|\n")
    assert clean_abc(tune) == "X:1\nT:Tune\nM:C|\nK:D\n{d}(3cBc d2 {ef}(3:2:3gfe|"
    plain = "X:2\nM:2/4\nK:G\n|: \"Am\"A2 (3ABc :|"
    assert clean_abc(plain) == plain
    assert has_free_meter("X:3\nM: none\nK:E\nA2") and not has_free_meter("X:4\nM:3/4\nK:E\nA2")


def test_a_damaged_corpus_cache_is_a_clear_error(tmp_path, monkeypatch):
    import gzip

    from composer.errors import ComposerError
    from corpora.store import corpus_dir, write_manifest, write_pieces

    monkeypatch.setenv("COMPOSER_CACHE_DIR", str(tmp_path))
    folder = corpus_dir("music21")
    folder.mkdir(parents=True)
    good = [_chorale("bach/a", [60, 62]), _chorale("bach/b", [64, 62])]
    write_pieces(folder / "chorales_train.jsonl.gz", good)
    assert load_pieces("music21", "chorales", "train") == good
    (folder / "chorales_valid.jsonl.gz").write_bytes(
        (folder / "chorales_train.jsonl.gz").read_bytes()[:-12])  # cut short
    (folder / "chorales_test.jsonl.gz").write_bytes(gzip.compress(b'{"id": "x"}\n'))
    (folder / "folk_train.jsonl.gz").write_bytes(b"not gzip at all")
    for split, kind in (("valid", "chorales"), ("test", "chorales"), ("train", "folk")):
        with pytest.raises(ComposerError, match="the cached corpus is damaged") as info:
            load_pieces("music21", kind, split)
        assert info.value.hint == "rebuild it: composer corpus build --source music21"
    with pytest.raises(ComposerError, match="has not been built"):
        load_pieces("music21", "folk", "valid")
    write_manifest("music21", {"counts": {}})
    assert read_manifest("music21") == {"counts": {}}
    (folder / "manifest.json").write_text("{")
    with pytest.raises(ComposerError, match="damaged"):
        read_manifest("music21")
