"""The networks, configs, checkpoints and sampling (no corpus needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from composer.errors import ModelError
from composer.ml.checkpoint import build_model, load_checkpoint, save_checkpoint
from composer.ml.config import ModelConfig, TrainConfig
from composer.ml.sampling import generate

VOCAB = 40


def config(arch: str, **extra) -> ModelConfig:
    base = {"arch": arch, "vocab_size": VOCAB, "block_size": 32, "n_layer": 2, "n_head": 2,
            "n_embd": 32, "lstm_hidden": 48, "dropout": 0.0}
    return ModelConfig(**{**base, **extra})


@pytest.mark.parametrize("cls", [ModelConfig, TrainConfig])
def test_config_round_trips_through_json(cls):
    original = cls()
    assert cls.from_dict(json.loads(json.dumps(original.to_dict()))) == original


@pytest.mark.parametrize("bad, word", [
    ({"arch": "gru"}, "gru"), ({"n_embd": 30, "n_head": 4}, "30"), ({"dropout": 1.5}, "1.5"),
    ({"vocab_size": 0}, "vocab_size"), ({"positions": "sinusoid"}, "sinusoid"),
    ({"positions": "rotary", "n_embd": 30, "n_head": 2}, "even head size"),
])
def test_model_config_names_the_bad_value(bad, word):
    with pytest.raises(ValueError, match=word):
        ModelConfig(**bad)


def test_train_config_rejects_unknown_fields():
    with pytest.raises(ValueError, match="lr"):
        TrainConfig.from_dict({"lr": 0.1})


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_transformer_kv_cache_matches_full_forward(positions):
    torch.manual_seed(0)
    model = build_model(config("transformer", positions=positions).to_dict()).eval()
    idx = torch.randint(0, VOCAB, (3, 20))
    full, _ = model(idx)
    state = model.new_state(3)
    prefix, state = model.step(idx[:, :12], state)
    steps = [prefix]
    for t in range(12, 20):
        logits, state = model.step(idx[:, t:t + 1], state)
        steps.append(logits)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_rotary_lean_path_matches_the_modules():
    torch.manual_seed(3)
    model = build_model(config("transformer", positions="rotary").to_dict())
    idx = torch.randint(0, VOCAB, (2, 24))
    modules, _ = model.train()(idx)  # dropout 0: the module path, deterministic
    lean, _ = model.eval()(idx)
    assert torch.allclose(modules, lean, atol=1e-6)


def test_rotary_attention_scores_depend_on_offsets_only():
    # a query at m and a key at n score the same as at m + s and n + s: what lets a
    # small model learn "the frame before this one" once for every position
    from composer.ml.model import rotary_tables, rotate

    cos, sin = rotary_tables(config("transformer", positions="rotary", block_size=64))
    torch.manual_seed(4)
    q, k = torch.randn(16), torch.randn(16)

    def score(m: int, n: int) -> float:
        return float(rotate(q, cos[m], sin[m]) @ rotate(k, cos[n], sin[n]))

    for m, n, shift in ((9, 4, 30), (20, 20, 11), (5, 0, 50)):
        assert score(m, n) == pytest.approx(score(m + shift, n + shift), abs=1e-4)
    assert score(9, 4) != pytest.approx(score(9, 6), abs=1e-3)


def test_lstm_step_matches_full_forward():
    torch.manual_seed(0)
    model = build_model(config("lstm").to_dict()).eval()
    idx = torch.randint(0, VOCAB, (2, 15))
    full, _ = model(idx)
    state = model.new_state(2)
    pieces = []
    for t in range(15):
        logits, state = model.step(idx[:, t:t + 1], state)
        pieces.append(logits)
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5)


@pytest.mark.parametrize("arch, extra", [("transformer", {"positions": "learned"}),
                                         ("transformer", {"positions": "rotary"}),
                                         ("lstm", {})])
def test_trial_tokens_score_as_if_fed_and_the_committed_one_stays(arch, extra):
    # a search tries two tokens after the prompt and two after the first of them;
    # each trial's logits are those of feeding its path, and after committing one
    # path the model goes on as if that path alone had been fed
    torch.manual_seed(5)
    model = build_model(config(arch, **extra).to_dict()).eval()
    prompt, a, b, c, d, after = [1, 7, 3, 9, 2], 11, 12, 13, 14, 15

    def fed(tokens: list[int]) -> torch.Tensor:
        logits, _ = model(torch.tensor([tokens]))
        return logits[0, -1]

    with torch.no_grad():
        _, state = model.step(torch.tensor([prompt]), model.new_state(1))
        first, state = model.try_tokens(state, [a, b], [None, None])
        second, state = model.try_tokens(state, [c, d], [0, 0])
        expected = [fed(prompt + [a]), fed(prompt + [b]), fed(prompt + [a, c]),
                    fed(prompt + [a, d])]
        for got, want in zip([*first, *second], expected, strict=True):
            assert torch.allclose(got, want, atol=1e-5)
        state = model.commit_trial(state, 3)  # prompt + a + d
        logits, _ = model.step(torch.tensor([[after]]), state)
        assert torch.allclose(logits[0, -1], fed(prompt + [a, d, after]), atol=1e-5)


def test_transformer_refuses_more_than_its_context():
    model = build_model(config("transformer").to_dict())
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros(1, 33, dtype=torch.long))


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_tiny_model_overfits_one_batch(arch):
    torch.manual_seed(0)
    model = build_model(config(arch).to_dict())
    x = torch.randint(0, VOCAB, (4, 24))
    y = torch.roll(x, -1, dims=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        _, loss = model(x, y)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 < first


@pytest.mark.parametrize("arch, extra", [("transformer", {}), ("lstm", {}),
                                         ("transformer", {"positions": "rotary"})])
def test_checkpoint_reloads_to_identical_logits(tmp_path, arch, extra):
    torch.manual_seed(1)
    from composer.io.tokens import build_tokenizer

    tokenizer = build_tokenizer()
    model = build_model(config(arch, vocab_size=len(tokenizer), **extra).to_dict()).eval()
    save_checkpoint(tmp_path / "ckpt", model, {"task": "melody"}, tokenizer)
    loaded = load_checkpoint(tmp_path / "ckpt")
    idx = torch.randint(0, len(tokenizer), (2, 10))
    assert torch.equal(model(idx)[0], loaded.model(idx)[0])
    card = json.loads((tmp_path / "ckpt" / "card.json").read_text())
    assert card["library_versions"]["torch"] == torch.__version__
    assert len(loaded.vocab) == len(tokenizer)


def test_checkpoint_with_tampered_weights_is_refused(tmp_path):
    from composer.io.tokens import build_tokenizer

    tokenizer = build_tokenizer()
    model = build_model(config("lstm", vocab_size=len(tokenizer)).to_dict())
    save_checkpoint(tmp_path, model, {}, tokenizer)
    weights = tmp_path / "model.pt"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelError, match="SHA-256"):
        load_checkpoint(tmp_path)


def test_checkpoint_from_another_format_is_refused(tmp_path):
    from composer.io.tokens import build_tokenizer

    tokenizer = build_tokenizer()
    save_checkpoint(tmp_path, build_model(config("lstm", vocab_size=len(tokenizer)).to_dict()),
                    {}, tokenizer)
    card = json.loads((tmp_path / "card.json").read_text())
    card["format"] = 99
    (tmp_path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="format 99"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_warm_start_keeps_every_old_token_row_and_the_rest_of_the_weights(tmp_path, arch):
    from composer.io.tokens import MELODY_PARAMS, Vocabulary, build_tokenizer
    from composer.ml.checkpoint import warm_start

    torch.manual_seed(2)
    old_tokenizer = build_tokenizer()
    # A format that gained a special token: it sorts first, so every id moves.
    grown = build_tokenizer({**MELODY_PARAMS,
                             "special_tokens": ["Gained", *MELODY_PARAMS["special_tokens"]]})
    old_vocab, new_vocab = Vocabulary.of(old_tokenizer), Vocabulary.of(grown)
    assert len(new_vocab) == len(old_vocab) + 1
    old = build_model(config(arch, vocab_size=len(old_vocab)).to_dict())
    save_checkpoint(tmp_path / "old", old, {}, old_tokenizer)
    new = build_model(config(arch, vocab_size=len(new_vocab)).to_dict())
    fresh = new.tok_emb.weight[new_vocab.ids["Gained_None"]].clone()

    assert warm_start(new, tmp_path / "old", grown) == ["Gained_None"]
    old_state, new_state = old.state_dict(), new.state_dict()
    for name, index in old_vocab.ids.items():
        assert torch.equal(new.tok_emb.weight[new_vocab.ids[name]], old.tok_emb.weight[index])
    assert torch.equal(new.tok_emb.weight[new_vocab.ids["Gained_None"]], fresh)
    for name, tensor in old_state.items():
        if tensor.shape[0] != len(old_vocab):
            assert torch.equal(new_state[name], tensor), name
    # The same old sequence gives the same logits for every old token.
    idx = torch.tensor([[old_vocab.ids["BOS_None"], old_vocab.ids["Bar_None"]]])
    moved = torch.tensor([[new_vocab.ids["BOS_None"], new_vocab.ids["Bar_None"]]])
    order = [new_vocab.ids[name] for name, _ in sorted(old_vocab.ids.items(), key=lambda kv: kv[1])]
    assert torch.allclose(old.eval()(idx)[0], new.eval()(moved)[0][..., order], atol=1e-5)

    wider = build_model(config(arch, vocab_size=len(new_vocab), n_embd=48).to_dict())
    with pytest.raises(ModelError, match="another architecture or size"):
        warm_start(wider, tmp_path / "old", grown)


def test_missing_checkpoint_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nowhere")


class _EvenOnly:
    """A constraint allowing even tokens only, done after five tokens."""

    def __init__(self):
        self.done = False
        self.seen: list[int] = []

    def allowed(self):
        mask = np.zeros(VOCAB, dtype=bool)
        mask[::2] = True
        return mask

    def advance(self, token):
        self.seen.append(token)
        self.done = len(self.seen) == 5


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_generate_obeys_masks_and_repeats_with_the_same_seed(arch):
    torch.manual_seed(2)
    model = build_model(config(arch).to_dict()).eval()
    runs = [generate(model, [1, 2, 3], [_EvenOnly(), _EvenOnly()], temperature=1.5, seed=9)
            for _ in range(2)]
    assert runs[0] == runs[1]
    assert all(len(row) == 5 and all(t % 2 == 0 for t in row) for row in runs[0])
    other = generate(model, [1, 2, 3], [_EvenOnly(), _EvenOnly()], temperature=1.5, seed=10)
    assert other != runs[0]


def test_generation_without_cache_gives_the_same_tokens():
    torch.manual_seed(3)
    model = build_model(config("transformer").to_dict()).eval()
    cached = generate(model, [4, 5], [_EvenOnly()], temperature=1.0, seed=4)
    uncached = generate(model, [4, 5], [_EvenOnly()], temperature=1.0, seed=4, use_cache=False)
    assert cached == uncached
