"""Command line: argument parsing and printing only; the work is in services.

``composer`` with no arguments opens the editor. Every failure a user can cause
prints one line on stderr and exits with code 2; nothing prints a traceback
(an unexpected internal error is logged to a file, named in the one line).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from composer import __version__
from composer.errors import Cancelled, ComposerError

EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Handler]] = []


def command(name: str, help_text: str, configure: Callable[[argparse.ArgumentParser], None]):
    """Register a subcommand: its name, one-line help, argument set-up and handler."""
    def register(handler: Handler) -> Handler:
        _COMMANDS.append((name, help_text, configure, handler))
        return handler
    return register


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and one line, as every other error does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def progress_bar(description: str) -> Callable[[float, str], None]:
    """A progress callback drawing a bar on stderr (silent when stderr is not a terminal)."""
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=description, unit="", leave=False, file=sys.stderr,
               disable=not sys.stderr.isatty(), bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def update(fraction: float, message: str) -> None:
        if fraction >= 0:
            bar.n = int(min(fraction, 1.0) * 1000)
        bar.set_postfix_str(message, refresh=False)
        bar.refresh()
        if fraction >= 1.0:
            bar.close()

    return update


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=1, ensure_ascii=False))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned text table (markdown-compatible, so it pastes into notes)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


# ----------------------------------------------------------------- commands


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a MIDI file, MusicXML, ABC, or composer project")
    p.add_argument("--json", action="store_true", help="print the same facts as JSON")


@command("info", "show tracks, notes, tempo, meter and key of a song file", _info_args)
def _info(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from composer.services.song_info import inspect_file

    info = inspect_file(args.file)
    if args.json:
        print_json(asdict(info))
        return 0
    print(f"{info.path}" + (f"  ({info.layout})" if info.layout else ""))
    if info.title:
        print(f"title:  {info.title}")
    minutes, seconds = divmod(info.seconds, 60)
    print(f"length: {info.bars} bars, {int(minutes)}:{seconds:04.1f}, {info.notes} notes")
    print(f"tempo:  {', '.join(f'{t:g}' for t in info.tempos_bpm)} BPM")
    print(f"meter:  {', '.join(info.meters)}")
    print(f"key:    {', '.join(info.keys) or 'none given'} (estimated from notes: {info.estimated_key})")
    print_table(["#", "track", "program", "channel", "notes", "range"],
                [[i + 1, t.name + (" [drums]" if t.is_drum else ""), t.program, t.channel, t.notes,
                  f"{t.lowest}-{t.highest}"] for i, t in enumerate(info.tracks)])
    for warning in info.warnings:
        print(f"note: {warning}")
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a MIDI file, MusicXML, ABC, or composer project")
    p.add_argument("-o", "--output", required=True, help="OUT.mid or OUT.musicxml")


@command("export", "write a song as type-1 MIDI or MusicXML", _export_args)
def _export(args: argparse.Namespace) -> int:
    from composer.services.export import export_file

    out = export_file(args.file, args.output)
    print(f"wrote {out}")
    return 0


def _corpus_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="corpus_command", required=True, parser_class=_Parser)
    build = sub.add_parser("build", help="build and cache a training corpus")
    build.add_argument("--source", default="music21",
                       help="'music21' (the corpus inside the music21 wheel), 'pop909' (chord-"
                       "labelled pop melodies) or a folder of MIDI files")
    build.add_argument("--name", default=None,
                       help="name of a folder's corpus, for `composer train --corpus NAME` "
                       "(default: the folder's name and a hash of its path)")
    build.add_argument("--workers", "--processes", dest="processes", type=int, default=None,
                       help="worker processes (default: all cores)")
    build.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    build.add_argument("--json", action="store_true", help="print the manifest as JSON")


@command("corpus", "build training corpora", _corpus_args)
def _corpus(args: argparse.Namespace) -> int:
    from composer.services.corpus import build_corpus

    manifest = build_corpus(args.source, processes=args.processes, limit=args.limit,
                            name=args.name, progress=progress_bar("reading"))
    if args.json:
        print_json(manifest)
        return 0
    rows = [[kind, c.get("train", 0), c.get("valid", 0), c.get("test", 0)]
            for kind, c in manifest["counts"].items()]
    print_table(["kind", "train", "valid", "test"], rows)
    skipped = manifest.get("skipped", [])
    print(f"built {manifest['name']} in {manifest['seconds']} s with {manifest['processes']} processes; "
          f"{len(skipped)} skipped")
    if "resumed" in manifest:
        duplicates = manifest.get("duplicates", [])
        print(f"  {manifest['tokenized']} files tokenized now, {manifest['resumed']} kept from an "
              f"earlier build; {len(duplicates)} duplicates kept once; "
              f"train with: composer train --corpus {manifest['name']} --task melody")
    for item in skipped[:20]:
        print(f"  skipped {item.get('id') or item.get('file')}: {item['reason']}")
    if len(skipped) > 20:
        print(f"  ... and {len(skipped) - 20} more (see manifest.json)")
    for item in manifest.get("regrouped", []):
        print(f"  kept out of train: {item['id']} repeats the soprano of {item['same_soprano_as']}"
              f" (put in {item['split']})")
    if manifest.get("free_meter"):
        print(f"  {len(manifest['free_meter'])} tunes are marked 'M: none' (no meter); they are "
              "kept with a stand-in 4/4 and listed in manifest.json")
    return 0



# ------------------------------------------------------------------ melody


def _generation_args(p: argparse.ArgumentParser, variations: int) -> None:
    p.add_argument("file", help="a song file holding the melody (MIDI, MusicXML, ABC, project)")
    p.add_argument("-o", "--output", required=True, help="OUT.mid or OUT.musicxml")
    p.add_argument("--model", default="transformer", help="transformer, lstm or markov")
    p.add_argument("--variations", type=int, default=variations)
    p.add_argument("--temperature", type=float, default=0.9)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=None, help="same seed, same notes")
    p.add_argument("--key-lock", action="store_true", help="only pitches of the prompt's key")
    p.add_argument("--range", dest="pitch_range", default=None, metavar="LOW:HIGH",
                   help="pitch range, e.g. C4:C6")
    p.add_argument("--track", type=int, default=None,
                   help="track number holding the melody (default: the first pitched track)")


def _continue_args(p: argparse.ArgumentParser) -> None:
    _generation_args(p, variations=4)
    p.add_argument("--bars", type=int, default=8, help="bars to add (default 8)")
    p.add_argument("--from-bar", type=int, default=None,
                   help="continue from the start of this bar (default: after the last note)")


def _settings(args: argparse.Namespace, bars: int):
    from composer.core.pitch import parse_range
    from composer.errors import InvalidArgumentError
    from composer.services.generate import GenerationSettings

    pitch_range = None
    if args.pitch_range:
        try:
            pitch_range = parse_range(args.pitch_range)
        except ValueError as err:
            raise InvalidArgumentError(f"--range: {err}") from err
    return GenerationSettings(model=args.model, bars=bars, variations=args.variations,
                              temperature=args.temperature, top_p=args.top_p, seed=args.seed,
                              key_lock=args.key_lock, pitch_range=pitch_range)


def _track_index(args: argparse.Namespace) -> int | None:
    return None if args.track is None else args.track - 1


@command("continue", "propose how a melody goes on (one track per variation)", _continue_args)
def _continue(args: argparse.Namespace) -> int:
    from composer.core.timing import BarGrid
    from composer.errors import InvalidArgumentError
    from composer.io.song_files import load_song
    from composer.services.export import export_song
    from composer.services.generate import continue_melody

    settings = _settings(args, args.bars)
    song = load_song(args.file)
    from_tick = None
    if args.from_bar is not None:
        if args.from_bar < 1:
            raise InvalidArgumentError(f"--from-bar {args.from_bar}: bars count from 1")
        from_tick = BarGrid.of(song).bar_start_tick(args.from_bar - 1)
    result = continue_melody(song, settings, track_index=_track_index(args), from_tick=from_tick,
                             progress=progress_bar("generating"))
    out = song.with_tracks(list(song.tracks) + list(result.variations))
    export_song(out, args.output)
    for message in result.messages:
        print(f"note: {message}")
    grid = BarGrid.of(song)
    first, last = grid.bar_and_beat(result.start_tick), grid.bar_at_tick(result.end_tick - 1) + 1
    print(f"wrote {args.output}: {len(result.variations)} variation track(s) from bar {first[0]} "
          f"beat {first[1]:g} to the end of bar {last}")
    return 0


def _infill_args(p: argparse.ArgumentParser) -> None:
    _generation_args(p, variations=1)
    p.add_argument("--bars", required=True, metavar="FIRST-LAST",
                   help="bars to regenerate, counted from 1, e.g. 5-6")


@command("infill", "regenerate a bar range of a melody so it leads into what follows", _infill_args)
def _infill(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from composer.errors import InvalidArgumentError
    from composer.io.song_files import load_song
    from composer.services.export import export_song
    from composer.services.generate import apply_infill, infill_melody

    try:
        first_text, _, last_text = args.bars.partition("-")
        first, last = int(first_text), int(last_text or first_text)
    except ValueError as err:
        raise InvalidArgumentError(f"--bars {args.bars!r} is not a range like 5-6") from err
    if first < 1 or last < first:
        raise InvalidArgumentError(f"--bars {args.bars}: give FIRST-LAST with 1 <= FIRST <= LAST")
    song = load_song(args.file)
    result = infill_melody(song, first - 1, last - 1, _settings(args, last - first + 1),
                           track_index=_track_index(args), progress=progress_bar("generating"))
    filled = [replace(apply_infill(song, result, i).tracks[result.track_index],
                      name=result.variations[i].name) for i in range(len(result.variations))]
    export_song(song.with_tracks(list(song.tracks) + filled), args.output)
    for message in result.messages:
        print(f"note: {message}")
    print(f"wrote {args.output}: {len(filled)} track(s) with bars {first}-{last} regenerated")
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="melody", help="melody, chorale or chords")
    p.add_argument("--model", default="transformer", choices=("transformer", "lstm"))
    p.add_argument("--corpus", default="music21",
                   help="'music21' or the name `composer corpus build --source DIR` printed")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--out", default=None, help="where the best checkpoint goes")
    p.add_argument("--run-dir", default=None, help="logs and last.pt for resuming")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


@command("train", "train a model (resumes; runs unchanged under torchrun)", _train_args)
def _train(args: argparse.Namespace) -> int:
    from composer.services.train import train_task

    summary = train_task(args.task, args.model, corpus=args.corpus, run_dir=args.run_dir,
                         out_dir=args.out, minutes=args.minutes, max_steps=args.max_steps,
                         progress=progress_bar("training"), resume=not args.fresh)
    if args.json:
        print_json(summary)
        return 0
    print(f"{summary['steps']} steps, best validation loss {summary['best_val_loss']:.4f} at step "
          f"{summary['best_step']} ({summary['stopped_because']}, {summary['wall_seconds']:.0f} s, "
          f"{summary['world_size']} process(es))")
    print(f"logs: {summary['run_dir']}" + (f"; checkpoint: {summary['out_dir']}"
                                           if "out_dir" in summary else ""))
    return 0


def _eval_melody_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--models", help="comma-separated models (default: transformer,lstm,markov)")
    p.add_argument("--limit", type=int, help="at most this many test pieces per group")
    p.add_argument("--no-generate", action="store_true",
                   help="skip the continuation figures (in_key, duration_distance)")
    p.add_argument("--update-cards", action="store_true",
                   help="write the figures into the models' cards")
    p.set_defaults(eval_handler=_eval_melody)


def _eval_melody(args: argparse.Namespace) -> int:
    from composer.services.melody_eval import evaluate_melody

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    table = evaluate_melody(models=models, limit=args.limit, generate=not args.no_generate,
                            progress=progress_bar("evaluating"))
    if args.update_cards:
        from composer.services.melody_eval import write_cards

        write_cards(table)
    if args.json:
        print_json(table)
        return 0
    for group in ("folk", "chorale_soprano"):
        rows = table[group]
        any_row = next(iter(rows.values()))
        print(f"{group}: {any_row['pieces']} test pieces, {any_row['notes']} notes")
        print_table(["model", "pitch bits/note", "event bits/note", "in key", "duration distance"],
                    [[name, r["pitch_bits"], r["event_bits"], r.get("in_key", "-"),
                      r.get("duration_distance", "-")] for name, r in rows.items()])
    if "infilling" in table:
        print("infilling: pitch bits/note of two middle bars")
        print_table(["model", "both sides", "left side only", "pieces"],
                    [[name, r["pitch_bits_both_sides"], r["pitch_bits_left_only"], r["pieces"]]
                     for name, r in table["infilling"].items()])
    return 0


def _bench_generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--models", help="comma-separated models (default: transformer,lstm,markov)")
    p.set_defaults(bench_handler=_bench_generate)


def _bench_generate(args: argparse.Namespace) -> int:
    from composer.services.melody_bench import bench_generate

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    report = bench_generate(models, progress=progress_bar("bench"))
    if args.json:
        print_json(report)
        return 0
    print_table(["model", "8 bars ms (median)", "4 variations ms", "tokens/s", "KV cache speed-up",
                 "peak RSS MB"],
                [[name, r["latency_ms_8bars"], r["latency_ms_8bars_4var"], r.get("tokens_per_s", "-"),
                  r.get("kv_cache_speedup", "-"), r["peak_rss_mb"]] for name, r in report.items()])
    print("targets: Transformer 8 bars <= 150 ms median; KV cache >= 3x faster than recomputing")
    return 0


# ---------------------------------------------------------------- harmony


def _harmonize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a song file holding the melody (MIDI, MusicXML, ABC, project)")
    p.add_argument("-o", "--output", required=True,
                   help="OUT.mid or OUT.musicxml; variations 2, 3, ... go to OUT-2.mid, OUT-3.mid")
    p.add_argument("--style", choices=("chorale", "chords"), default="chorale",
                   help="chorale: alto, tenor and bass; chords: chord symbols and a voicing")
    p.add_argument("--model", default="auto",
                   help="transformer, lstm or hmm (default auto: the best one installed)")
    p.add_argument("--variations", type=int, default=3, help="how many settings (default 3)")
    p.add_argument("--seed", type=int, help="the same seed gives the same notes")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature for variations 2 on (default 1.0)")
    p.add_argument("--track", type=int, help="the melody's track number (default: the first "
                   "pitched track, or one named Melody/Soprano)")
    p.add_argument("--voicing", choices=("close", "open"), default="close",
                   help="chord style: close (within an octave) or open (drop-2) position")


@command("harmonize", "add a four-part chorale setting or chord symbols to a melody",
         _harmonize_args)
def _harmonize(args: argparse.Namespace) -> int:
    from pathlib import Path

    from composer.errors import InvalidArgumentError
    from composer.io.song_files import load_song
    from composer.services.export import export_song
    from composer.services.harmonize import add_variation, harmonize

    if args.track is not None and args.track < 1:
        raise InvalidArgumentError(f"track {args.track} does not exist; tracks count from 1")
    song = load_song(args.file)
    result = harmonize(song, track_index=None if args.track is None else args.track - 1,
                       style=args.style, model=args.model, variations=args.variations,
                       seed=args.seed, temperature=args.temperature, voicing=args.voicing,
                       progress=progress_bar("harmonizing"))
    out = Path(args.output)
    for message in result.messages:
        print(f"note: {message}")
    for i in range(len(result.variations)):
        target = out if i == 0 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")
        written = export_song(add_variation(song, result, i), target)
        summary = ", ".join(f"{t.name} {len(t.notes)} notes" for t in result.variations[i])
        chords = [t.text for t in result.variations[i][0].texts] if args.style == "chords" else []
        if chords:
            summary += f"; chords {' '.join(chords[:12])}" + (" ..." if len(chords) > 12 else "")
        print(f"wrote {written}: {summary}")
    print(f"key {result.key.name}, model {result.model}, seed {result.seed}")
    return 0


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file",
                   help="a four-part setting (tracks Soprano/Alto/Tenor/Bass, or four parts)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--all", action="store_true", help="list every fault (default: the first 30)")


@command("check", "voice-leading report of a four-part setting", _check_args)
def _check(args: argparse.Namespace) -> int:
    from composer.analysis.voice_leading import FAULT_KINDS, SATB_RANGES, analyse_song
    from composer.core.pitch import note_name
    from composer.core.timing import BarGrid
    from composer.io.song_files import load_song

    song = load_song(args.file)
    report, notes = analyse_song(song)
    grid = BarGrid.of(song)

    def where(tick: int) -> str:
        bar, beat = grid.bar_and_beat(tick)
        return f"{bar}:{beat:g}"

    if args.json:
        data = report.summary()
        data["notes"] = notes
        data["faults"] = [{"kind": f.kind, "at": where(f.tick), "tick": f.tick,
                           "voices": list(f.voices), "pitches": list(f.pitches)}
                          for f in report.faults]
        print_json(data)
        return 0
    for line in notes:
        print(f"note: {line}")
    print(f"{report.chord_changes} chord changes, {report.notes} notes")
    print_table(["fault", "count", "per 100 changes"],
                [[k.replace("_", " "), report.counts[k], report.per_100((k,))] for k in FAULT_KINDS]
                + [["all faults", sum(report.counts.values()), report.faults_per_100]])
    ranges = ", ".join(f"{voice} {note_name(low)}-{note_name(high)}"
                       for voice, (low, high) in SATB_RANGES.items())
    print(f"ranges: {ranges}")
    shown = report.faults if args.all else report.faults[:30]
    for fault in sorted(shown, key=lambda f: f.tick):
        print(f"  bar {where(fault.tick)}  {fault.describe()}")
    if len(shown) < len(report.faults):
        print(f"  ... and {len(report.faults) - len(shown)} more (--all lists them)")
    return 0


def _eval_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="eval_command", required=True, parser_class=_Parser, metavar="EVAL")
    # One line per evaluation: each configures its parser and sets `eval_handler`.
    _eval_melody_args(sub.add_parser("melody", help="melody models: bits per note, key, rhythm"))
    _eval_harmony_args(sub.add_parser("harmony", help="harmony models against Bach and POP909"))
    _eval_transcription_args(sub.add_parser("transcription", help="note F1 on audio from an unseen soundfont"))


@command("eval", "evaluate models on the held-out test sets", _eval_args)
def _eval(args: argparse.Namespace) -> int:
    return int(args.eval_handler(args))


def _eval_harmony_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--models", help="comma-separated models (default: every available one)")
    p.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    p.set_defaults(eval_handler=_eval_harmony)


def _eval_harmony(args: argparse.Namespace) -> int:
    from composer.services.harmony_eval import evaluate_harmony

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    table = evaluate_harmony(models=models, limit=args.limit, progress=progress_bar("evaluating"))
    if args.json:
        print_json(table)
        return 0
    chorale_rows = {k: v for k, v in table.items() if k != "chords"}
    first = next(iter(chorale_rows.values()))
    print(f"chorale style: {first['chorales']} test chorales, {first['beats']} beats")
    print_table(["model", "ATB bits", "pc agree", "pitch agree", "A/T/B pitch", "frame error",
                 "faults/100", "parallels/100", "out of range"],
                [[name, row.get("atb_bits", "-"), row["pc_agreement"], row["pitch_agreement"],
                  "/".join(f"{v:.2f}" for v in row["pitch_agreement_per_voice"].values()),
                  row["frame_error"], row["faults_per_100"], row["parallels_per_100"],
                  row["out_of_range"]] for name, row in chorale_rows.items()])
    if table["chords"]:
        any_row = next(iter(table["chords"].values()))
        print(f"chord style: {any_row['songs']} POP909 test songs, "
              f"{any_row['beats']} labelled beats")
        print_table(["model", "chord accuracy", "root accuracy"],
                    [[name, row["chord_accuracy"], row["root_accuracy"]]
                     for name, row in table["chords"].items()])
    print("ATB bits: '-' for models without note probabilities (the HMM) and for Bach")
    return 0


def _bench_harmonize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--models", help="comma-separated models (default: every available one)")
    p.add_argument("--repeats", type=int, default=5, help="runs per figure (default 5)")
    p.set_defaults(bench_handler=_bench_harmonize)


def _bench_harmonize(args: argparse.Namespace) -> int:
    from composer.services.harmony_bench import (
        TARGET_FAST_PATH_MS,
        TARGET_MS_16BARS,
        bench_harmonize,
    )

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    report = bench_harmonize(models=models, repeats=max(1, args.repeats),
                             progress=progress_bar("bench"))
    if args.json:
        print_json(report)
        return 0
    print_table(["model", "16 bars chorale ms", "16 bars chords ms", "vs 1 s target",
                 "fast path median ms", "p99 ms", "vs 5 ms target", "vs hmm (16 bars / fast)"],
                [[name, row.get("latency_ms_16bars", "-"), row.get("latency_ms_16bars_chords", "-"),
                  row["latency_vs_target"], row["fast_path_ms_median"], row["fast_path_ms_p99"],
                  row["fast_path_vs_target"],
                  f"{row['latency_vs_hmm']}/{row['fast_path_vs_hmm']}" if "latency_vs_hmm" in row
                  else "-"]
                 for name, row in report.items()])
    print(f"targets: 16 bars under {TARGET_MS_16BARS:g} ms, "
          f"fast path under {TARGET_FAST_PATH_MS:g} ms")
    return 0


# ------------------------------------------------------------ transcription


def _transcribe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a WAV, FLAC, OGG or MP3 recording")
    p.add_argument("-o", "--output", required=True, help="OUT.mid or OUT.musicxml")
    p.add_argument("--mode", choices=("auto", "mono", "poly"), default="auto",
                   help="mono: one line (voice, whistle, one instrument); poly: chords and parts")
    p.add_argument("--quantize", default="1/16", metavar="GRID",
                   help="grid for note starts and ends: 1/4, 1/8, 1/16, 1/8t (triplets), off")
    p.add_argument("--tempo", type=float, metavar="BPM", help="use this tempo instead of detecting it")
    p.add_argument("--keep-bends", action="store_true",
                   help="keep the sung pitch (vibrato, slides) as MIDI pitch bend (mono mode)")
    p.add_argument("--performance", metavar="FILE",
                   help="also write the unquantised performance (MIDI) here")


@command("transcribe", "turn a recording into notes on the bar grid (MIDI or MusicXML)", _transcribe_args)
def _transcribe(args: argparse.Namespace) -> int:
    from composer.services.transcribe import transcribe_to_file, write_performance

    out, result = transcribe_to_file(args.file, args.output, mode=args.mode, quantize=args.quantize,
                                     tempo_bpm=args.tempo, keep_bends=args.keep_bends,
                                     progress=progress_bar("transcribing"))
    for message in result.messages:
        print(message)
    print(f"wrote {out}")
    if args.performance:
        print(f"wrote {write_performance(result, args.performance)} (unquantised performance)")
    return 0


def _eval_transcription_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--limit", type=int, help="at most this many pieces per set (quick check)")
    p.set_defaults(eval_handler=_eval_transcription)


def _eval_transcription(args: argparse.Namespace) -> int:
    from composer.services.transcription_eval import evaluate_transcription

    table = evaluate_transcription(limit=args.limit, progress=progress_bar("evaluating"))
    if args.json:
        print_json(table)
        return 0
    about = table["about"]
    print(f"{about['poly_pieces']} chorales (poly) and {about['mono_pieces']} folk tunes (mono), "
          f"rendered with {about['soundfont']}; note F1 at 50 ms onset tolerance")
    for kind in ("poly", "mono"):
        rows = [[kind, condition, row["f1"], row["f1_offset"], row["precision"], row["recall"],
                 row["pieces"]] for condition, row in table[kind].items()]
        print_table(["set", "condition", "F1", "F1 with offsets", "precision", "recall", "pieces"], rows)
    print("conditions: " + "; ".join(f"{k}: {v}" for k, v in about["conditions"].items()))
    return 0


def _bench_transcribe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--minutes", type=float, default=1.0, help="length of the test audio (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="warm runs (default 3)")
    p.add_argument("--long-minutes", type=float, metavar="MINUTES",
                   help="also check peak memory on a file this long")
    p.add_argument("--mode", choices=("auto", "mono", "poly"), default="poly",
                   help="auto runs both networks, the general and the single-line one")
    p.set_defaults(bench_handler=_bench_transcribe)


def _bench_transcribe(args: argparse.Namespace) -> int:
    from composer.services.transcription_bench import bench_transcribe

    report = bench_transcribe(minutes=args.minutes, repeats=args.repeats,
                              long_minutes=args.long_minutes, mode=args.mode,
                              progress=progress_bar("bench"))
    if args.json:
        print_json(report)
        return 0
    print_table(["figure", "value"], [[k, v] for k, v in report.items()])
    return 0


def _bench_tui_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--notes", type=int, default=5000, help="notes in the big song (default 5000)")
    p.add_argument("--edit-seconds", type=float, default=60.0,
                   help="how long to run the scripted editing for the memory figure (default 60)")
    p.add_argument("--runs", type=int, default=3, help="launches for the first frame (default 3)")
    p.set_defaults(bench_handler=_bench_tui)


def _bench_tui(args: argparse.Namespace) -> int:
    from composer.services.tui_bench import bench_tui, report_rows

    report = bench_tui(notes=args.notes, edit_seconds=args.edit_seconds,
                       first_frame_runs=max(1, args.runs), progress=progress_bar("bench"))
    if args.json:
        print_json(report)
        return 0
    print_table(["figure", "value", "reference / target"], report_rows(report))
    return 0


# ------------------------------------------------------------ live MIDI


def _backend_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("auto", "alsa", "jack"), default=None,
                   help="MIDI system (default: $COMPOSER_MIDI_BACKEND, else ALSA if present, else JACK)")


def _out_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="PORT",
                   help="output port, by name or part of it (default: start FluidSynth)")
    p.add_argument("--virtual-out", action="store_true",
                   help="play to composer's own output port instead, for a DAW to connect to")


def _in_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in", dest="inp", metavar="PORT",
                   help="input port, by name or part of it (default: composer's own input port)")


class _StopOnInterrupt:
    """Ctrl-C (or SIGTERM) sets ``cancel`` so the service ends cleanly (silencing notes,
    saving the take); a second Ctrl-C interrupts outright."""

    def __init__(self) -> None:
        import threading

        self.cancel = threading.Event()

    def __enter__(self) -> _StopOnInterrupt:
        import signal

        def handler(signum: int, frame: object) -> None:
            if self.cancel.is_set():
                raise KeyboardInterrupt
            self.cancel.set()

        self._previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


def _print_event(event: Any) -> None:
    print(f"  {event.text}", flush=True)


def _ports_args(p: argparse.ArgumentParser) -> None:
    _backend_arg(p)
    p.add_argument("--json", action="store_true", help="print the ports as JSON")


@command("ports", "list MIDI input and output ports", _ports_args)
def _ports(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from composer.services.ports import list_midi_ports

    listing = list_midi_ports(args.backend)
    if args.json:
        print_json(asdict(listing))
        return 0
    print(f"MIDI backend: {listing.backend}")
    print_table(["inputs (play into composer)"], [[n] for n in listing.inputs] or [["(none)"]])
    print_table(["outputs (composer plays to)"], [[n] for n in listing.outputs] or [["(none)"]])
    print(f"composer's own ports (--virtual-in/--virtual-out): {listing.virtual_input}, "
          f"{listing.virtual_output}")
    return 0


def _play_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a MIDI file, MusicXML, ABC, or composer project")
    _out_args(p)
    _backend_arg(p)
    p.add_argument("--loop", action="store_true", help="play the range again and again until Ctrl-C")
    p.add_argument("--clock", action="store_true", help="also send MIDI clock, start/stop and song position")
    p.add_argument("--bars", metavar="A-B", help="play only bars A to B (counted from 1)")
    p.add_argument("--tracks", metavar="N,M", help="play only these tracks (counted from 1)")


def _parse_bars(text: str | None) -> tuple[int | None, int | None]:
    from composer.errors import InvalidArgumentError

    if not text:
        return None, None
    first, _, last = text.partition("-")
    try:
        return int(first), int(last or first)
    except ValueError as err:
        raise InvalidArgumentError(f"--bars {text!r} is not like 5-8") from err


@command("play", "play a song to a MIDI port (or a FluidSynth)", _play_args)
def _play(args: argparse.Namespace) -> int:
    from composer.errors import InvalidArgumentError
    from composer.io.song_files import load_song
    from composer.services.playback import PlayRange, play_song

    song = load_song(args.file)
    first, last = _parse_bars(args.bars)
    selection = PlayRange.bars(song, first, last)
    if args.tracks:
        try:
            tracks = tuple(int(t) - 1 for t in args.tracks.split(","))
        except ValueError as err:
            raise InvalidArgumentError(f"--tracks {args.tracks!r} is not like 1,3") from err
        if any(not 0 <= t < len(song.tracks) for t in tracks):
            raise InvalidArgumentError(f"--tracks {args.tracks}: the song has {len(song.tracks)} tracks")
        selection = PlayRange(selection.start_tick, selection.end_tick, tracks)
    with _StopOnInterrupt() as stopper:
        result = play_song(song, args.out, backend=args.backend, virtual=args.virtual_out,
                           play_range=selection, loop=args.loop, clock=args.clock,
                           progress=progress_bar("playing"), cancel=stopper.cancel)
    print(f"played {result.seconds:.1f} s to {result.port} ({result.reason})")
    return 0


def _record_args(p: argparse.ArgumentParser) -> None:
    _in_args(p)
    p.add_argument("-o", "--output", required=True,
                   help="song file or project to add the take to (created if missing)")
    _out_args(p)
    _backend_arg(p)
    p.add_argument("--tempo", type=float, default=120.0, help="tempo in BPM (default 120)")
    p.add_argument("--meter", default="4/4", help="meter (default 4/4)")
    p.add_argument("--count-in", type=int, default=1, metavar="BARS", help="bars of count-in (default 1)")
    p.add_argument("--no-metronome", action="store_true", help="no clicks on the drum channel")
    p.add_argument("--no-thru", action="store_true", help="do not pass the input to the output")
    p.add_argument("--seconds", type=float, help="stop after this long (default: at Ctrl-C)")
    p.add_argument("--quantise", metavar="GRID", help="quantise the take, e.g. 1/16 or 1/8t")
    p.add_argument("--strength", type=float, default=1.0, help="quantise strength 0..1 (default 1)")
    p.add_argument("--swing", type=float, default=0.0, help="swing 0..1 (default 0)")


@command("record", "record a take from a MIDI input into a song file", _record_args)
def _record(args: argparse.Namespace) -> int:
    from composer.live.recorder import QuantiseSettings
    from composer.services.record import RecordSettings, add_track_to_file, parse_grid, record_take

    settings = RecordSettings(args.tempo, args.meter, args.count_in, not args.no_metronome,
                              not args.no_thru)
    quantise = None
    if args.quantise:
        try:
            quantise = QuantiseSettings(parse_grid(args.quantise), args.strength, args.swing)
        except ValueError as err:
            from composer.errors import InvalidArgumentError

            raise InvalidArgumentError(str(err)) from err
    print("recording; press Ctrl-C to stop", flush=True)
    with _StopOnInterrupt() as stopper:
        take = record_take(args.inp, args.out, backend=args.backend, virtual_out=args.virtual_out,
                           settings=settings, seconds=args.seconds, cancel=stopper.cancel,
                           on_event=_print_event)
    stats = take.stats
    if not take.track.notes:
        print("no notes were played; nothing was saved")
        return 0
    path, index = add_track_to_file(args.output, take.kept(quantise), args.tempo,
                                    settings.time_signature)
    print(f"added {len(take.track.notes)} notes as track {index + 1} of {path}"
          + (f" (quantised to {args.quantise})" if quantise else ""))
    if stats.unmatched_note_offs or stats.early_notes_dropped:
        print(f"note: ignored {stats.unmatched_note_offs} note-offs without note-ons and "
              f"{stats.early_notes_dropped} notes played during the count-in")
    return 0


def _jam_args(p: argparse.ArgumentParser) -> None:
    from composer.services.jam import MODES

    p.add_argument("--mode", choices=MODES, required=True)
    _in_args(p)
    _out_args(p)
    _backend_arg(p)
    p.add_argument("--tempo", type=float, default=120.0, help="tempo in BPM (default 120)")
    p.add_argument("--meter", default="4/4", help="meter (default 4/4)")
    p.add_argument("--no-thru", action="store_true", help="do not pass the input to the output")
    clock = p.add_mutually_exclusive_group()
    clock.add_argument("--follow-clock", action="store_true", help="take tempo and beat from MIDI clock on the input")
    clock.add_argument("--send-clock", action="store_true", help="send MIDI clock at --tempo to the output")
    p.add_argument("--seconds", type=float, help="stop after this long (default: at Ctrl-C)")
    g = p.add_argument_group("call-response")
    g.add_argument("--pause-beats", type=float, default=2.0, help="silence that ends a phrase (default 2 beats)")
    g.add_argument("--at-bar-line", action="store_true", help="answer at the first bar line after a phrase")
    g.add_argument("--model", default="auto", help="transformer, lstm or markov (default: best installed)")
    g.add_argument("--temperature", type=float, default=0.9)
    g.add_argument("--seed", type=int)
    g.add_argument("--response-bars", type=int, help="length of each answer (default: the phrase's)")
    g = p.add_argument_group("harmonize")
    g.add_argument("--style", choices=("chorale", "chords"), default="chorale")
    g.add_argument("--harmony-model", default="auto", help="transformer, lstm or hmm (default: best installed)")
    g.add_argument("--key", help="key to harmonise in, e.g. 'G major' (default: estimated as you play)")
    g = p.add_argument_group("record")
    g.add_argument("-o", "--output", help="song file or project to add the take to")
    g.add_argument("--count-in", type=int, default=1, metavar="BARS")
    g.add_argument("--no-metronome", action="store_true")


@command("jam", "play along live: call and response, harmoniser, or record", _jam_args)
def _jam(args: argparse.Namespace) -> int:
    from composer.services.jam import JamSettings, run_jam

    settings = JamSettings(
        mode=args.mode, tempo_bpm=args.tempo, meter=args.meter, thru=not args.no_thru,
        follow_clock=args.follow_clock, send_clock=args.send_clock, pause_beats=args.pause_beats,
        at_bar_line=args.at_bar_line, model=args.model, temperature=args.temperature, seed=args.seed,
        response_bars=args.response_bars, style=args.style, harmony_model=args.harmony_model,
        key=args.key, count_in_bars=args.count_in, metronome=not args.no_metronome)
    print(f"jam ({args.mode}); press Ctrl-C to stop", flush=True)
    with _StopOnInterrupt() as stopper:
        result = run_jam(settings, args.inp, args.out, backend=args.backend,
                         virtual_out=args.virtual_out, save_to=args.output, seconds=args.seconds,
                         progress=lambda f, m: print(f"  {m}", flush=True) if m else None,
                         cancel=stopper.cancel, on_event=_print_event)
    if args.mode == "call-response":
        print(f"answered {result.responses} phrase(s)")
    if result.saved_to is not None:
        print(f"added the take ({len(result.take.track.notes)} notes) to {result.saved_to}")
    elif args.mode == "record":
        print("no notes were played; nothing was saved")
    return 0


def _bench_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench_command", required=True, parser_class=_Parser, metavar="BENCH")
    # One line per benchmark: each configures its parser and sets `bench_handler`.
    _bench_generate_args(sub.add_parser("generate", help="melody continuation latency and KV cache"))
    _bench_live_args(sub.add_parser("live", help="MIDI timing and jam latency over real JACK ports"))
    _bench_harmonize_args(sub.add_parser("harmonize", help="harmony latency: 16 bars, fast path"))
    _bench_transcribe_args(sub.add_parser("transcribe", help="transcription time per audio minute and memory"))
    _bench_tui_args(sub.add_parser("tui", help="editor first frame, scroll re-render and memory"))
    _bench_corpus_args(sub.add_parser("corpus", help="MIDI files tokenized per second, memory"))
    _bench_train_args(sub.add_parser("train", help="training throughput: 2 DDP processes vs 1"))
    _bench_fuzz_args(sub.add_parser("fuzz", help="mutated MIDI files against every reader"))


@command("bench", "measure latency and throughput against a reference", _bench_args)
def _bench(args: argparse.Namespace) -> int:
    return int(args.bench_handler(args))


def _bench_corpus_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--files", type=int, default=3000, help="files in the generated library")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--synthetic", action="store_true",
                   help="generated songs only (not the cached corpora and POP909)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.set_defaults(bench_handler=_bench_corpus)


def _bench_corpus(args: argparse.Namespace) -> int:
    from composer.services.corpus_bench import bench_corpus

    report = bench_corpus(files=args.files, workers=args.workers, synthetic_only=args.synthetic,
                          progress=progress_bar("bench"))
    if args.json:
        print_json(report)
        return 0
    lib, build = report["library"], report["build"]
    ref, resume = report["reference"], report["resume"]
    print(f"library: {lib['files']} files, {lib['megabytes']} MB "
          f"({', '.join(f'{k} {v}' for k, v in lib['by_kind'].items())}); sources: "
          f"{', '.join(f'{k} {v}' for k, v in lib['sources'].items())}")
    print_table(["measure", "files/s", "seconds", "build rate ÷ this"], [
        [f"build, {report['workers']} workers", build["files_per_s"], build["seconds"], 1.0],
        ["symusic read, 1 process (reference)", ref["symusic_read_1_process"]["files_per_s"],
         ref["symusic_read_1_process"]["seconds"], ref["build_vs_symusic_read"]],
        ["mido read, 1 process (reference)", ref["mido_read_1_process"]["files_per_s"],
         ref["mido_read_1_process"]["seconds"], ref["build_vs_mido_read"]],
    ])
    print(f"build CPU {build['cpu_seconds']} s: {build['cpu_bound_files_per_s']} files/s with a "
          f"core per worker (the wall-clock rate above is the figure; this one ignores other load)")
    print(f"pieces {build['pieces']}, {build['tokens']} tokens, {build['skipped']} skipped, "
          f"{build['duplicates']} duplicates; peak memory {build['peak_pss_mb']} MB PSS "
          f"({build['peak_rss_mb']} MB summed RSS)")
    print(f"unchanged rebuild {resume['unchanged_rebuild_s']} s; "
          f"{resume['added_files']} files added: "
          f"{resume['tokenized_after_adding']} tokenized in {resume['rebuild_after_adding_s']} s, "
          f"{resume['pieces_that_changed_split']} pieces changed split")
    verdict = "meets" if report["meets_target"] else "misses"
    print(f"target {report['target_files_per_s']:.0f} files/s: {verdict}")
    return 0


def _bench_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=30, help="training steps per run (multiple of 10)")
    p.add_argument("--warmup", type=int, default=10, help="steps before the timed window")
    p.add_argument("--batch", type=int, default=8, help="global batch (sequences per step)")
    p.add_argument("--size", default="default", choices=("default", "tiny"),
                   help="the shipped melody Transformer's shape, or a tiny one")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.set_defaults(bench_handler=_bench_train)


def _bench_train(args: argparse.Namespace) -> int:
    from composer.services.train_bench import bench_train

    report = bench_train(steps=args.steps, warmup=args.warmup, batch_size=args.batch,
                         size=args.size, progress=progress_bar("bench"))
    if args.json:
        print_json(report)
        return 0
    model = report["model"]
    print(f"melody Transformer {model['n_layer']}x{model['n_embd']}, "
          f"context {model['block_size']}; global batch {report['global_batch']}; "
          f"{report['timed_steps']} timed steps; data: {report['data']}")
    rows = []
    for key in ("one_process", "two_processes"):
        run = report[key]
        rows.append([f"{run['processes']} x {run['threads_per_process']} thread",
                     run["tokens_per_s"], run["seconds_per_step"], run["load_average_before"]])
    print_table(["processes", "tokens/s", "s/step", "load avg before"], rows)
    verdict = "meets" if report["meets_target"] else "misses"
    print(f"ratio {report['ratio']:.2f} (efficiency {report['efficiency']:.0%}; from CPU time per "
          f"step, with a core per process: {report['cpu_bound_ratio']:.2f}); "
          f"target {report['target_ratio']}: {verdict}")
    return 0


def _bench_fuzz_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--files", type=int, default=10_000, help="mutated files (kept in the cache)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--time-limit", type=float, default=20.0,
                   help="CPU seconds per file before it counts as a hang")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.set_defaults(bench_handler=_bench_fuzz)


def _bench_fuzz(args: argparse.Namespace) -> int:
    from composer.services.fuzz_bench import run_fuzz

    report = run_fuzz(files=args.files, seed=args.seed, workers=args.workers,
                      time_limit=args.time_limit, progress=progress_bar("fuzz"))
    if args.json:
        print_json(report)
        return 0
    print(f"{report['files']} files ({report['corpus']}) in {report['seconds']} s, "
          f"{report['workers']} workers, {report['time_limit_s']:g} s of CPU and "
          f"{report['memory_limit_mb']} MB per file at most")
    print_table(["target", "loaded", "clear error", "crash", "mismatch"],
                [[t, c["ok"], c["error"], c["crash"], c["mismatch"]]
                 for t, c in report["targets"].items()])
    print(f"crashes: {report['crashes']}, hangs: {report['hangs']}, round-trip mismatches: "
          f"{report['mismatches']}; peak memory {report['peak_pss_mb']} MB PSS")
    for crash in report["crash_list"][:10]:
        print(f"  crash in {crash['target']}: {crash['file']}: {crash['detail']}")
    for name in report["hang_list"][:10]:
        print(f"  hang: {name}")
    return 0


def _bench_live_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--soak", type=float, metavar="SECONDS",
                   help="instead: random input at 20 notes/s for this long; checks stuck notes and memory")
    p.add_argument("--period", type=int, default=64,
                   help="JACK period in frames for the server the bench starts (default 64: 1.3 ms)")
    p.add_argument("--harmony-model", default="auto")
    p.add_argument("--model", default="auto", help="melody model for call and response")
    p.set_defaults(bench_handler=_bench_live)


def _bench_live(args: argparse.Namespace) -> int:
    from composer.services.live_bench import run_live_bench, run_soak

    if args.soak is not None:
        report = run_soak(args.soak, period=args.period, harmony_model=args.harmony_model,
                          progress=progress_bar("soak"))
    else:
        report = run_live_bench(period=args.period, harmony_model=args.harmony_model,
                                melody_model=args.model, progress=progress_bar("bench"))
    if args.json:
        print_json(report)
        return 0
    print_table(["figure", "value", "target"], report["table"])
    for line in report.get("notes", []):
        print(f"note: {line}")
    return 0


# ------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="composer",
        description="A symbolic music composition assistant. Run with no command to open the editor.",
    )
    parser.add_argument("--version", action="version", version=f"composer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for name, help_text, configure, handler in _COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        if args.command is None:
            return _open_editor()
        return int(args.handler(args))
    except Cancelled as err:
        print(f"composer: {err.one_line()}", file=sys.stderr)
        return 130
    except ComposerError as err:
        print(f"composer: error: {err.one_line()}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("composer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:  # a bug: one line for the user, the traceback in a log file
        log_path = _log_crash(err)
        print(f"composer: internal error: {type(err).__name__}: {err} (details in {log_path})",
              file=sys.stderr)
        return 1


def _open_editor() -> int:
    from composer.tui.app import run_editor

    return run_editor()


def _configure_logging(verbose: bool) -> None:
    import logging

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def _log_crash(err: BaseException) -> str:
    import time
    import traceback

    from composer.paths import state_dir

    directory = state_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "crash.log"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} composer {__version__}\n")
            handle.write("".join(traceback.format_exception(err)))
        return str(path)
    except OSError:
        return "stderr (the log could not be written)"


if __name__ == "__main__":
    sys.exit(main())
