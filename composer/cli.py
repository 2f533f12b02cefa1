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
                       help="'music21' (the corpus inside the music21 wheel) or a folder of MIDI files")
    build.add_argument("--processes", type=int, default=None, help="worker processes (default: all cores)")
    build.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    build.add_argument("--json", action="store_true", help="print the manifest as JSON")


@command("corpus", "build training corpora", _corpus_args)
def _corpus(args: argparse.Namespace) -> int:
    from composer.services.corpus import build_corpus

    manifest = build_corpus(args.source, processes=args.processes, limit=args.limit,
                            progress=progress_bar("parsing"))
    if args.json:
        print_json(manifest)
        return 0
    rows = [[kind, c.get("train", 0), c.get("valid", 0), c.get("test", 0)]
            for kind, c in manifest["counts"].items()]
    print_table(["kind", "train", "valid", "test"], rows)
    skipped = manifest.get("skipped", [])
    print(f"built {manifest['name']} in {manifest['seconds']} s with {manifest['processes']} processes; "
          f"{len(skipped)} skipped")
    for item in skipped[:20]:
        print(f"  skipped {item.get('id') or item.get('file')}: {item['reason']}")
    if len(skipped) > 20:
        print(f"  ... and {len(skipped) - 20} more (see manifest.json)")
    return 0


# ---------------------------------------------------------------- harmony


def _harmonize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a song file holding the melody (MIDI, MusicXML, ABC, project)")
    p.add_argument("-o", "--output", required=True,
                   help="OUT.mid or OUT.musicxml; variations 2, 3, ... go to OUT-2.mid, OUT-3.mid")
    p.add_argument("--style", choices=("chorale", "chords"), default="chorale",
                   help="chorale: alto, tenor and bass; chords: chord symbols and a voicing")
    p.add_argument("--model", default="hmm", help="transformer, lstm or hmm (default hmm)")
    p.add_argument("--variations", type=int, default=3, help="how many settings (default 3)")
    p.add_argument("--seed", type=int, help="the same seed gives the same notes")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature for variations 2 on (default 1.0)")
    p.add_argument("--track", type=int, help="the melody's track number (default: the first "
                   "pitched track, or one named Melody/Soprano)")


@command("harmonize", "add a four-part chorale setting or chord symbols to a melody", _harmonize_args)
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
                       seed=args.seed, temperature=args.temperature,
                       progress=progress_bar("harmonizing"))
    out = Path(args.output)
    for message in result.messages:
        print(f"note: {message}")
    for i in range(len(result.variations)):
        target = out if i == 0 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")
        written = export_song(add_variation(song, result, i), target)
        summary = ", ".join(f"{t.name} {len(t.notes)} notes" for t in result.variations[i])
        chords = [t.text for t in result.variations[i][0].texts] if args.style == "chords" else []
        print(f"wrote {written}: {summary}" + (f"; chords {' '.join(chords[:12])}"
                                                + (" ..." if len(chords) > 12 else "") if chords else ""))
    print(f"key {result.key.name}, model {result.model}, seed {result.seed}")
    return 0


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a four-part setting (tracks Soprano/Alto/Tenor/Bass, or four parts)")
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
    ranges = ", ".join(f"{v} {note_name(lo)}-{note_name(hi)}" for v, (lo, hi) in SATB_RANGES.items())
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
    _eval_harmony_args(sub.add_parser("harmony", help="harmonisation models against Bach and POP909"))


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
        print(f"chord style: {any_row['songs']} POP909 test songs, {any_row['beats']} labelled beats")
        print_table(["model", "chord accuracy", "root accuracy"],
                    [[name, row["chord_accuracy"], row["root_accuracy"]]
                     for name, row in table["chords"].items()])
    print("ATB bits: '-' for models without note probabilities (the HMM) and for Bach")
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
