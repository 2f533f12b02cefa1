"""The harmonisation models composer knows, behind one small interface.

A model is registered with :func:`register` as a :class:`ModelEntry`: its name,
the styles it serves, whether its files are present, and how to load it. The
harmonize service, the live harmoniser, ``composer eval harmony`` and ``composer
bench harmonize`` all work from this registry, so a new model (the Transformer
and the LSTM) joins every one of them by registering itself.

What a loaded model does, per style:

* ``chorale``: ``harmonize(melody, variation, rng, temperature) -> ChoraleVoices``
  (alto, tenor and bass notes for a prepared soprano; variation 0 is the
  model's most likely setting, the others are drawn at ``temperature``), and
  optionally ``atb_bits(chorale) -> (total bits, notes)`` for Bach's own
  alto/tenor/bass given his soprano (models without probabilities over notes
  return None);
* ``chords``: ``chords(melody, variation, rng, temperature)`` -> one chord symbol
  (or None) per beat of the prepared melody;
* both: ``live(key) -> LiveSession`` for the one-note-at-a-time fast path.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from composer.analysis.beats import MEDIUM, Beat, melody_weights
from composer.core.chords import ChordSymbol
from composer.core.song import KeySignature, Note, Song, TimeSignature
from composer.errors import InvalidArgumentError, ModelError
from composer.paths import models_dir

STYLES = ("chorale", "chords")
MODEL_ORDER = ("transformer", "lstm", "hmm")
"""How models are listed: the neural models first, the baseline last."""
AUTO = "auto"
"""The name that asks for the best installed model (see :func:`best_model`)."""


@dataclass(frozen=True)
class PreparedMelody:
    """A melody made ready for a model: one line, in the model's range, on a beat grid.

    ``notes`` are the melody as the model sees it (top line, moved by whole
    octaves into range); ``beats`` run from the first note's beat to the last
    note's end; ``song`` carries the meter, tempo and key for token formats.
    """

    notes: tuple[Note, ...]
    beats: tuple[Beat, ...]
    key: KeySignature
    time_signatures: tuple[TimeSignature, ...]
    song: Song


@dataclass(frozen=True)
class ChoraleVoices:
    """Alto, tenor and bass notes, and the chord of each beat where the model knows it."""

    alto: Sequence[Note]
    tenor: Sequence[Note]
    bass: Sequence[Note]
    chords: Sequence[ChordSymbol | None] | None = None


class LiveSession(Protocol):
    def note_on(self, pitch: int) -> list[int]: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its name, styles, a presence check and a loader (per style)."""

    name: str
    styles: tuple[str, ...]
    description: str
    available: Callable[[str], bool]
    load: Callable[[str], Any]
    # Whether "auto" may pick it (the baseline always; a neural model once its card
    # shows it beating the baseline: a model can be installed, for the live fast path
    # or to compare, without becoming everyone's default).
    preferred: Callable[[str], bool] = lambda style: True


_REGISTRY: dict[str, ModelEntry] = {}
_LOADED: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def register(entry: ModelEntry) -> None:
    """Add (or replace) a model in the registry."""
    with _LOCK:
        _REGISTRY[entry.name] = entry
        for key in [k for k in _LOADED if k[0] == entry.name]:
            del _LOADED[key]


def unregister(name: str) -> None:
    """Remove a model from the registry (and forget it if loaded)."""
    with _LOCK:
        _REGISTRY.pop(name, None)
        for key in [k for k in _LOADED if k[0] == name]:
            del _LOADED[key]


def registered() -> list[ModelEntry]:
    order = {name: i for i, name in enumerate(MODEL_ORDER)}
    return sorted(_REGISTRY.values(), key=lambda e: (order.get(e.name, len(order)), e.name))


def available_models(style: str) -> list[str]:
    """Names of the models whose files are present for ``style``."""
    return [e.name for e in registered() if style in e.styles and e.available(style)]


def best_model(style: str) -> str:
    """The installed model to use when none is named ("auto"): the first of
    :data:`MODEL_ORDER` present and preferred (a neural model measured above the HMM)."""
    have = available_models(style)
    if not have:
        raise ModelError(f"no harmony model is installed for the {style} style",
                         "restore models/ from git")
    return next((name for name in have if _REGISTRY[name].preferred(style)), have[-1])


def resolve(name: str, style: str) -> str:
    """``name``, or the best installed model for ``style`` when it is "auto"."""
    return best_model(style) if name == AUTO else name


