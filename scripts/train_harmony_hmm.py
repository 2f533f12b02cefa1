"""Train the harmonisation baseline HMMs and write them to models/.

    .venv/bin/python scripts/train_harmony_hmm.py [--style chorale|chords|both]

chorale: states and transitions from per-beat chord labels of the Bach
chorales' train split (labelled by our pitch-class-set matcher,
composer/analysis/chord_labels.py), emissions from the soprano.
chords: the same from POP909's train split (its own chord annotations, the
melody track as emissions), optionally plus the chorale labels.
The emission weight (and, for chords, whether the chorales help) is chosen on
the valid split; the test split is never read here.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from composer.analysis.chord_labels import label_chorale, label_lead_sheet  # noqa: E402
from composer.analysis.keys import melody_key, signature_tonic  # noqa: E402
from composer.core.chords import LABEL_QUALITIES, QUALITY_INTERVALS  # noqa: E402
from composer.io.atomic import atomic_write_text  # noqa: E402
from composer.ml.hmm import (  # noqa: E402
    ChordHMM,
    HMMConfig,
    KeyedSequence,
    keyed_sequence,
    label_agreement,
)
from composer.paths import models_dir  # noqa: E402
from corpora import pop909  # noqa: E402
from corpora.store import load_pieces  # noqa: E402

EMISSION_WEIGHTS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
CHORALE_LABELS = (
    "per beat, our pitch-class-set matcher over all four voices: each note adds the fraction "
    "of the beat it sounds (plus half a beat if it sounds on the beat) to its pitch class; the "
    "triad or seventh chord (maj, min, dim, aug, 7, maj7, min7, hdim7, dim7) that best explains "
    "those weights wins, with a bonus for the root in the bass "
    "(composer/analysis/chord_labels.py)")
POP909_LABELS = ("POP909's own chord annotations (chord_midi.txt, Harte labels), read at each beat "
                 "after quantising melody and chords onto the annotated beats (corpora/pop909.py)")


def chorale_sequences(split: str) -> list[KeyedSequence]:
    pieces = load_pieces("music21", "chorales", split)
    return [keyed_sequence(p.song, label_chorale(p.song)) for p in pieces]


def pop_sequences(split: str, key_from_melody: bool) -> list[KeyedSequence]:
    out = []
    for piece in pop909.load_split(split):
        beats = label_lead_sheet(piece.song)
        if not beats:
            continue
        if key_from_melody:  # as at inference: only the melody is known
            key, _ = melody_key(piece.song.tracks[0].notes, None)
            out.append(KeyedSequence(signature_tonic(key), beats))
        else:
            out.append(keyed_sequence(piece.song, beats))
    return out


def versions() -> dict[str, str]:
    import numpy

    import composer

    return {"python": platform.python_version(), "composer": composer.__version__,
            "numpy": numpy.__version__}


def train(style: str, out_dir: Path) -> dict:
    started = time.monotonic()
    if style == "chorale":
        train_sets = {"chorales": chorale_sequences("train")}
        valid = chorale_sequences("valid")
        qualities = LABEL_QUALITIES
        data = {"corpus": "Bach chorales (BWV) from the music21 corpus",
                "split": "train of corpora/heldout.json (test and valid chorales never read)",
                "pieces": len(train_sets["chorales"]), "labels": CHORALE_LABELS}
        options = [("chorales",)]
    else:
        train_sets = {"pop909": pop_sequences("train", key_from_melody=False),
                      "chorales": chorale_sequences("train")}
        valid = pop_sequences("valid", key_from_melody=True)
        qualities = tuple(QUALITY_INTERVALS)
        data = {"corpus": pop909.CREDIT,
                "split": "train of the 'pop909' lists in corpora/heldout.json",
                "pieces": len(train_sets["pop909"]), "labels": POP909_LABELS,
                "chorale_labels": CHORALE_LABELS}
        options = [("pop909",), ("pop909", "chorales")]
    best = None
    tried = []
    for sources in options:
        sequences = [s for name in sources for s in train_sets[name]]
        for weight in EMISSION_WEIGHTS:
            config = HMMConfig(style=style, qualities=tuple(qualities), emission_weight=weight)
            model = ChordHMM.fit(config, sequences)
            score = label_agreement(model, valid)
            tried.append({"sources": list(sources), "emission_weight": weight, **score})
            print(f"{style}: {'+'.join(sources):17s} emission_weight {weight:<4} "
                  f"valid chord accuracy {score['chord_accuracy']:.3f} "
                  f"root {score['root_accuracy']:.3f}", flush=True)
            if best is None or score["chord_accuracy"] > best[0]["chord_accuracy"]:
                best = (score, sources, model)
    assert best is not None
    score, sources, model = best
    data["sources"] = list(sources)
    data["beats"] = sum(len(s.beats) for name in sources for s in train_sets[name])
    card = {
        "name": f"harmony-hmm-{style}",
        "kind": "chord HMM (composer/ml/hmm.py)",
        "style": style,
        "config": model.config.to_dict(),
        "states": len(model.states),
        "training": data,
        "selection": {"on": "valid split, per-beat root+triad agreement with the labels (Viterbi)",
                      "tried": tried},
        "valid": score,
        "seconds": round(time.monotonic() - started, 1),
        "library_versions": versions(),
        "created": time.strftime("%Y-%m-%d"),
    }
    if style == "chords":
        card["credit"] = pop909.CREDIT
    model.card = dict(model.card, name=card["name"])
    out = out_dir / f"harmony-hmm-{style}"
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "hmm.json")
    atomic_write_text(out / "card.json", json.dumps(card, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out} ({len(model.states)} states; valid chord accuracy "
          f"{score['chord_accuracy']:.3f}, sources {'+'.join(sources)}, "
          f"emission weight {model.config.emission_weight})")
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", choices=("chorale", "chords", "both"), default="both")
    parser.add_argument("--out", type=Path, default=None, help="models folder (default: models/)")
    args = parser.parse_args()
    out = args.out or models_dir()
    for style in (("chorale", "chords") if args.style == "both" else (args.style,)):
        train(style, out)


if __name__ == "__main__":
    main()
