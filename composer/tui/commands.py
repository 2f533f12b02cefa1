"""Every editor command in one table: key, binding id, title, help, and the
service it needs. The editor's key bindings, the footer, the help screen (F1)
and the command palette (Ctrl+P) are all made from this table, so they never
disagree, and a command whose service is not installed appears in none of them.

Some commands also need a model (``ready``): Continue needs an installed melody
model, Infill a neural one, Harmonize a harmony model, Transcribe the
transcription model. Their bindings exist, but the editor hides and disables
them while the model is missing (``check_action``), and the help screen and the
palette leave them out, so no key leads to a command that cannot work.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from textual.binding import Binding


@dataclass(frozen=True)
class EditorCommand:
    """One command of the editor screen."""

    id: str
    keys: str
    action: str
    title: str
    help: str
    group: str
    footer: bool = False
    """Shown in the footer: the composing commands, play, save (all fit in 120 columns)."""
    needs: tuple[str, ...] = ()
    key_display: str | None = None
    ready: Callable[[], bool] | None = None
    """A quick check (files only) that what the command needs beyond its service is there."""

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.title,
            show=self.footer,
            key_display=self.key_display,
            id=self.id,
            tooltip=self.help,
        )

    @property
    def installed(self) -> bool:
        """Whether the services it calls are part of this installation."""
        return all(service_available(module) for module in self.needs)

    @property
    def available(self) -> bool:
        """Installed, and its model (if it needs one) is there now."""
        return self.installed and (self.ready is None or self.ready())


@cache
def service_available(module: str) -> bool:
    """Whether a service module is installed, found without importing it (startup stays fast)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _melody_ready() -> bool:
    from composer.services.capabilities import melody_models

    return bool(melody_models())


def _infill_ready() -> bool:
    from composer.services.capabilities import melody_models

    return bool(melody_models(infill=True))


def _harmony_ready() -> bool:
    from composer.services.capabilities import harmony_styles

    return bool(harmony_styles())


def _transcription_ready() -> bool:
    from composer.services.capabilities import transcription_installed

    return transcription_installed()


GENERATE = "composer.services.generate"
HARMONIZE = "composer.services.harmonize"
TRANSCRIBE = "composer.services.transcribe"
PLAYBACK = "composer.services.playback"
RECORD = "composer.services.record"
JAM = "composer.services.jam"
PORTS = "composer.services.ports"

GROUPS = ("Compose", "Play", "Edit", "Track", "File", "App")

