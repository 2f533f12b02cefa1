"""``composer eval harmony``: every available harmony model against Bach, and on POP909.

Chorale style, on the test chorales of heldout.json: each model gets Bach's
soprano (with his meter and key signature) through the same ``harmonize``
service a user calls, variation 0 (its most likely setting), and is compared
with Bach's own alto, tenor and bass:

* ``pc_agreement``: share of beats (beats where all four of Bach's voices sound
  on the beat) where the set of pitch classes sounding on the beat equals Bach's;
* ``pitch_agreement``: share of beats where a voice sounds exactly Bach's pitch
  on the beat, averaged over alto, tenor and bass (each in
  ``pitch_agreement_per_voice``);
* ``frame_error``: the share of sixteenth-note frames (where any of Bach's
  voices sounds) in which alto, tenor and bass are not all exactly Bach's
  pitches (a rest must match a rest), the measure behind "an LSTM that fills in
  alto/tenor/bass from the soprano had about 88% frame error";
* ``faults_per_100``, ``parallels_per_100``, ``out_of_range``: the voice-leading
  analysis (composer.analysis.voice_leading) over all test chorales together;
* ``atb_bits``: bits per note of Bach's alto/tenor/bass given his soprano,
  for models that put probabilities on notes. The HMM does not (it scores chord
  labels, then voices them by rules), so it has no ``atb_bits``; nor has Bach.

Bach is the reference row: his own voice-leading counts (agreement with
himself is 1 by definition). Chord style, on the POP909 test songs: each model
harmonises the melody alone (key signature removed, so the key is estimated as
for any user's melody); its chord symbols are read back from the "Chords"
track and compared at every beat where POP909 annotates a chord:
``chord_accuracy`` (root and triad class: maj, min, dim, aug, sus2, sus4) and
``root_accuracy``.

Models come from the registry (composer.services.harmony_models), so a newly
registered model gets a row without changes here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from composer.analysis.beats import beat_grid, sounding_note
from composer.analysis.voice_leading import VoiceLeadingReport, analyse_voices
from composer.core.song import PPQ, Note, Song, Track
from composer.services.jobs import Progress, check_cancel, no_progress

FRAME_TICKS = PPQ // 4
EVAL_SEED = 0
VOICE_KEYS = ("alto", "tenor", "bass")


@dataclass
class ChoraleScore:
    """Agreement counts of one model's settings with Bach's, summed over chorales."""

    beats: int = 0
    pc_hits: int = 0
    voice_beats: list[int] = field(default_factory=lambda: [0, 0, 0])
    voice_hits: list[int] = field(default_factory=lambda: [0, 0, 0])
    frames: int = 0
    frame_errors: int = 0
    bits: float = 0.0
    bits_notes: int = 0
    has_bits: bool = True
    voice_leading: VoiceLeadingReport = field(default_factory=VoiceLeadingReport)
    pieces: int = 0

    def row(self, reference: bool = False) -> dict[str, Any]:
        vl = self.voice_leading
        per_voice = {name: _ratio(h, n) for name, h, n in zip(VOICE_KEYS, self.voice_hits,
                                                               self.voice_beats, strict=True)}
        row: dict[str, Any] = {}
        if self.has_bits and self.bits_notes and not reference:
            row["atb_bits"] = round(self.bits / self.bits_notes, 4)
        row.update({
            "pc_agreement": round(_ratio(self.pc_hits, self.beats), 4),
            "pitch_agreement": round(sum(per_voice.values()) / 3, 4),
            "faults_per_100": round(vl.faults_per_100, 3),
            "parallels_per_100": round(vl.parallels_per_100, 3),
            "out_of_range": vl.out_of_range,
            "pitch_agreement_per_voice": {k: round(v, 4) for k, v in per_voice.items()},
            "frame_error": round(_ratio(self.frame_errors, self.frames), 4),
            "faults_per_100_by_kind": {k: round(v, 3) for k, v in vl.summary()["per_100"].items()},
            "chord_changes": vl.chord_changes,
            "chorales": self.pieces,
            "beats": self.beats,
        })
        return row


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else 0.0


def score_setting(score: ChoraleScore, bach: Sequence[Sequence[Note]],
                  atb: Sequence[Sequence[Note]], time_signatures) -> None:
    """Add one chorale's comparison (Bach's four voices; a model's alto, tenor, bass)."""
    bach = [sorted(v) for v in bach]
    atb = [sorted(v) for v in atb]
    start = min(v[0].start_tick for v in bach if v)
    end = max(v[-1].end_tick for v in bach if v)
    soprano = bach[0]
    for beat in beat_grid(time_signatures, start, end):
        tick = beat.start_tick
        ref = [sounding_note(v, tick) for v in bach]
        ours = [sounding_note(v, tick) for v in atb]
        if all(n is not None for n in ref):
            score.beats += 1
            ref_pcs = {n.pitch % 12 for n in ref if n is not None}
            our_pcs = {n.pitch % 12 for n in [ref[0], *ours] if n is not None}
            score.pc_hits += ref_pcs == our_pcs
        for v in range(3):
            bach_note, our_note = ref[v + 1], ours[v]
            if bach_note is not None:
                score.voice_beats[v] += 1
                score.voice_hits[v] += our_note is not None and our_note.pitch == bach_note.pitch
    for tick in range(start, end, FRAME_TICKS):
        ref = [sounding_note(v, tick) for v in bach]
        if all(n is None for n in ref):
            continue
        ours = [sounding_note(v, tick) for v in atb]
        score.frames += 1
        same = all((a.pitch if a else None) == (b.pitch if b else None)
                   for a, b in zip(ref[1:], ours, strict=True))
        score.frame_errors += not same
    score.voice_leading = score.voice_leading.merge(analyse_voices([soprano, *atb]))
    score.voice_leading.faults.clear()  # counts are enough; ticks of many pieces mean nothing
    score.pieces += 1


