#!/usr/bin/env python
"""Train the transcription network on rendered sessions, then ship it.

    nice -n 10 .venv/bin/python scripts/transcription_train.py [--minutes 150] [--ship]
        [--init-from models/transcription/model.pt --learning-rate 1e-3 --renders DIR]

Reads ``<cache>/transcription/renders/{train,dev}`` (made by
scripts/transcription_render.py), trains in ``runs/transcription/`` (resuming
from its ``state.pt`` if there is one), and with ``--ship`` picks the decoder thresholds on
the dev sessions and writes the best dev checkpoint to
``models/transcription/`` with its model card; then
scripts/transcription_tune_decode.py --fresh --write-card retunes the decoders
on audio made like the evaluation's, and scripts/transcription_eval.py adds
the evaluation figures.

With ``--mono`` a run (in ``runs/transcription-mono/`` by default; a warm
start from the shipped ``model.pt``) trains the single-line network, on crops
of single-line excerpts only, and ``--mono --ship`` writes it as
``models/transcription/mono.pt`` beside the general network.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from composer.paths import REPO_ROOT, cache_dir  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--renders", type=Path, default=cache_dir() / "transcription" / "renders")
    parser.add_argument("--run", type=Path,
                        help="the run's folder (runs/transcription, or runs/transcription-mono "
                             "with --mono)")
    parser.add_argument("--minutes", type=float, default=150.0, help="wall-clock budget")
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--init-from", type=Path,
                        help="start a new run from these weights (a shipped model.pt) "
                             "instead of random ones")
    parser.add_argument("--learning-rate", type=float,
                        help="peak learning rate (a warm start wants less than the default)")
    parser.add_argument("--mono", action="store_true",
                        help="train the single-line network (crops from single-line excerpts "
                             "only, scored on dev with the mono decoder); --ship writes it as "
                             "models/transcription/mono.pt")
    parser.add_argument("--weights", type=Path,
                        help="with --ship: these weights of the run instead of its best.pt "
                             "(say, a step chosen on the decoder tuner's dev audio)")
    parser.add_argument("--ship", action="store_true",
                        help="only write the best checkpoint of --run to models/transcription")
    args = parser.parse_args()

    import torch

    from composer.audio.checkpoint import save_checkpoint, save_mono_network
    from composer.audio.model import Transcriber, TranscriberConfig
    from composer.audio.training import TrainSettings, train, tune_decoding

    torch.set_num_threads(args.threads)
    if args.run is None:
        args.run = REPO_ROOT / "runs" / ("transcription-mono" if args.mono else "transcription")
    config = TranscriberConfig()
    if args.ship:
        from composer.audio.checkpoint import read_card

        summary = json.loads((args.run / "summary.json").read_text())
        model = Transcriber(TranscriberConfig.from_dict(summary["model"]))
        weights = args.weights or args.run / "best.pt"
        model.load_state_dict(torch.load(weights, weights_only=True))
        training = _card_training(summary, args.renders)
        if args.weights is not None:
            training["shipped_weights"] = weights.name
        # A warm start: say what the run started from.
        earlier = (read_card(Path(summary["init_from"]).parent)
                   if summary.get("init_from") else None)
        if args.mono:
            # The decoder settings stay the card's until the tuner retunes them.
            training["crops"] = "single-line excerpts only (settings.mono_share 1.0)"
            if earlier is not None:
                training["warm_start"] = {"from_sha256": earlier.get("sha256")}
            path = save_mono_network(model, training)
        else:
            decode, tuned = tune_decoding(model, args.renders / "dev", report=print)
            if earlier is not None:
                training["warm_start"] = {"from_sha256": earlier.get("sha256"),
                                          "earlier_training": earlier.get("training", {})}
            training["decode_tuning"] = {
                "on": "dev sessions: excerpts of train-split pieces set aside by hash, plus "
                      "train-split folk tunes no training session uses (render --dev-folk); "
                      "training soundfonts and augmentation", **tuned}
            path = save_checkpoint(model, training=training, decode=decode)
        print(f"wrote {path}")
        return 0
    settings = TrainSettings(max_minutes=args.minutes, max_steps=args.steps,
                             batch_size=args.batch, mono_share=1.0 if args.mono else 0.0,
                             **({"learning_rate": args.learning_rate}
                                if args.learning_rate is not None else {}))

    def report(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    summary = train(config, settings, args.renders / "train", args.renders / "dev", args.run,
                    report=report, init_from=args.init_from)
    report(f"done: {summary['steps']} steps in {summary['wall_seconds'] / 60:.1f} min; "
           f"best dev {summary['best']}")
    return 0


def _card_training(summary: dict, renders: Path) -> dict:
    """What the model card says about the data and the run."""
    sessions = sorted((renders / "train").glob("session_*.npz"))
    plan = {"chorales": 0, "palestrina": 0, "folk": 0, "sung": 0, "soundfonts": {}}
    import numpy as np

    for path in sessions:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
        plan["soundfonts"][meta["soundfont"]] = plan["soundfonts"].get(meta["soundfont"], 0) + 1
        for excerpt in meta["excerpts"]:
            source = excerpt["source"]
            kind = ("chorales" if source.startswith("bach/") else
                    "palestrina" if source.startswith("palestrina/") else "folk")
            plan[kind] += 1
            plan["sung"] += int(excerpt["sung"])
    return {
        "data": {
            "source": "music21 corpus train split rendered with FluidSynth "
                      "(scripts/transcription_render.py)",
            "excluded": "test and valid pieces and heldout.json transcription_test chorales "
                        "(composer.audio.render.check_renderable)",
            "soundfonts": ["FluidR3_GM.sf2", "MuseScore_General.sf3"],
            "train_hours": summary["train_hours"],
            "train_sessions": summary["train_sessions"],
            "dev_minutes": summary["dev_minutes"],
            "excerpts": plan,
            "augmentation": "noise (white to brown, 8-35 dB SNR), synthetic room reverb "
                            "(RT60 0.3-2 s), FluidSynth reverb/chorus, bell EQ +-9 dB, gain "
                            "-24..0 dB, clipping, ensemble detuning +-40 cents, sung lines "
                            "(+-45 cents, vibrato, slides), 1/3-semitone shifts",
        },
        "split": "dev = train pieces with sha256(id) % 25 == 0 (never the evaluation pieces)",
        "settings": summary["settings"],
        "steps": summary["steps"],
        "wall_seconds": summary["wall_seconds"],
        "best_dev": summary["best"],
        "dev_history": summary["history"],
    }


if __name__ == "__main__":
    sys.exit(main())
