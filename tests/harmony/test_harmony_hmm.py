import json

import numpy as np
import pytest

from composer.analysis.beats import beat_grid
from composer.analysis.chord_labels import LabelledBeat
from composer.core.chords import ChordSymbol, parse_chord
from composer.core.song import TimeSignature
from composer.errors import ModelError
from composer.ml.hmm import ChordHMM, HMMConfig, KeyedSequence, label_agreement
from composer.paths import REPO_ROOT

PROGRESSION = ("C", "C", "F", "F", "G", "G", "C", "C", "Am", "Am", "Dm", "Dm", "G7", "G7", "C", "C")


def labelled(tonic: int, bars: int = 4) -> KeyedSequence:
    """Two chords a bar; the melody sounds the chord's root, then its third."""
    beats = beat_grid((TimeSignature(0, 4, 4),), 0, 1920 * bars)
    out = []
    for i, beat in enumerate(beats):
        chord = parse_chord(PROGRESSION[(i // 2) % len(PROGRESSION)]).transpose(tonic)
        tone = chord.pitch_classes[i % 2]
        out.append(LabelledBeat(beat, {tone: 1.5}, chord))
    return KeyedSequence(tonic, out)


def fitted(**config) -> ChordHMM:
    settings = {"min_state_beats": 1, **config}
    return ChordHMM.fit(HMMConfig(style="chords", **settings), [labelled(0, 16), labelled(7, 16)])


def decode_chords(model: ChordHMM, seq: KeyedSequence) -> list[ChordSymbol]:
    states = model.decode([lb.beat.position for lb in seq.beats], [lb.melody for lb in seq.beats],
                          seq.tonic_pc)
    return [model.chord_of(s, seq.tonic_pc) for s in states]


def test_the_hmm_learns_a_progression_and_decodes_it_in_another_key():
    model = fitted()
    seq = labelled(2)  # D major: never seen in training, same states relative to the tonic
    assert decode_chords(model, seq) == [lb.chord for lb in seq.beats]
    assert label_agreement(model, [seq])["chord_accuracy"] == 1.0


def test_rare_sevenths_fall_back_to_their_triad():
    model = fitted(min_state_beats=20)  # G7 (16 beats) is too rare alone, G with it (32) is not
    assert all(quality in ("maj", "min") for _, quality in model.states)
    assert model.state_of(parse_chord("G7"), 0) == model.state_of(parse_chord("G"), 0)


def test_sampling_is_seeded_and_cold_sampling_is_viterbi():
    model = fitted()
    seq = labelled(0)
    positions = [lb.beat.position for lb in seq.beats]
    melody = [lb.melody for lb in seq.beats]
    first = model.sample(positions, melody, 0, np.random.default_rng(5), temperature=1.5)
    assert first == model.sample(positions, melody, 0, np.random.default_rng(5), temperature=1.5)
    assert model.sample(positions, melody, 0, np.random.default_rng(5), 0.0) == \
        model.decode(positions, melody, 0)


def test_filtering_follows_the_melody():
    model = fitted()
    belief = model.filter_start()
    for i, pc in enumerate((0, 4, 7)):
        belief = model.filter_step(belief, 1, {pc: 1.5}, 0, first=i == 0)
    assert np.isclose(np.exp(belief).sum(), 1.0)
    assert model.chord_of(int(belief.argmax()), 0).triad == "maj"


def test_a_model_file_round_trips(tmp_path):
    model = fitted()
    model.save(tmp_path / "hmm.json")
    again = ChordHMM.load(tmp_path / "hmm.json")
    assert again.states == model.states and again.config == model.config
    assert np.allclose(again.log_trans, model.log_trans, atol=1e-6)
    seq = labelled(5)
    assert decode_chords(again, seq) == decode_chords(model, seq)
    assert HMMConfig.from_dict(model.config.to_dict()) == model.config


def test_bad_models_and_configs_are_refused(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        ChordHMM.load(tmp_path / "none.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot be read"):
        ChordHMM.load(tmp_path / "junk.json")
    data = fitted().to_dict()
    data["log_emit"] = data["log_emit"][:-1]
    (tmp_path / "cut.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="damaged"):
        ChordHMM.load(tmp_path / "cut.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ModelError, match="not a composer chord HMM"):
        ChordHMM.load(tmp_path / "other.json")
    for bad in ({"style": "jazz"}, {"qualities": ("maj9",)}, {"emission_weight": 0.0},
                {"min_state_beats": 0}):
        with pytest.raises(ValueError):
            HMMConfig(**bad)


@pytest.mark.parametrize("style", ["chorale", "chords"])
def test_the_shipped_models_load_with_their_cards(style):
    folder = REPO_ROOT / "models" / f"harmony-hmm-{style}"
    model = ChordHMM.load(folder / "hmm.json")
    card = json.loads((folder / "card.json").read_text())
    assert model.config.style == style and len(model.states) > 20
    assert card["training"]["labels"] and "train" in card["training"]["split"]
    assert card["valid"]["chord_accuracy"] > 0.25
    if style == "chords":
        assert "POP909" in card["credit"] and "MIT" in card["credit"]
