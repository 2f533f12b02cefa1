#!/usr/bin/env python
"""Evaluate the shipped transcription model and record the figures in its card.

    nice -n 10 .venv/bin/python scripts/transcription_eval.py [--limit N] [--no-card]

Runs the same evaluation as ``composer eval transcription`` (held-out chorales
and folk tunes rendered with the TimGM6mb soundfont, clean / noise / reverb),
prints the table, writes it to ``runs/transcription_eval.json`` and, unless
``--no-card`` or ``--limit`` is given, stores it under ``evaluation`` in
``models/transcription/card.json`` (the weights and their SHA-256 do not change).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from composer.paths import REPO_ROOT  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="pieces per set (a quick look; not recorded)")
    parser.add_argument("--no-card", action="store_true", help="do not update the model card")
    args = parser.parse_args()

    from composer.audio.checkpoint import update_card
    from composer.services.transcription_eval import evaluate_transcription

    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        if time.monotonic() - last[0] > 30:
            last[0] = time.monotonic()
            print(f"{time.strftime('%H:%M:%S')} {fraction:5.1%} {message}", flush=True)

    table = evaluate_transcription(limit=args.limit, progress=progress)
    out = REPO_ROOT / "runs" / "transcription_eval.json"
    out.parent.mkdir(exist_ok=True)
    from composer.io.atomic import atomic_write_text

    atomic_write_text(out, json.dumps(table, indent=1))
    for kind in ("poly", "mono"):
        print(kind)
        for condition, row in table[kind].items():
            print(f"  {condition:20s} F1 {row['f1']:.3f}  with offsets {row['f1_offset']:.3f}  "
                  f"P {row['precision']:.3f}  R {row['recall']:.3f}  ({row['pieces']} pieces)")
    print(json.dumps(table["about"], indent=1))
    if not args.no_card and args.limit is None:
        update_card(table)
        print("recorded in models/transcription/card.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
