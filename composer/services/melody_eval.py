"""``composer eval melody``: the melody models on the held-out test split.

For folk tunes and chorale sopranos separately, per model:
- ``pitch_bits``: mean information content of each note's pitch (bits/note);
- ``event_bits``: of the whole note event (bar, position, pitch, duration);
- ``in_key``: share of generated pitches in the prompt's key, for 8-bar
  continuations of every test tune's first 4 bars (key lock off);
- ``duration_distance``: total-variation distance between the duration
  histogram of those continuations and that of the test set (0 = identical).
Plus infilling: pitch bits of two held-out middle bars given both sides vs
given the left side only (neural models; the Markov model only looks back).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from composer.core import ops
from composer.core.song import PPQ, Note, Song
from composer.services.jobs import Progress, check_cancel, no_progress

GROUPS = ("folk", "chorale_soprano")
NEURAL = ("transformer", "lstm")
PROMPT_BARS, CONTINUATION_BARS = 4, 8


def test_pieces(limit: int | None = None) -> dict[str, list[tuple[str, Song]]]:
    """Test-split melodies by group, keeping those the tokenizer can encode."""
    from composer.errors import ComposerError
    from composer.io.tokens import MELODY_PARAMS, build_tokenizer, encode_melody
    from composer.ml.melody import melody_pieces

    tokenizer = build_tokenizer(MELODY_PARAMS)
    groups: dict[str, list[tuple[str, Song]]] = {g: [] for g in GROUPS}
    for piece_id, song, source in melody_pieces("test"):
        try:
            if not encode_melody(tokenizer, song):
                continue
        except ComposerError:
            continue  # e.g. a 22/4 bar: same pieces are left out for every model
        if limit is None or len(groups[source]) < limit:
            groups[source].append((piece_id, song))
    return groups


def duration_histogram(notes: list[Note]) -> Counter:
    """Durations in twelfths of a quarter note (the tokenizer's grid)."""
    return Counter(max(1, round(n.duration_ticks * 12 / PPQ)) for n in notes)


def total_variation(a: Counter, b: Counter) -> float:
    total_a, total_b = sum(a.values()) or 1, sum(b.values()) or 1
    return 0.5 * sum(abs(a[k] / total_a - b[k] / total_b) for k in set(a) | set(b))


def _bits(model_name: str, songs: list[tuple[str, Song]]) -> tuple[float, float, int]:
    from composer.ml.melody import score_sequence, song_key
    from composer.services.models import melody_model

    generator = melody_model(model_name)
    pitch = event = 0.0
    notes = 0
    for _, song in songs:
        key = song_key(song)
        if model_name == "markov":
            p, e, n = generator.model.note_bits(song, key)
        else:
            from composer.io.tokens import encode_melody

            loaded = generator.loaded
            tokens = encode_melody(loaded.tokenizer, song)
            scored = score_sequence(loaded.model, loaded.vocab,
                                    [loaded.vocab.bos, loaded.vocab.key_token(key)], tokens,
                                    generator.block_size)
            p, e, n = scored.pitch_bits, scored.event_bits, scored.notes
        pitch, event, notes = pitch + p, event + e, notes + n
    return pitch / max(notes, 1), event / max(notes, 1), notes


def _continuations(model_name: str, songs: list[tuple[str, Song]],
                   cancel) -> tuple[float, Counter, int]:
    from composer.ml.melody import song_key
    from composer.services.generate import GenerationSettings, continue_melody, in_key_share

    in_key_notes = total = 0
    durations: Counter = Counter()
    for index, (_, song) in enumerate(songs):
        check_cancel(cancel)
        prompt = ops.slice_bars(song, 0, PROMPT_BARS - 1)
        if not prompt.note_count:
            continue
        settings = GenerationSettings(model=model_name, bars=CONTINUATION_BARS, seed=index)
        result = continue_melody(prompt, settings, track_index=0)
        notes = list(result.variations[0].notes)
        in_key_notes += round(in_key_share(notes, song_key(song)) * len(notes))
        total += len(notes)
        durations.update(duration_histogram(notes))
    return in_key_notes / max(total, 1), durations, total


def _infilling(model_name: str, songs: list[tuple[str, Song]]) -> dict[str, float]:
    """Pitch bits of two middle bars with both sides vs the left side only."""
    import numpy as np

    from composer.io.tokens import BAR, PITCH, encode_melody
    from composer.ml.melody import SUFFIX_BARS, song_key
    from composer.ml.sampling import token_log_probs
    from composer.services.models import melody_model

    loaded = melody_model(model_name).loaded
    vocab, kinds = loaded.vocab, np.asarray(loaded.vocab.kinds)
    both = left = 0.0
    notes = pieces = 0
    for _, song in songs:
        tokens = encode_melody(loaded.tokenizer, song)
        bars = [i for i, t in enumerate(tokens) if kinds[t] == BAR] + [len(tokens)]
        if len(bars) < 9:
            continue
        first = len(bars) // 2 - 1
        middle = tokens[bars[first]:bars[first + 2]]
        count = int(np.sum(kinds[np.asarray(middle, dtype=int)] == PITCH)) if middle else 0
        if count == 0:
            continue
        budget = loaded.card["model"]["block_size"] - len(middle) - 8
        suffix = tokens[bars[first + 2]:bars[min(first + 2 + SUFFIX_BARS, len(bars) - 1)]]
        prefix_start = next(b for b in bars if bars[first] - b <= budget - len(suffix))
        prefix = tokens[prefix_start:bars[first]]
        cond = [vocab.bos, vocab.key_token(song_key(song))]
        fim = (cond + prefix + [vocab.special("Hole")] + suffix
               + [vocab.special("FillStart")] + middle)
        plain = cond + prefix + middle
        for sequence, is_fim in ((fim, True), (plain, False)):
            bits = -token_log_probs(loaded.model, sequence)[-len(middle):]
            value = float(np.sum(bits[kinds[np.asarray(middle)] == PITCH]))
            if is_fim:
                both += value
            else:
                left += value
        notes += count
        pieces += 1
    return {"pitch_bits_both_sides": both / max(notes, 1),
            "pitch_bits_left_only": left / max(notes, 1), "pieces": pieces, "notes": notes}


def evaluate_melody(models: list[str] | None = None, limit: int | None = None,
                    generate: bool = True, progress: Progress = no_progress,
                    cancel: threading.Event | None = None) -> dict[str, Any]:
    """The eval table as one dict (see the module docstring for the figures)."""
    from composer.services.generate import MODELS

    models = list(models or MODELS)
    groups = test_pieces(limit)
    reference = {g: duration_histogram([n for _, s in songs for n in s.tracks[0].notes])
                 for g, songs in groups.items()}
    table: dict[str, Any] = {g: {} for g in GROUPS}
    steps = len(models) * len(GROUPS) * (2 if generate else 1) + len(models)
    done = 0
    for name in models:
        for group in GROUPS:
            check_cancel(cancel)
            progress(done / steps, f"{name}: bits on {group}")
            pitch, event, notes = _bits(name, groups[group])
            row: dict[str, Any] = {"pitch_bits": round(pitch, 4), "event_bits": round(event, 4),
                                   "notes": notes, "pieces": len(groups[group])}
            done += 1
            if generate:
                progress(done / steps, f"{name}: continuations of {group}")
                in_key, durations, generated = _continuations(name, groups[group], cancel)
                row["in_key"] = round(in_key, 4)
                row["duration_distance"] = round(total_variation(durations, reference[group]), 4)
                row["generated_notes"] = generated
                done += 1
            table[group][name] = row
        if name in NEURAL:
            progress(done / steps, f"{name}: infilling")
            table.setdefault("infilling", {})[name] = {
                k: round(v, 4) if isinstance(v, float) else v
                for k, v in _infilling(name, groups["folk"] + groups["chorale_soprano"]).items()
            }
        done += 1
    progress(1.0, "done")
    return table



def write_cards(table: dict[str, Any]) -> None:
    """Record the figures in each evaluated model's card."""
    import json

    from composer.io.atomic import atomic_write_text
    from composer.services.models import model_dir

    models = {m for group in GROUPS for m in table[group]}
    for name in models:
        path = model_dir("melody", name) / "card.json"
        if not path.exists():
            continue
        card = json.loads(path.read_text())
        card["eval"] = {
            "split": "test (corpora/heldout.json)",
            **{group: table[group][name] for group in GROUPS if name in table[group]},
        }
        if name in table.get("infilling", {}):
            card["eval"]["infilling"] = table["infilling"][name]
        atomic_write_text(path, json.dumps(card, indent=1))