def get_model(name: str, style: str) -> Any:
    """The loaded model; a clear error naming the available ones when it cannot be had."""
    if style not in STYLES:
        raise InvalidArgumentError(f"unknown harmony style {style!r}",
                                   f"choose one of: {', '.join(STYLES)}")
    name = resolve(name, style)
    entry = _REGISTRY.get(name)
    if entry is None or style not in entry.styles or not entry.available(style):
        have = available_models(style)
        reason = "is not trained yet" if name in MODEL_ORDER else "is not a harmony model"
        raise InvalidArgumentError(
            f"the {name!r} model {reason} for the {style} style",
            f"available: {', '.join(have) if have else 'none'}")
    with _LOCK:
        model = _LOADED.get((name, style))
        if model is None:
            model = entry.load(style)
            _LOADED[(name, style)] = model
    return model


def clear_cache() -> None:
    """Forget loaded models (after retraining, or in tests that move models_dir)."""
    with _LOCK:
        _LOADED.clear()


# --------------------------------------------------------------------- the HMM


def hmm_dir(style: str) -> Any:
    return models_dir() / f"harmony-hmm-{style}"


class HMMChorale:
    """Chorale style from the HMM: chords per beat by Viterbi (or sampled), then the
    rule-based SATB voicing."""

    def __init__(self, hmm: Any) -> None:
        self.hmm = hmm

    def _states(self, melody: PreparedMelody, variation: int, rng: Any, temperature: float
                ) -> list[int]:
        from composer.analysis.keys import signature_tonic

        positions = [b.position for b in melody.beats]
        weights = [melody_weights(melody.notes, b) for b in melody.beats]
        tonic = signature_tonic(melody.key)
        if variation == 0:
            return self.hmm.decode(positions, weights, tonic)
        return self.hmm.sample(positions, weights, tonic, rng, temperature)

    def chord_sequence(self, melody: PreparedMelody, variation: int, rng: Any, temperature: float
                       ) -> list[ChordSymbol]:
        from composer.analysis.keys import signature_tonic

        tonic = signature_tonic(melody.key)
        states = self._states(melody, variation, rng, temperature)
        return [self.hmm.chord_of(s, tonic) for s in states]

    def harmonize(self, melody: PreparedMelody, variation: int, rng: Any, temperature: float
                  ) -> ChoraleVoices:
        from composer.analysis.voicing import satb_beats, voice_satb, voices_to_notes

        chords: list[ChordSymbol | None] = list(
            self.chord_sequence(melody, variation, rng, temperature))
        plan = satb_beats(melody.beats, chords, melody.notes)
        # Where the soprano is silent the lower voices rest too.
        chords = [c if b.soprano_first is not None else None
                  for c, b in zip(chords, plan, strict=True)]
        voicing = voice_satb(plan, rng, noise=0.0 if variation == 0 else 0.5 * temperature)
        alto, tenor, bass = voices_to_notes(melody.beats, chords, voicing, melody.notes)
        return ChoraleVoices(alto, tenor, bass, chords)

    def atb_bits(self, chorale: Song) -> tuple[float, int] | None:
        return None  # the HMM scores chords, not notes: Bach's ATB has no probability under it

    def live(self, key: KeySignature | None) -> HMMLive:
        return HMMLive(self.hmm, "chorale", key)


class HMMChords(HMMChorale):
    """Chord style from the HMM: a chord symbol for every beat."""

    def chords(self, melody: PreparedMelody, variation: int, rng: Any, temperature: float
               ) -> list[ChordSymbol | None]:
        return list(self.chord_sequence(melody, variation, rng, temperature))

    def live(self, key: KeySignature | None) -> HMMLive:
        return HMMLive(self.hmm, "chords", key)