def evaluate_chorales(pieces: Sequence[Any], models: Sequence[str],
                      progress: Progress = no_progress, cancel: threading.Event | None = None
                      ) -> dict[str, dict[str, Any]]:
    """Rows for ``models`` and for Bach on chorale pieces (``piece.song`` with S, A, T, B)."""
    from composer.services.harmonize import harmonize
    from composer.services.harmony_models import get_model

    rows: dict[str, dict[str, Any]] = {}
    bach = ChoraleScore(has_bits=False)
    for piece in pieces:
        voices = [t.notes for t in piece.song.tracks[:4]]
        score_setting(bach, voices, voices[1:], piece.song.time_signatures)
    rows["bach"] = bach.row(reference=True)
    for m, name in enumerate(models):
        model = get_model(name, "chorale")
        score = ChoraleScore()
        for i, piece in enumerate(pieces):
            check_cancel(cancel)
            progress((m + i / len(pieces)) / max(len(models), 1), f"{name}: {piece.id}")
            song = piece.song
            melody = song.with_tracks([song.tracks[0]])
            result = harmonize(melody, track_index=0, style="chorale", model=name, variations=1,
                               seed=EVAL_SEED)
            atb = [t.notes for t in result.variations[0]]
            score_setting(score, [t.notes for t in song.tracks[:4]], atb, song.time_signatures)
            bits = model.atb_bits(song) if hasattr(model, "atb_bits") else None
            if bits is None:
                score.has_bits = False
            else:
                score.bits += bits[0]
                score.bits_notes += bits[1]
        rows[name] = score.row()
    ordered = {name: rows[name] for name in models}
    ordered["bach"] = rows["bach"]
    return ordered


def evaluate_chords(pieces: Sequence[Any], models: Sequence[str], progress: Progress = no_progress,
                    cancel: threading.Event | None = None) -> dict[str, dict[str, Any]]:
    """Per-beat chord and root accuracy of each model on lead-sheet pieces (POP909 as cached)."""
    from composer.analysis.chord_labels import chord_events, chords_at_beats, label_lead_sheet
    from composer.core.chords import same_root, same_triad
    from composer.services.harmonize import harmonize

    rows = {}
    for m, name in enumerate(models):
        hits = roots = total = 0
        for i, piece in enumerate(pieces):
            check_cancel(cancel)
            progress((m + i / len(pieces)) / max(len(models), 1), f"{name}: POP909 {piece.id}")
            reference = label_lead_sheet(piece.song)
            if not reference:
                continue
            melody = Song(tracks=(piece.song.tracks[0],), tempos=piece.song.tempos,
                          time_signatures=piece.song.time_signatures, title=piece.song.title)
            result = harmonize(melody, track_index=0, style="chords", model=name, variations=1,
                               seed=EVAL_SEED)
            chord_track: Track = result.variations[0][0]
            guesses = chords_at_beats(chord_events(chord_track), [lb.beat for lb in reference])
            for lb, guess in zip(reference, guesses, strict=True):
                if lb.chord is None:
                    continue
                total += 1
                hits += same_triad(guess, lb.chord)
                roots += same_root(guess, lb.chord)
        rows[name] = {"chord_accuracy": round(_ratio(hits, total), 4),
                      "root_accuracy": round(_ratio(roots, total), 4), "songs": len(pieces),
                      "beats": total}
    return rows


def evaluate_harmony(models: Sequence[str] | None = None, limit: int | None = None,
                     progress: Progress = no_progress, cancel: threading.Event | None = None
                     ) -> dict[str, Any]:
    """The whole table: chorale rows per model plus Bach, and ``"chords"`` rows per model.

    ``models`` restricts the models (default: every available one); ``limit``
    takes only the first N test pieces of each set (for quick checks).
    """
    from composer.errors import InvalidArgumentError
    from composer.services.harmony_models import available_models
    from corpora import pop909
    from corpora.store import load_pieces

    chorale_models = available_models("chorale")
    chord_models = available_models("chords")
    if models is not None:
        unknown = [m for m in models if m not in chorale_models + chord_models]
        if unknown:
            have = sorted(set(chorale_models + chord_models))
            raise InvalidArgumentError(f"no such harmony model: {', '.join(unknown)}",
                                       f"available: {', '.join(have) or 'none'}")
        chorale_models = [m for m in chorale_models if m in models]
        chord_models = [m for m in chord_models if m in models]
    chorales = load_pieces("music21", "chorales", "test")[:limit]
    progress(0.0, "chorales")
    table: dict[str, Any] = evaluate_chorales(
        chorales, chorale_models, lambda f, m: progress(0.6 * f, m), cancel)
    progress(0.6, "loading POP909 test songs")
    songs = pop909.load_split("test")[:limit]
    table["chords"] = evaluate_chords(songs, chord_models, lambda f, m: progress(0.6 + 0.4 * f, m),
                                      cancel)
    progress(1.0, "done")
    return table