COMMANDS: tuple[EditorCommand, ...] = (
    # Compose
    EditorCommand(
        "editor.continue",
        "c",
        "continue",
        "Continue",
        "Continue the current track from the cursor (or after the selection): "
        "several variations to audition, accept one",
        "Compose",
        footer=True,
        needs=(GENERATE,),
        ready=_melody_ready,
    ),
    EditorCommand(
        "editor.infill",
        "f",
        "infill",
        "Infill",
        "Regenerate the selected bars (or the cursor's bar) so they lead into what follows",
        "Compose",
        footer=True,
        needs=(GENERATE,),
        ready=_infill_ready,
    ),
    EditorCommand(
        "editor.harmonize",
        "h",
        "harmonize",
        "Harmonize",
        "Add a four-part chorale setting or chord symbols with a voicing to the current track",
        "Compose",
        footer=True,
        needs=(HARMONIZE,),
        ready=_harmony_ready,
    ),
    EditorCommand(
        "editor.transcribe",
        "a",
        "transcribe",
        "Transcribe",
        "Turn a WAV/FLAC/OGG/MP3 recording into notes on a new track",
        "Compose",
        footer=True,
        needs=(TRANSCRIBE,),
        ready=_transcription_ready,
    ),
    EditorCommand(
        "editor.record",
        "r",
        "record",
        "Record",
        "Record from a MIDI input port into a new take, quantised to the grid",
        "Compose",
        footer=True,
        needs=(RECORD, PORTS),
    ),
    EditorCommand(
        "editor.jam",
        "j",
        "jam",
        "Jam",
        "Play with a MIDI controller: call and response, or live harmoniser",
        "Compose",
        footer=True,
        needs=(JAM, PORTS),
    ),
    # Play
    EditorCommand(
        "editor.play",
        "space",
        "toggle_play",
        "Play",
        "Play from the cursor (or the selection) or stop",
        "Play",
        footer=True,
        needs=(PLAYBACK,),
    ),
    EditorCommand(
        "editor.loop",
        "l",
        "toggle_loop",
        "Loop",
        "Loop playback over the selection (or the whole song)",
        "Play",
        needs=(PLAYBACK,),
    ),
    EditorCommand(
        "editor.output",
        "o",
        "choose_output",
        "Sound output",
        "Choose the MIDI output port, or composer's own FluidSynth",
        "Play",
        needs=(PLAYBACK, PORTS),
    ),
    # Edit
    EditorCommand(
        "editor.insert",
        "enter",
        "insert_note",
        "Insert note",
        "Insert a note at the cursor, one grid step long, and step on",
        "Edit",
        key_display="⏎",
    ),
    EditorCommand(
        "editor.delete",
        "delete,backspace,x",
        "delete_notes",
        "Delete",
        "Delete the selected notes, or the note under the cursor",
        "Edit",
        key_display="del",
    ),
    EditorCommand(
        "editor.lengthen",
        "right_square_bracket",
        "resize(1)",
        "Lengthen",
        "Make the notes one grid step longer",
        "Edit",
        key_display="]",
    ),
    EditorCommand(
        "editor.shorten",
        "left_square_bracket",
        "resize(-1)",
        "Shorten",
        "Make the notes one grid step shorter",
        "Edit",
        key_display="[",
    ),
    EditorCommand(
        "editor.transpose_up",
        "plus,equals_sign",
        "transpose(1)",
        "Semitone up",
        "Transpose the notes up a semitone",
        "Edit",
        key_display="+",
    ),
    EditorCommand(
        "editor.transpose_down",
        "minus",
        "transpose(-1)",
        "Semitone down",
        "Transpose the notes down a semitone",
        "Edit",
        key_display="-",
    ),
    EditorCommand(
        "editor.octave_up",
        "ctrl+up,greater_than_sign",
        "transpose(12)",
        "Octave up",
        "Transpose the notes up an octave",
        "Edit",
        key_display=">",
    ),
    EditorCommand(
        "editor.octave_down",
        "ctrl+down,less_than_sign",
        "transpose(-12)",
        "Octave down",
        "Transpose the notes down an octave",
        "Edit",
        key_display="<",
    ),
    EditorCommand(
        "editor.earlier",
        "alt+left",
        "move_notes(-1)",
        "Move earlier",
        "Move the notes one grid step earlier",
        "Edit",
    ),
    EditorCommand(
        "editor.later",
        "alt+right",
        "move_notes(1)",
        "Move later",
        "Move the notes one grid step later",
        "Edit",
    ),
    EditorCommand(
        "editor.louder", "alt+up", "velocity(8)", "Louder", "Raise the notes' velocity by 8", "Edit"
    ),
    EditorCommand(
        "editor.softer",
        "alt+down",
        "velocity(-8)",
        "Softer",
        "Lower the notes' velocity by 8",
        "Edit",
    ),
    EditorCommand(
        "editor.quantise",
        "q",
        "quantise",
        "Quantise",
        "Snap the selected notes (or the whole track) to the grid",
        "Edit",
    ),
    EditorCommand("editor.copy", "ctrl+c", "copy", "Copy", "Copy the selected notes", "Edit"),
    EditorCommand("editor.cut", "ctrl+x", "cut", "Cut", "Cut the selected notes", "Edit"),
    EditorCommand(
        "editor.paste", "ctrl+v", "paste", "Paste", "Paste copied notes at the cursor", "Edit"
    ),
    EditorCommand("editor.undo", "ctrl+z", "undo", "Undo", "Undo the last edit", "Edit"),
    EditorCommand("editor.redo", "ctrl+y", "redo", "Redo", "Redo the edit undone last", "Edit"),
    # Track and song
    EditorCommand("editor.mute", "m", "mute", "Mute", "Mute or unmute the current track", "Track"),
    EditorCommand(
        "editor.solo", "s", "solo", "Solo", "Solo the current track (again to unsolo)", "Track"
    ),
    EditorCommand(
        "editor.track_properties",
        "i",
        "track_properties",
        "Track properties",
        "Rename the current track, change its instrument or channel",
        "Track",
    ),
    EditorCommand("editor.new_track", "N", "new_track", "New track", "Add an empty track", "Track"),
    EditorCommand(
        "editor.delete_track",
        "D",
        "delete_track",
        "Delete track",
        "Delete the current track (undo brings it back)",
        "Track",
    ),
    EditorCommand(
        "editor.song_settings",
        "k",
        "song_settings",
        "Song settings",
        "Title, tempo, meter and key of the song",
        "Track",
    ),
    # File
    EditorCommand(
        "editor.new", "ctrl+n", "new_project", "New project", "Start a new, empty project", "File"
    ),
    EditorCommand(
        "editor.open",
        "ctrl+o",
        "open",
        "Open",
        "Open a project, or import a MIDI, MusicXML or ABC file",
        "File",
    ),
    EditorCommand("editor.save", "ctrl+s", "save", "Save", "Save the project", "File", footer=True),
    EditorCommand(
        "editor.save_as", "f2", "save_as", "Save as", "Save the project under a new name", "File"
    ),
    EditorCommand(
        "editor.export",
        "ctrl+e",
        "export",
        "Export",
        "Write the song as type-1 MIDI or MusicXML for a DAW or notation program",
        "File",
    ),
)


PALETTE_ONLY: tuple[tuple[str, str, str], ...] = (
    ("Build corpus", "Build the training corpus from the music21 corpus (long)", "build_corpus"),
    ("Train a model", "Train a melody or harmony model for some minutes (long)", "train"),
)
"""(title, help, editor action) of commands without a key: long, rare jobs."""


def available_commands() -> list[EditorCommand]:
    """The commands that work now (the help screen and the palette list these)."""
    return [c for c in COMMANDS if c.available]


def installed_commands() -> list[EditorCommand]:
    """The commands whose services are installed: the editor binds these keys."""
    return [c for c in COMMANDS if c.installed]


def command_for_action(action: str) -> EditorCommand | None:
    """The command whose action is ``action`` (its name, without parameters)."""
    return _BY_ACTION.get(action)


def editor_bindings() -> list[Binding]:
    return [c.binding() for c in installed_commands()]


_BY_ACTION = {c.action.split("(")[0]: c for c in reversed(COMMANDS)}