@dataclass
class HMMLive:
    """The HMM one note at a time: each note is a beat, filtered forward from the history.

    The chord is the most probable state after the new note, except that the
    current chord stays while it holds the note and is not far less likely
    (so the harmony does not flicker on passing notes). Without a given key
    the key is estimated from the last notes played: after every note for the
    first few, then every few notes (a key does not turn on one passing note,
    and this keeps the fast path fast).
    """

    hmm: Any
    style: str
    key: KeySignature | None = None
    history: deque[int] = field(default_factory=lambda: deque(maxlen=32))
    _belief: Any = None
    _tonic: int | None = None
    _chord: int | None = None
    _voicing: tuple[int, ...] | None = None
    _soprano: int | None = None
    _heard_key: KeySignature | None = None
    _notes_since_key: int = 0

    STAY_MARGIN = 1.1  # natural log: keep the chord unless another is 3x as likely
    SETTLED_NOTES = 8  # after this many notes the key is checked only every KEY_EVERY notes
    KEY_EVERY = 4
    REFILTER_NOTES = 12

    def reset(self) -> None:
        self.history.clear()
        self._belief = self._tonic = self._chord = self._voicing = self._soprano = None
        self._heard_key, self._notes_since_key = None, 0

    def _current_key(self) -> KeySignature:
        if self.key is not None:
            return self.key
        self._notes_since_key += 1
        if self._heard_key is None or len(self.history) <= self.SETTLED_NOTES \
                or self._notes_since_key >= self.KEY_EVERY:
            from composer.core.pitch import estimate_key

            self._heard_key = estimate_key([Note(pitch=p, start_tick=i, duration_ticks=1)
                                            for i, p in enumerate(self.history)])
            self._notes_since_key = 0
        return self._heard_key

    def note_on(self, pitch: int) -> list[int]:
        from composer.analysis.keys import signature_tonic

        self.history.append(pitch)
        tonic = signature_tonic(self._current_key())
        if tonic != self._tonic or self._belief is None:
            # A new key: filter the last notes again, relative to it (a dozen
            # notes are plenty for a first-order model, and keep this quick).
            self._tonic, self._chord = tonic, None
            self._belief = self.hmm.filter_start()
            for i, p in enumerate(list(self.history)[-self.REFILTER_NOTES:]):
                self._belief = self.hmm.filter_step(self._belief, MEDIUM, {p % 12: 1.5}, tonic,
                                                    first=i == 0)
        else:
            self._belief = self.hmm.filter_step(self._belief, MEDIUM, {pitch % 12: 1.5}, tonic)
        best = int(self._belief.argmax())
        current = self._chord
        if current is not None and self._belief[current] >= self._belief[best] - self.STAY_MARGIN \
                and pitch % 12 in self.hmm.chord_of(current, tonic).pitch_classes:
            best = current
        chord = self.hmm.chord_of(best, tonic)
        previous_chord = self.hmm.chord_of(self._chord, tonic) if self._chord is not None else None
        self._chord = best
        return self._voice(chord, previous_chord, pitch)

    def _voice(self, chord: ChordSymbol, previous_chord: ChordSymbol | None, pitch: int
               ) -> list[int]:
        from composer.analysis.voicing import chord_voicing, next_voicing

        shift = _octave_shift_into(pitch, 60, 81) if self.style == "chorale" else 0
        soprano = pitch + shift
        if self.style == "chorale":
            prev = self._voicing if self._voicing is not None and len(self._voicing) == 3 else None
            voicing: tuple[int, ...] = next_voicing(chord, soprano, prev,  # type: ignore[arg-type]
                                                    self._soprano, previous_chord)
        else:
            voicing = chord_voicing(chord, self._voicing, ceiling=soprano)
        self._voicing, self._soprano = voicing, soprano
        out = sorted({_fold(p - shift) for p in voicing} - {pitch})
        return out


def _octave_shift_into(pitch: int, low: int, high: int) -> int:
    shift = 0
    while pitch + shift < low:
        shift += 12
    while pitch + shift > high:
        shift -= 12
    return shift


def _fold(pitch: int) -> int:
    """A pitch moved by octaves into MIDI's 0..127."""
    while pitch < 0:
        pitch += 12
    while pitch > 127:
        pitch -= 12
    return pitch


def _hmm_available(style: str) -> bool:
    return (hmm_dir(style) / "hmm.json").is_file()


def _hmm_load(style: str) -> HMMChorale:
    from composer.ml.hmm import ChordHMM

    hmm = ChordHMM.load(hmm_dir(style) / "hmm.json")
    if hmm.config.style != style:
        raise ModelError(f"{hmm_dir(style)}: holds a {hmm.config.style} HMM, not a {style} one")
    return HMMChorale(hmm) if style == "chorale" else HMMChords(hmm)


register(ModelEntry(
    name="hmm",
    styles=STYLES,
    description="HMM over chords (melody-note emissions, Viterbi) with rule-based voicing",
    available=_hmm_available,
    load=_hmm_load,
))


# ------------------------------------------------------- Transformer and LSTM


def _neural_available(style: str, arch: str) -> bool:
    from composer.services.harmony_neural import neural_available

    return neural_available(style, arch)


def _neural_load(style: str, arch: str) -> Any:
    from composer.services.harmony_neural import load_neural

    return load_neural(style, arch)


def _neural_preferred(style: str, arch: str) -> bool:
    from composer.services.harmony_neural import neural_beats_hmm

    return neural_beats_hmm(style, arch)


def _neural_entry(arch: str) -> ModelEntry:
    what = "Transformer (KV cache)" if arch == "transformer" else "LSTM"
    return ModelEntry(
        name=arch,
        styles=STYLES,
        description=f"{what} trained on the Bach chorales (chorale) and POP909 (chords), "
                    "decoded under voice-leading constraints",
        available=lambda style: _neural_available(style, arch),
        load=lambda style: _neural_load(style, arch),
        preferred=lambda style: _neural_preferred(style, arch),
    )


for _arch in ("transformer", "lstm"):
    register(_neural_entry(_arch))
