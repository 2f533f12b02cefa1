#!/usr/bin/env python
"""Train the Markov (PPM) melody baseline on the train split; write models/melody-markov/.

    .venv/bin/python scripts/train_markov.py

Uses the same pieces as the neural melody models (folk tunes and chorale
sopranos of the cached music21 corpus, train split only).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "models" / "melody-markov"))
    parser.add_argument("--pitch-order", type=int, default=5)
    parser.add_argument("--rhythm-order", type=int, default=4)
    args = parser.parse_args()

    from composer.io.atomic import atomic_write_bytes, atomic_write_text
    from composer.ml.checkpoint import library_versions
    from composer.ml.markov import MarkovMelodyModel
    from composer.ml.melody import melody_pieces, song_key
    from composer.paths import heldout_file

    started = time.monotonic()
    pieces = [(song, song_key(song)) for _, song, _ in melody_pieces("train")]
    model = MarkovMelodyModel.train(pieces, args.pitch_order, args.rhythm_order)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = model.to_bytes()
    atomic_write_bytes(out / "model.json.gz", raw)
    card = {
        "task": "melody",
        "arch": "markov",
        "description": "variable-order Markov baseline (interpolated PPM-C, escape method C), "
                       "like IDyOM's long-term model: pitch relative to the tonic and rhythm "
                       "(position in bar, duration, bars crossed) predicted from their own "
                       "histories; event probability is their product",
        "pitch_order": args.pitch_order,
        "rhythm_order": args.rhythm_order,
        "data": {
            "corpus": "music21", "trained_on": "train split only", "pieces": len(pieces),
            "notes": sum(len(s.tracks[0].notes) for s, _ in pieces),
            "heldout_file_sha256": hashlib.sha256(heldout_file().read_bytes()).hexdigest(),
        },
        "contexts": {"pitch": len(model.pitch.counts), "rhythm": len(model.rhythm.counts)},
        "wall_seconds": round(time.monotonic() - started, 1),
        "weights_sha256": hashlib.sha256(raw).hexdigest(),
        "weights_bytes": len(raw),
        "library_versions": library_versions(),
        "format": 1,
    }
    atomic_write_text(out / "card.json", json.dumps(card, indent=1))
    print(json.dumps({k: card[k] for k in ("data", "contexts", "wall_seconds", "weights_bytes")},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
