"""The editor screen: the piano roll and everything around it, and every command.

Edits are pure functions from :mod:`composer.services.editing`; each result goes
on the session's undo stack with a description. Long work (generation,
harmonisation, transcription, loading, export) runs in one thread worker at a
time, with a progress callback collapsed to its latest report and a cancel
event that Esc sets. Failures of any kind end in one handler that shows a
dialog; nothing in the song is touched by a failed job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Label
from textual.worker import Worker, WorkerState

from composer.core.pitch import note_name
from composer.core.song import PPQ, Song, Track
from composer.core.timing import BarGrid
from composer.errors import Cancelled, ComposerError, InvalidArgumentError, ModelError
from composer.services import editing
from composer.services.editing import Clip, Selection
from composer.services.project import (
    PROJECT_SUFFIX,
    ProjectSession,
    Recovery,
    Startup,
    record_crash,
    remember_last_project,
    retire_recovery,
    session_from_recovery,
)
from composer.tui.commands import (
    PLAYBACK,
    command_for_action,
    editor_bindings,
    installed_commands,
    service_available,
)
from composer.tui.screens.dialogs import (
    ChoiceDialog,
    Field,
    FileDialog,
    FormDialog,
    MessageDialog,
    parse_float,
    parse_int,
)
from composer.tui.widgets.candidates import Candidate, CandidatePanel, CandidateSet
from composer.tui.widgets.piano_roll import Ghost, PianoRoll, grid_name
from composer.tui.widgets.status import StatusLine
from composer.tui.widgets.track_list import TrackList, TrackView, audible_tracks
from composer.tui.widgets.transport import TransportBar, TransportState

log = logging.getLogger(__name__)

AUTOSAVE_INTERVAL_S = 3.0
"""How often unsaved work is written to the recovery file."""
MESSAGES_KEPT = 500
"""Status messages kept in memory (every edit says one)."""
CAPABILITY_INTERVAL_S = 5.0
"""How often the editor looks for models installed (or removed) while it runs."""
COMPACT_WIDTH, COMPACT_HEIGHT = 72, 20
"""Below either, the track list folds away and the lanes get shorter."""
MIN_WIDTH, MIN_HEIGHT = 30, 8
"""Below either, the editor shows a notice instead of a roll too small to use."""

OPEN_SUFFIXES = (
    PROJECT_SUFFIX,
    ".json",
    ".mid",
    ".midi",
    ".kar",
    ".rmi",
    ".musicxml",
    ".xml",
    ".mxl",
    ".abc",
    ".krn",
)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
EXPORT_SUFFIXES = (".mid", ".midi", ".musicxml", ".xml")
MODEL_LABELS = {
    "transformer": "Transformer",
    "lstm": "LSTM",
    "markov": "Markov (baseline)",
    "hmm": "HMM (baseline)",
}
"""How model names read in the dialogs."""


@dataclass
class Job:
    """The long job running now: what to call in the worker and what to do with its result."""

    title: str
    run: Callable[[Callable[[float, str], None], threading.Event], Any]
    done: Callable[[Any], None]
    cancel: threading.Event = field(default_factory=threading.Event)


def when_given(action: Callable[[Any], object]) -> Callable[[Any], None]:
    """A dialog callback that runs ``action`` with the answer, unless the dialog was cancelled."""

    def callback(answer: Any) -> None:
        if answer is not None:
            action(answer)

    return callback


class ProgressRelay:
    """A progress callback for a worker thread that collapses bursts to the latest report.

    The first report after the UI has caught up posts one message; later ones
    only replace the stored value until the UI takes it.
    """

    def __init__(self, screen: EditorScreen) -> None:
        self._screen = screen
        self._lock = threading.Lock()
        self._latest: tuple[float, str] | None = None
        self._posted = False

    def __call__(self, fraction: float, message: str) -> None:
        with self._lock:
            self._latest = (fraction, message)
            if self._posted:
                return
            self._posted = True
        self._screen.post_message(JobProgress(self))

    def take(self) -> tuple[float, str] | None:
        with self._lock:
            latest, self._latest, self._posted = self._latest, None, False
        return latest


class JobProgress(Message):
    """New progress is waiting in ``relay``."""

    def __init__(self, relay: ProgressRelay) -> None:
        super().__init__()
        self.relay = relay


class PlayheadRelay:
    """The player's position callback: runs on the player thread, keeps only the latest tick."""

    def __init__(self, screen: EditorScreen) -> None:
        self._screen = screen
        self._lock = threading.Lock()
        self._tick: int | None = None

    def __call__(self, tick: int) -> None:
        with self._lock:
            pending = self._tick is not None
            self._tick = tick
        if not pending:
            self._screen.post_message(PlayheadMoved(self))

    def take(self) -> int | None:
        with self._lock:
            tick, self._tick = self._tick, None
        return tick


class PlayheadMoved(Message):
    """The player reported a new position (read it from ``relay``)."""

    def __init__(self, relay: PlayheadRelay) -> None:
        super().__init__()
        self.relay = relay


class PlaybackFinished(Message):
    """The player stopped: "end", "stopped", or "error: ..."."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class PortNews(Message):
    """A MIDI port vanished or came back (reported by the port's watcher thread)."""

    def __init__(self, text: str, lost: bool) -> None:
        super().__init__()
        self.text = text
        self.lost = lost


class EditorScreen(Screen):
    """The main screen. It owns the project session; widgets only show and navigate."""

    DEFAULT_CSS = """
    EditorScreen {
        layout: vertical;
        #main { height: 1fr; }
        #too-small { display: none; width: 1fr; height: 1fr; content-align: center middle;
                     text-style: bold; }
        &.compact TrackList { display: none; }
        &.compact CandidatePanel.-shown { height: 8; }
        &.tiny #main, &.tiny CandidatePanel, &.tiny TransportBar { display: none; }
        &.tiny #too-small { display: block; }
    }
    """

    BINDINGS = [
        # Help and Quit first, so the footer shows them even in a narrow terminal (the
        # app's own bindings for these keys stay, for dialogs).
        Binding("f1", "app.help", "Help", id="editor.help"),
        Binding("ctrl+q", "app.quit", "Quit", id="editor.quit"),
        *editor_bindings(),
        Binding(
            "escape", "cancel_job", "Cancel job", show=False, priority=True, id="editor.cancel_job"
        ),
    ]

    def __init__(self, startup: Startup, state_dir: Path | None = None) -> None:
        super().__init__()
        self.session: ProjectSession = startup.session
        self.state_dir = state_dir
        self._startup_messages = list(startup.messages)
        self._recoveries: list[Recovery] = list(startup.recoveries)
        self.muted: frozenset[int] = frozenset()
        self.soloed: frozenset[int] = frozenset()
        self.clipboard: Clip | None = None
        self.job: Job | None = None
        self.generation_values: dict[str, Any] = {}
        self._pending: tuple[CandidateSet, Callable[[int], tuple[Song, str]]] | None = None
        self.messages: list[str] = []
        """The latest status messages, in order (tests read it; the log keeps them all)."""
        self.output_spec: str | None = None
        """The MIDI output port chosen; None plays through composer's own FluidSynth."""
        self.loop = False
        self.playback: Any = None
        self.playing = False
        self._playhead = PlayheadRelay(self)
        self._stop_requested = False
        self._output_lock = threading.Lock()
        self.takes_recorded = 0
        self._ready: frozenset[str] = frozenset()
        """Ids of the model-gated commands whose models are installed now."""

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield TransportBar(id="transport")
        with Horizontal(id="main"):
            yield TrackList(id="tracks")
            yield PianoRoll(self.session.song, id="roll")
        yield Label("Make the terminal larger to edit (at least 30×8).", id="too-small")
        yield CandidatePanel(can_audition=service_available(PLAYBACK), id="candidates")
        yield StatusLine(id="status")
        yield Footer(compact=True)

    @property
    def roll(self) -> PianoRoll:
        return self.query_one("#roll", PianoRoll)

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    @property
    def candidates(self) -> CandidatePanel:
        return self.query_one("#candidates", CandidatePanel)

    def on_mount(self) -> None:
        self.refresh_capabilities()
        self._load_view(self.session)
        self._song_changed()
        self.roll.focus()
        self.call_after_refresh(self._scroll_to_start)
        self.set_interval(AUTOSAVE_INTERVAL_S, self._autosave_tick, name="autosave")
        self.set_interval(CAPABILITY_INTERVAL_S, self.refresh_capabilities, name="capabilities")
        for message in self._startup_messages:
            self.say(message)
        if self._recoveries:
            self.call_after_refresh(self._offer_recovery)

    def on_unmount(self) -> None:
        # However the app ends, no job keeps running and no port or synth stays open.
        if self.job is not None:
            self.job.cancel.set()
        self.close_playback()

    def on_resize(self) -> None:
        width, height = self.size
        self.set_class(width < COMPACT_WIDTH or height < COMPACT_HEIGHT, "compact")
        self.set_class(width < MIN_WIDTH or height < MIN_HEIGHT, "tiny")

    def _scroll_to_start(self) -> None:
        self.roll.scroll_to_cursor(center=True)

    # ------------------------------------------------------------ state

    def say(self, message: str, error: bool = False) -> None:
        """Show ``message`` on the status line."""
        self.messages.append(message)
        if len(self.messages) > 2 * MESSAGES_KEPT:
            del self.messages[:-MESSAGES_KEPT]  # an hour of editing must not grow memory
        log.info("status: %s", message)
        self.status.say(message, error=error)

    def _load_view(self, session: ProjectSession) -> None:
        """Put the roll where the project was left, or at the end of the song if new."""
        roll, song, view = self.roll, session.song, session.view
        with self.prevent(PianoRoll.CursorMoved, PianoRoll.TrackChanged):
            roll.set_reactive(PianoRoll.song, song)
            roll.watch_song(song)
            roll.ticks_per_cell = int(view.get("ticks_per_cell", 120))
            roll.rows_per_pitch = int(view.get("rows_per_pitch", 1))
            roll.grid_ticks = int(view.get("grid_ticks", PPQ // 2))
            roll.track_index = min(int(view.get("track_index", 0)), max(0, len(song.tracks) - 1))
            if "cursor_tick" in view:
                roll.cursor_tick = max(0, int(view["cursor_tick"]))
                roll.cursor_pitch = min(127, max(0, int(view.get("cursor_pitch", 67))))
            else:
                self._cursor_to_end(roll, song)
        count = len(song.tracks)
        self.muted = frozenset(i for i in view.get("muted", []) if isinstance(i, int) and i < count)
        self.soloed = frozenset(
            i for i in view.get("soloed", []) if isinstance(i, int) and i < count
        )
        roll.selection = None

    @staticmethod
    def _cursor_to_end(roll: PianoRoll, song: Song) -> None:
        """After the last note of the current track: where Continue picks up."""
        track = song.tracks[roll.track_index] if song.tracks else None
        if track is not None and track.notes:
            last = max(track.notes, key=lambda n: n.end_tick)
            roll.cursor_tick = roll.snap(last.end_tick + roll.grid_ticks - 1)
            roll.cursor_pitch = last.pitch
        else:
            roll.cursor_tick = 0
            roll.cursor_pitch = 67

    def _store_view(self) -> None:
        roll = self.roll
        self.session.view.update(
            {
                "cursor_tick": roll.cursor_tick,
                "cursor_pitch": roll.cursor_pitch,
                "grid_ticks": roll.grid_ticks,
                "ticks_per_cell": roll.ticks_per_cell,
                "rows_per_pitch": roll.rows_per_pitch,
                "track_index": roll.track_index,
                "muted": sorted(self.muted),
                "soloed": sorted(self.soloed),
            }
        )

    def _song_changed(self) -> None:
        song = self.session.song
        count = len(song.tracks)
        self.muted = frozenset(i for i in self.muted if i < count)
        self.soloed = frozenset(i for i in self.soloed if i < count)
        roll = self.roll
        if roll.song is not song:
            roll.song = song
        roll.set_muted(self.audible if (self.muted or self.soloed) else None)
        self._update_tracks()
        self._update_transport()

    @property
    def audible(self) -> frozenset[int]:
        return audible_tracks(len(self.session.song.tracks), self.muted, self.soloed)

    def _update_tracks(self) -> None:
        self.query_one("#tracks", TrackList).view = TrackView(
            self.session.song, self.roll.track_index, self.muted, self.soloed
        )

    def _update_transport(self, playhead_tick: int | None = None) -> None:
        song, roll = self.session.song, self.roll
        tick = roll.cursor_tick if playhead_tick is None else playhead_tick
        grid = BarGrid.of(song)
        bar, beat = grid.bar_and_beat(tick)
        beat_ticks = PPQ * 4 // song.time_signature_at(tick).denominator
        past_beat = (tick - grid.bar_start_tick(bar - 1)) % beat_ticks
        key = song.key_at(tick)
        track = song.tracks[roll.track_index].name if song.tracks else ""
        self.query_one("#transport", TransportBar).state = TransportState(
            playing=self.playing,
            loop=self.loop,
            output=("" if not service_available(PLAYBACK) else (self.output_spec or "FluidSynth")),
            tempo_bpm=round(song.tempo_at(tick).tempo_bpm, 1),
            meter=str(song.time_signature_at(tick)),
            key=key.name if key else "",
            bar=bar,
            beat=int(beat),
            ticks=past_beat,
            grid=grid_name(roll.grid_ticks),
            track=track,
            project=self.session.name,
            modified=self.session.dirty,
        )

    def on_piano_roll_cursor_moved(self, event: PianoRoll.CursorMoved) -> None:
        self._update_transport()

    def on_piano_roll_track_changed(self, event: PianoRoll.TrackChanged) -> None:
        self._update_tracks()
        self._update_transport()

    def on_piano_roll_selection_changed(self, event: PianoRoll.SelectionChanged) -> None:
        if event.selection is not None:
            notes = (
                len(editing.selected_notes(self._current_track(), event.selection))
                if self.session.song.tracks
                else 0
            )
            self.say(
                f"Selected {event.selection.describe(self.session.song)}: "
                f"{notes} note{'s' if notes != 1 else ''}"
            )

    def on_track_list_clicked(self, event: TrackList.Clicked) -> None:
        if event.part == "mute":
            self._toggle_mute(event.track_index)
        elif event.part == "solo":
            self._toggle_solo(event.track_index)
        else:
            self.roll.track_index = event.track_index
        self.roll.focus()

    # ------------------------------------------------------------ edits

    def _current_track(self) -> Track:
        return self.session.song.tracks[self.roll.track_index]

    def apply(self, song: Song, description: str) -> bool:
        """Put an edited song on the undo stack and show it."""
        if not self.session.apply(song, description):
            return False
        self._song_changed()
        self.say(description)
        return True

    def _edit(
        self, make: Callable[[Song], Song | None], description: str | Callable[[], str]
    ) -> bool:
        """Run an edit; a refusal (out of range, nothing there) is said on the status line."""
        try:
            song = make(self.session.song)
        except ComposerError as err:
            self.say(err.one_line(), error=True)
            return False
        except ValueError as err:
            self.say(str(err), error=True)
            return False
        if song is None:
            return False
        text = description() if callable(description) else description
        return self.apply(song, text)

    def _targets(self) -> list:
        roll = self.roll
        if not self.session.song.tracks:
            return []
        return editing.target_notes(
            self.session.song, roll.track_index, roll.selection, roll.cursor_tick, roll.cursor_pitch
        )

    def _need_targets(self, verb: str) -> list | None:
        notes = self._targets()
        if not notes:
            where = "in the selection" if self.roll.selection else "under the cursor"
            self.say(f"No notes {where} to {verb}.", error=True)
            return None
        return notes

    @staticmethod
    def _count(notes: list) -> str:
        return f"{len(notes)} note{'s' if len(notes) != 1 else ''}"

    def action_insert_note(self) -> None:
        roll = self.roll
        song = self.session.song
        track_index = roll.track_index
        if not song.tracks:
            song = editing.new_track(song, "Track 1")
            track_index = 0
        pitch, tick, length = roll.cursor_pitch, roll.cursor_tick, roll.grid_ticks
        if self._edit(
            lambda _: editing.insert_note(song, track_index, pitch, tick, length),
            f"Insert {note_name(pitch)} in bar {BarGrid.of(song).bar_at_tick(tick) + 1}",
        ):
            roll.track_index = track_index
            roll.move_cursor(tick + length)

    def action_delete_notes(self) -> None:
        notes = self._need_targets("delete")
        if notes:
            index = self.roll.track_index
            self._edit(
                lambda s: editing.delete_notes(s, index, notes), f"Delete {self._count(notes)}"
            )

    def action_resize(self, steps: int) -> None:
        notes = self._need_targets("lengthen" if steps > 0 else "shorten")
        if notes:
            roll = self.roll
            delta = steps * roll.grid_ticks
            self._edit(
                lambda s: editing.resize_notes(
                    s, roll.track_index, notes, delta, min_ticks=min(roll.grid_ticks, PPQ // 8)
                ),
                f"{'Lengthen' if steps > 0 else 'Shorten'} {self._count(notes)}",
            )

    def action_transpose(self, semitones: int) -> None:
        notes = self._need_targets("transpose")
        if not notes:
            return
        roll = self.roll
        amount = {
            12: "an octave up",
            -12: "an octave down",
            1: "a semitone up",
            -1: "a semitone down",
        }.get(semitones, f"{semitones:+d}")
        if self._edit(
            lambda s: editing.transpose_notes(s, roll.track_index, notes, semitones),
            f"Transpose {self._count(notes)} {amount}",
        ):
            self._follow(0, semitones)

    def action_move_notes(self, steps: int) -> None:
        notes = self._need_targets("move")
        if not notes:
            return
        roll = self.roll
        delta = steps * roll.grid_ticks
        if self._edit(
            lambda s: editing.move_notes(s, roll.track_index, notes, delta),
            f"Move {self._count(notes)} {'later' if steps > 0 else 'earlier'}",
        ):
            self._follow(delta, 0)

    def _follow(self, delta_ticks: int, semitones: int) -> None:
        """Move the cursor and selection with the notes just moved."""
        roll = self.roll
        selection = roll.selection
        if selection is not None:
            roll._anchor = None  # the moved selection is a fresh one
            roll.selection = selection.moved(delta_ticks, semitones)
            roll._anchor = None
        roll.set_reactive(PianoRoll.cursor_tick, max(0, roll.cursor_tick + delta_ticks))
        roll.set_reactive(PianoRoll.cursor_pitch, min(127, max(0, roll.cursor_pitch + semitones)))
        roll.scroll_to_cursor()
        roll.refresh()
        self._update_transport()

    def action_velocity(self, delta: int) -> None:
        notes = self._need_targets("change")
        if notes:
            index = self.roll.track_index
            self._edit(
                lambda s: editing.set_velocity(s, index, notes, delta),
                f"{'Louder' if delta > 0 else 'Softer'}: {self._count(notes)}",
            )

    def action_quantise(self) -> None:
        roll = self.roll
        if not self.session.song.tracks:
            return
        track = self._current_track()
        notes = (
            editing.selected_notes(track, roll.selection) if roll.selection else list(track.notes)
        )
        if not notes:
            self.say("No notes to quantise.", error=True)
            return
        grid = roll.grid_ticks
        self._edit(
            lambda s: editing.quantise_notes(s, roll.track_index, notes, grid),
            f"Quantise {self._count(notes)} to {grid_name(grid)}",
        )

    def action_copy(self) -> bool:
        roll = self.roll
        if roll.selection is None or not self.session.song.tracks:
            self.say("Select notes to copy first (shift+arrows, b for a bar).", error=True)
            return False
        self.clipboard = editing.copy_notes(self.session.song, roll.track_index, roll.selection)
        self.say(f"Copied {self._count(list(self.clipboard.notes))}")
        return True

    def action_cut(self) -> None:
        if self.action_copy():
            notes = self._targets()
            index = self.roll.track_index
            self._edit(lambda s: editing.delete_notes(s, index, notes), f"Cut {self._count(notes)}")

    def action_paste(self) -> None:
        clip = self.clipboard
        if clip is None or not clip.notes:
            self.say("Nothing copied yet.", error=True)
            return
        roll = self.roll
        song = self.session.song
        track_index = roll.track_index
        if not song.tracks:
            song = editing.new_track(song, "Track 1")
            track_index = 0
        at = roll.cursor_tick
        if self._edit(
            lambda _: editing.paste_clip(song, track_index, clip, at),
            f"Paste {self._count(list(clip.notes))}",
        ):
            low = min(n.pitch for n in clip.notes)
            high = max(n.pitch for n in clip.notes)
            roll.selection = Selection(at, at + clip.length_ticks, low, high)

    def action_undo(self) -> None:
        description = self.session.undo()
        if description is None:
            self.say("Nothing to undo.")
            return
        self._song_changed()
        self.say(f"Undid: {description}")

    def action_redo(self) -> None:
        description = self.session.redo()
        if description is None:
            self.say("Nothing to redo.")
            return
        self._song_changed()
        self.say(f"Redid: {description}")

    # ------------------------------------------------------------ tracks

    def action_mute(self) -> None:
        if self.session.song.tracks:
            self._toggle_mute(self.roll.track_index)

    def action_solo(self) -> None:
        if self.session.song.tracks:
            self._toggle_solo(self.roll.track_index)

    def _toggle_mute(self, index: int) -> None:
        self.muted = self.muted ^ {index}
        name = self.session.song.tracks[index].name
        self._song_changed()
        self.say(f"{name} {'muted' if index in self.muted else 'unmuted'}")

    def _toggle_solo(self, index: int) -> None:
        self.soloed = frozenset() if index in self.soloed else self.soloed | {index}
        name = self.session.song.tracks[index].name
        self._song_changed()
        self.say(f"{name} {'soloed' if index in self.soloed else 'no longer soloed'}")

    def action_new_track(self) -> None:
        if self._edit(lambda s: editing.new_track(s), "New track"):
            self.roll.track_index = len(self.session.song.tracks) - 1

    def action_delete_track(self) -> None:
        if not self.session.song.tracks:
            return
        index = self.roll.track_index
        name = self.session.song.tracks[index].name
        self.muted = frozenset(i if i < index else i - 1 for i in self.muted if i != index)
        self.soloed = frozenset(i if i < index else i - 1 for i in self.soloed if i != index)
        self._edit(lambda s: editing.delete_track(s, index), f"Delete track {name}")

    def action_track_properties(self) -> None:
        if not self.session.song.tracks:
            self.say("There are no tracks yet (N adds one).", error=True)
            return
        index = self.roll.track_index
        track = self._current_track()
        programs = tuple((f"{i + 1} {name}", i) for i, name in enumerate(editing.GM_PROGRAMS))

        def build(values: dict[str, Any]) -> Song:
            channel = parse_int(values["channel"], "Channel", 1, 16)
            assert channel is not None
            return editing.set_track_properties(
                self.session.song,
                index,
                name=values["name"],
                program=values["program"],
                channel=channel - 1,
            )

        fields = [
            Field("name", "Name", value=track.name),
            Field("program", "Instrument", "select", track.program, programs),
            Field(
                "channel", "MIDI channel", value=track.channel + 1, placeholder="1-16 (10 is drums)"
            ),
        ]
        self.app.push_screen(
            FormDialog(f"Track {index + 1}", fields, build),
            when_given(lambda song: self.apply(song, f"Track {index + 1} properties")),
        )

    def action_song_settings(self) -> None:
        song = self.session.song
        key = song.keys[0].name if song.keys else ""

        def build(values: dict[str, Any]) -> Song:
            tempo = parse_float(values["tempo"], "Tempo", 20, 400)
            meter = editing.parse_meter(values["meter"])
            return editing.set_song_settings(
                self.session.song, values["title"], tempo, meter, editing.parse_key(values["key"])
            )

        intro = ""
        if len(song.tempos) > 1 or len(song.time_signatures) > 1 or len(song.keys) > 1:
            intro = (
                "This song changes tempo, meter or key along the way; these values replace them."
            )
        fields = [
            Field("title", "Title", value=song.title),
            Field("tempo", "Tempo (BPM)", value=f"{song.tempos[0].tempo_bpm:g}"),
            Field("meter", "Meter", value=str(song.time_signatures[0]), placeholder="4/4"),
            Field("key", "Key", value=key, placeholder="e.g. D major, F# minor (blank: none)"),
        ]
        self.app.push_screen(
            FormDialog("Song settings", fields, build, intro=intro),
            when_given(lambda result: self.apply(result, "Song settings")),
        )

    # ------------------------------------------------------------ jobs

    def start_job(
        self,
        title: str,
        run: Callable[[Callable[[float, str], None], threading.Event], Any],
        done: Callable[[Any], None],
        hint: str = "Esc cancels",
    ) -> None:
        """Run ``run(progress, cancel)`` in a worker thread, then ``done(result)`` in the UI."""
        if self.job is not None:
            self.job.cancel.set()
        job = Job(title, run, done)
        self.job = job
        self.status.start_job(title, hint)
        self.refresh_bindings()
        self._run_job(job, ProgressRelay(self))

    @work(thread=True, exclusive=True, group="job", exit_on_error=False)
    def _run_job(self, job: Job, relay: ProgressRelay) -> tuple[Job, Any]:
        return job, job.run(relay, job.cancel)

    def on_job_progress(self, message: JobProgress) -> None:
        latest = message.relay.take()
        if latest is not None and self.job is not None:
            self.status.show_progress(*latest)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "autosave":
            if event.state == WorkerState.ERROR:
                self._autosave_failed(worker.error)
            return
        if worker.group == "playback":
            if event.state == WorkerState.SUCCESS:
                if self._stop_requested:
                    self.stop_playback()  # Space came while the output was opening
                    return
                self.say(str(worker.result))
                self._update_transport()
            elif event.state == WorkerState.ERROR:
                self.playing = False
                self.report_error(worker.error, "Playback")
            return
        if worker.group not in ("job", "background"):
            return
        if event.state == WorkerState.SUCCESS and worker.group == "job":
            assert worker.result is not None
            finished: Job = worker.result[0]
            result = worker.result[1]
            if finished is self.job:
                self._end_job()
                try:
                    finished.done(result)
                except ComposerError as err:
                    self.report_error(err, finished.title)
        elif event.state == WorkerState.ERROR:
            context = worker.name
            if worker.group == "job":
                context = self.job.title if self.job is not None else "Job"
                self._end_job()
            self.report_error(worker.error, context)
        elif event.state == WorkerState.CANCELLED and worker.group == "job":
            self._end_job()

    def _end_job(self) -> None:
        self.job = None
        self.status.end_job()
        self.refresh_capabilities()  # a training job may have installed a model
        self.refresh_bindings()

    def report_error(self, error: BaseException | None, context: str = "") -> None:
        """The one place failures go: a dialog for the user, a log entry for a bug."""
        if isinstance(error, Cancelled):
            self.say(f"{context or 'Job'} cancelled; nothing was changed.")
            return
        if isinstance(error, ComposerError):
            self.say(error.one_line(), error=True)
            self.app.push_screen(
                MessageDialog.for_error(
                    error, f"{context} failed" if context else "Something went wrong"
                )
            )
            return
        where = record_crash(error or RuntimeError("unknown failure"), self.state_dir)
        text = f"{type(error).__name__}: {error}"
        self.say(f"Internal error in {context or 'a job'}: {text}", error=True)
        self.app.push_screen(
            MessageDialog(
                "Internal error",
                f"{context or 'A job'} stopped because of a bug in composer: {text}",
                f"Your song is untouched. The details are in {where}.",
            )
        )

    def refresh_capabilities(self) -> None:
        """Look again for the models that commands need; the footer follows any change."""
        ready = frozenset(c.id for c in installed_commands() if c.ready is not None and c.available)
        if ready != self._ready:
            self._ready = ready
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_job":
            return self.job is not None
        command = command_for_action(action)
        if command is not None and command.ready is not None:
            return command.id in self._ready  # hidden, and inert, while its model is missing
        return True

    def action_cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
            self.say(f"Cancelling {self.job.title}…")

    # ------------------------------------------------------ composition

    def _generation_fields(self, infill: bool) -> list[Field]:
        from composer.services.capabilities import melody_models
        from composer.services.generate import GenerationSettings

        defaults = GenerationSettings()
        v = self.generation_values
        installed = melody_models(infill=infill)
        if not installed:
            raise ModelError(
                "no melody model that can "
                + ("infill" if infill else "continue")
                + " is installed",
                "train one (Ctrl+P, Train a model) or restore models/ from git",
            )
        models = tuple((MODEL_LABELS.get(m, m), m) for m in installed)
        model = v.get("model") if v.get("model") in installed else installed[0]
        fields = [Field("model", "Model", "select", model, models)]
        if not infill:
            fields.append(Field("bars", "Bars", value=v.get("bars", defaults.bars)))
        fields += [
            Field("variations", "Variations", value=v.get("variations", 4)),
            Field("temperature", "Temperature", value=v.get("temperature", defaults.temperature)),
            Field("top_p", "Top-p", value=v.get("top_p", defaults.top_p)),
            Field(
                "seed", "Seed", value=v.get("seed", ""), placeholder="blank: a new one each time"
            ),
            Field(
                "pitch_range",
                "Pitch range",
                value=v.get("pitch_range", ""),
                placeholder="e.g. C4:C6 (blank: any)",
            ),
            Field("key_lock", "Keep to the key", "check", v.get("key_lock", False)),
        ]
        return fields

    def _build_settings(self, values: dict[str, Any]) -> Any:
        from composer.core.pitch import parse_range
        from composer.services.generate import GenerationSettings

        pitch_range = parse_range(values["pitch_range"]) if values["pitch_range"] else None
        settings = GenerationSettings(
            model=values["model"],
            bars=parse_int(values.get("bars", "4") or "4", "Bars", 1, 64) or 4,
            variations=parse_int(values["variations"], "Variations", 1, 9) or 4,
            temperature=parse_float(values["temperature"], "Temperature", 0.0, 5.0),
            top_p=parse_float(values["top_p"], "Top-p", 0.01, 1.0),
            seed=parse_int(values["seed"], "Seed", 0, 2**31 - 1),
            key_lock=bool(values["key_lock"]),
            pitch_range=pitch_range,
        )
        self.generation_values = dict(values)
        return settings

    def action_continue(self) -> None:
        roll = self.roll
        from_tick = roll.selection.end_tick if roll.selection else roll.cursor_tick
        where = f"bar {BarGrid.of(self.session.song).bar_and_beat(from_tick)[0]}"
        try:
            fields = self._generation_fields(infill=False)
        except ComposerError as err:
            self.report_error(err, "Continue")
            return
        dialog = FormDialog(
            "Continue",
            fields,
            self._build_settings,
            submit_label="Generate",
            intro=f"Continue track {roll.track_index + 1} from {where}.",
        )
        self.app.push_screen(
            dialog, when_given(lambda settings: self.run_continue(settings, from_tick))
        )

    def run_continue(self, settings: Any, from_tick: int | None = None) -> None:
        """Generate continuations of the current track (the dialog's second half; tests call it)."""
        song, track_index = self.session.song, self.roll.track_index
        if from_tick is None:
            from_tick = self.roll.cursor_tick

        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> Any:
            from composer.services.generate import continue_melody

            return continue_melody(
                song,
                settings,
                track_index=track_index,
                from_tick=from_tick,
                progress=progress,
                cancel=cancel,
            )

        self.start_job(
            f"Continue ({settings.model})",
            run,
            lambda result: self._offer_melodies(result, settings, "continue"),
        )

    def action_infill(self) -> None:
        roll = self.roll
        song = self.session.song
        selection = roll.selection or Selection.of_bars(
            song, *(BarGrid.of(song).bar_at_tick(roll.cursor_tick),) * 2
        )
        first, last = selection.bar_range(song)
        try:
            fields = self._generation_fields(infill=True)
        except ComposerError as err:
            self.report_error(err, "Infill")
            return
        dialog = FormDialog(
            "Infill",
            fields,
            self._build_settings,
            submit_label="Generate",
            intro=f"Regenerate {selection.describe(song)} of track {roll.track_index + 1}.",
        )
        self.app.push_screen(
            dialog, when_given(lambda settings: self.run_infill(settings, first, last))
        )

    def run_infill(self, settings: Any, first_bar: int, last_bar: int) -> None:
        song, track_index = self.session.song, self.roll.track_index

        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> Any:
            from composer.services.generate import infill_melody

            return infill_melody(
                song,
                first_bar,
                last_bar,
                settings,
                track_index=track_index,
                progress=progress,
                cancel=cancel,
            )

        self.start_job(
            f"Infill ({settings.model})",
            run,
            lambda result: self._offer_melodies(result, settings, "infill"),
        )

    def _offer_melodies(self, result: Any, settings: Any, kind: str) -> None:
        from composer.services.generate import apply_infill

        candidates = CandidateSet(
            kind=kind,
            title=f"{'Continuation' if kind == 'continue' else 'Infill'} of "
            f"{self.session.song.tracks[result.track_index].name} ({settings.model})",
            candidates=tuple(
                Candidate((track,), (result.track_index,)) for track in result.variations
            ),
            start_tick=result.start_tick,
            end_tick=result.end_tick,
            track_index=result.track_index,
            messages=tuple(result.messages),
        )
        total = len(result.variations)
        label = "continuation" if kind == "continue" else "infill"

        def accept(index: int) -> tuple[Song, str]:
            # Both land the same way: the new bars replace that span of the track and
            # whatever follows it stays, so continuing mid-song keeps the later bars.
            return (
                apply_infill(self.session.song, result, index),
                f"Accept {label} {index + 1}/{total} ({settings.model})",
            )

        self.show_candidates(candidates, accept)

    def action_harmonize(self) -> None:
        if not self.session.song.tracks:
            self.say("There is no melody to harmonize yet.", error=True)
            return
        from composer.services.capabilities import harmony_models, harmony_styles

        index = self.roll.track_index
        style_names = {
            "chorale": "four-part chorale",
            "chords": "chord symbols",
        }
        styles = harmony_styles()
        if not styles:
            self.report_error(
                ModelError(
                    "no harmony model is installed",
                    "train one (Ctrl+P, Train a model) or restore models/ from git",
                ),
                "Harmonize",
            )
            return

        def model_options(style: str) -> tuple[tuple[str, str], ...]:
            # Whatever the registry offers for the style now, best first: a neural
            # model that finished training a minute ago is already in the list.
            return tuple((MODEL_LABELS.get(m, m), m) for m in harmony_models(style))

        first = model_options(styles[0])
        fields = [
            Field(
                "style", "Style", "select", styles[0], tuple((style_names[s], s) for s in styles)
            ),
            Field("model", "Model", "select", first[0][1], first),
            Field(
                "voicing",
                "Voicing",
                "select",
                "close",
                (("close (chord style)", "close"), ("open (chord style)", "open")),
            ),
            Field("variations", "Variations", value=3),
            Field("temperature", "Temperature", value=1.0),
            Field("seed", "Seed", value="", placeholder="blank: a new one each time"),
        ]

        def changed(form: FormDialog, name: str, value: Any) -> None:
            if name == "style":  # the best model for the new style, as on opening
                options = model_options(value)
                form.set_options("model", options, options[0][1] if options else None)

        def build(values: dict[str, Any]) -> dict[str, Any]:
            return {
                "style": values["style"],
                "model": values["model"],
                "voicing": values["voicing"],
                "variations": parse_int(values["variations"], "Variations", 1, 9) or 3,
                "temperature": parse_float(values["temperature"], "Temperature", 0.01, 5.0),
                "seed": parse_int(values["seed"], "Seed", 0, 2**31 - 1),
            }

        name = self.session.song.tracks[index].name
        self.app.push_screen(
            FormDialog(
                "Harmonize",
                fields,
                build,
                submit_label="Harmonize",
                intro=f"Harmonize track {index + 1} ({name}). A chorale adds Alto, Tenor "
                "and Bass; chord symbols add a Chords track that plays them.",
                on_change=changed,
            ),
            when_given(lambda options: self.run_harmonize(**options)),
        )

    def run_harmonize(
        self,
        style: str,
        model: str,
        variations: int = 3,
        temperature: float = 1.0,
        seed: int | None = None,
        voicing: str = "close",
    ) -> None:
        song, track_index = self.session.song, self.roll.track_index

        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> Any:
            from composer.services.harmonize import harmonize

            return harmonize(
                song,
                track_index,
                style=style,
                model=model,
                variations=variations,
                seed=seed,
                temperature=temperature,
                progress=progress,
                cancel=cancel,
                voicing=voicing,
            )

        def done(result: Any) -> None:
            first_new = len(self.session.song.tracks)
            melody = song.tracks[result.melody_track].name
            candidates = CandidateSet(
                kind="harmonize",
                title=f"Harmony for {melody} ({result.style}, {result.model}, seed {result.seed})",
                candidates=tuple(
                    Candidate(tuple(tracks), tuple(range(first_new, first_new + len(tracks))))
                    for tracks in result.variations
                ),
                start_tick=0,
                end_tick=max(song.end_tick, 1),
                track_index=result.melody_track,
                messages=tuple(result.messages),
            )
            total = len(result.variations)
            # add_tracks, not harmonize.add_variation: it also keeps track names unique
            # ("Bass 2" beside an existing "Bass").
            self.show_candidates(
                candidates,
                lambda i: (
                    editing.add_tracks(self.session.song, result.variations[i]),
                    f"Harmonize {melody} ({result.style}, {result.model}) {i + 1}/{total}",
                ),
            )

        self.start_job(f"Harmonize ({style}, {model})", run, done)

    def show_candidates(
        self, candidates: CandidateSet, accept: Callable[[int], tuple[Song, str]]
    ) -> None:
        """Show generated variations as lanes; ``accept(i)`` gives the song with one applied."""
        if not candidates.candidates:
            self.say("The model returned no variations.", error=True)
            return
        self._pending = (candidates, accept)
        for message in candidates.messages:
            self.say(message)
        self.run_worker(self.candidates.show(candidates), group="ui")
        audition = ", p audition" if self.candidates.can_audition else ""
        self.say(
            f"{len(candidates.candidates)} candidates ready: ←/→ choose{audition}, "
            "Enter accept, Esc discard"
        )

    def on_candidate_panel_highlighted(self, event: CandidatePanel.Highlighted) -> None:
        if self._pending is None:
            return
        candidates = self._pending[0]
        candidate = candidates.candidates[event.index]
        self.roll.set_ghost(
            Ghost(
                tuple(
                    (colour, track.notes)
                    for track, colour in zip(
                        candidate.tracks, candidate.colour_indices, strict=True
                    )
                ),
                candidates.start_tick,
                candidates.end_tick,
            )
        )

    def on_candidate_panel_accepted(self, event: CandidatePanel.Accepted) -> None:
        if self._pending is None:
            return
        _, accept = self._pending
        try:
            song, description = accept(event.index)
        except (ComposerError, ValueError, IndexError) as err:
            self.say(f"Cannot accept that candidate: {err}", error=True)
            return
        self._close_candidates()
        self.apply(song, description)

    def on_candidate_panel_dismissed(self, event: CandidatePanel.Dismissed) -> None:
        self._close_candidates()
        self.say("Candidates discarded; the song is unchanged.")

    def _close_candidates(self) -> None:
        self._pending = None
        self.candidates.hide()
        self.roll.set_ghost(None)
        self.roll.focus()

    def on_candidate_panel_audition(self, event: CandidatePanel.Audition) -> None:
        self.audition(event.index)

    def audition(self, index: int) -> None:
        """Play one candidate in place (with the rest of the song around it)."""
        if self._pending is None:
            return
        song, _ = self._pending[1](index)
        candidates = self._pending[0]
        grid = BarGrid.of(song)
        start = grid.bar_start_tick(max(0, grid.bar_at_tick(candidates.start_tick) - 1))
        added = range(len(self.session.song.tracks), len(song.tracks))
        tracks = tuple(sorted(set(self.audible) | set(added)))
        self.play(song, start, candidates.end_tick, f"Auditioning candidate {index + 1}", tracks)

    def action_transcribe(self) -> None:
        fields = [
            Field("path", "Audio file", value="", placeholder="a WAV, FLAC, OGG or MP3 file"),
            Field(
                "mode",
                "Mode",
                "select",
                "auto",
                (
                    ("automatic", "auto"),
                    ("one voice (hummed, sung)", "mono"),
                    ("several voices", "poly"),
                ),
            ),
            Field(
                "quantize",
                "Quantise to",
                "select",
                "1/16",
                (("1/8", "1/8"), ("1/16", "1/16"), ("1/32", "1/32"), ("off", "off")),
            ),
            Field("tempo", "Tempo (BPM)", value="", placeholder="blank: detect it"),
            Field("keep_bends", "Keep pitch bends", "check", False),
        ]

        def build(values: dict[str, Any]) -> dict[str, Any]:
            if not values["path"]:
                raise ValueError("Choose an audio file.")
            path = Path(values["path"]).expanduser()
            if not path.is_file():
                raise ValueError(f"{path} is not a file.")
            tempo = parse_float(values["tempo"], "Tempo", 20, 400) if values["tempo"] else None
            return {
                "path": path,
                "mode": values["mode"],
                "quantize": values["quantize"],
                "tempo_bpm": tempo,
                "keep_bends": bool(values["keep_bends"]),
            }

        self.app.push_screen(
            FormDialog(
                "Transcribe audio",
                fields,
                build,
                submit_label="Transcribe",
                browse={"path": ("Choose an audio file", AUDIO_SUFFIXES)},
            ),
            when_given(lambda options: self.run_transcribe(**options)),
        )

    def run_transcribe(
        self,
        path: Path,
        mode: str = "auto",
        quantize: str = "1/16",
        tempo_bpm: float | None = None,
        keep_bends: bool = False,
    ) -> None:
        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> Any:
            from composer.services.transcribe import transcribe_file

            return transcribe_file(
                path,
                mode=mode,
                quantize=quantize,
                tempo_bpm=tempo_bpm,
                keep_bends=keep_bends,
                progress=progress,
                cancel=cancel,
            )

        def done(result: Any) -> None:
            heard = result.song
            if not heard.note_count:
                self.report_error(
                    InvalidArgumentError(f"{path.name}: no notes were heard"), "Transcribe"
                )
                return
            song = self.session.song
            if not song.note_count:
                # An empty project takes the recording's tempo, meter and key too.
                song = Song(
                    title=song.title or path.stem,
                    tempos=heard.tempos,
                    time_signatures=heard.time_signatures,
                    keys=heard.keys,
                )
            tracks = [t if t.name else Track(name=path.stem, notes=t.notes) for t in heard.tracks]
            first_new = len(song.tracks)
            for message in result.messages:
                self.say(message)
            if self.apply(
                editing.add_tracks(song, tracks),
                f"Transcribe {path.name}: {heard.note_count} notes",
            ):
                self.roll.track_index = first_new
                first = min(self.session.song.tracks[first_new].notes)
                self.roll.move_cursor(first.start_tick, first.pitch)  # show what was heard

        self.start_job(f"Transcribe {path.name}", run, done)

    # ------------------------------------------------------- live input

    def _port_options(self) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]], str]:
        """(inputs, outputs, note) for the port pickers: real ports, composer's own, FluidSynth."""
        from composer.services.ports import list_midi_ports

        inputs: list[tuple[str, Any]] = []
        outputs: list[tuple[str, Any]] = [("composer's FluidSynth (General MIDI)", "")]
        note = ""
        try:
            listing = list_midi_ports()
        except ComposerError as err:
            note = f"MIDI ports cannot be listed: {err.one_line()}"
            return [("composer's virtual input", "")], outputs, note
        inputs += [(name, name) for name in listing.inputs if not name.startswith("composer")]
        inputs.append(
            (
                f"composer's virtual input {listing.virtual_input} "
                "(connect a controller or DAW to it)",
                "",
            )
        )
        outputs += [(name, name) for name in listing.outputs if not name.startswith("composer")]
        outputs.append((f"virtual output {listing.virtual_output}", "virtual"))
        return inputs, outputs, note

    def _live_fields(self) -> tuple[list[Field], str]:
        inputs, outputs, note = self._port_options()
        song = self.session.song
        default_out = self.output_spec if self.output_spec in [v for _, v in outputs] else ""
        fields = [
            Field("input", "MIDI input", "select", inputs[0][1], tuple(inputs)),
            Field("output", "Sound to", "select", default_out or "", tuple(outputs)),
            Field("tempo", "Tempo (BPM)", value=f"{round(song.tempos[0].tempo_bpm, 1):g}"),
            Field("meter", "Meter", value=str(song.time_signatures[0])),
        ]
        return fields, note

    @staticmethod
    def _ports(values: dict[str, Any]) -> dict[str, Any]:
        output = values["output"]
        return {
            "inp": values["input"] or None,
            "out": None if output in ("", "virtual") else output,
            "virtual_in": not values["input"],
            "virtual_out": output == "virtual",
        }

    def action_record(self) -> None:
        from composer.services.record import RecordSettings, parse_grid

        fields, note = self._live_fields()
        grid = grid_name(self.roll.grid_ticks)
        fields += [
            Field("count_in", "Count-in bars", value=1),
            Field("metronome", "Metronome", "check", True),
            Field("thru", "Hear what I play", "check", True),
            Field(
                "quantise",
                "Quantise to",
                "select",
                grid if grid != "1/1" else "off",
                tuple(
                    (name, name) for name in ("off", "1/4", "1/8", "1/8T", "1/16", "1/16T", "1/32")
                ),
            ),
        ]
        bar = BarGrid.of(self.session.song).bar_at_tick(self.roll.cursor_tick)

        def build(values: dict[str, Any]) -> dict[str, Any]:
            settings = RecordSettings(
                tempo_bpm=parse_float(values["tempo"], "Tempo", 20, 400),
                meter=values["meter"],
                count_in_bars=parse_int(values["count_in"], "Count-in bars", 0, 8) or 0,
                metronome=bool(values["metronome"]),
                thru=bool(values["thru"]),
            )
            quantise = None if values["quantise"] == "off" else parse_grid(values["quantise"])
            return {"settings": settings, "quantise_ticks": quantise, **self._ports(values)}

        intro = (
            f"The take starts at bar {bar + 1} (the cursor's bar) on a new track; "
            "Esc ends it." + (f"\n{note}" if note else "")
        )
        self.app.push_screen(
            FormDialog("Record", fields, build, submit_label="Record", intro=intro),
            when_given(lambda options: self.run_record(**options)),
        )

    def run_record(
        self,
        settings: Any,
        inp: str | None,
        out: str | None,
        virtual_in: bool,
        virtual_out: bool,
        quantise_ticks: int | None = None,
        seconds: float | None = None,
    ) -> None:
        """Record a take (until Esc, or ``seconds``); it becomes a new track at the cursor's bar."""
        from dataclasses import replace as replace_value

        self.stop_playback()
        self.close_playback()  # the take gets the output (and its synth) to itself
        grid = BarGrid.of(self.session.song)
        offset = grid.bar_start_tick(grid.bar_at_tick(self.roll.cursor_tick))
        number = self.takes_recorded + 1

        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> Any:
            from composer.services.record import record_take

            return record_take(
                inp,
                out,
                virtual_in=virtual_in,
                virtual_out=virtual_out,
                settings=settings,
                seconds=seconds,
                take_number=number,
                progress=progress,
                cancel=cancel,
            )

        def done(take: Any) -> None:
            self.takes_recorded = number
            if not take.track.notes:
                self.say(f"Take {number}: no notes were played.", error=True)
                return
            track = take.track
            if quantise_ticks is not None:
                track = editing.quantise_notes(
                    Song(tracks=(track,)), 0, list(track.notes), quantise_ticks
                ).tracks[0]
            notes = tuple(replace_value(n, start_tick=n.start_tick + offset) for n in track.notes)
            song = editing.add_tracks(
                self.session.song, [replace_value(track, name=f"Take {number}", notes=notes)]
            )
            if self.apply(song, f"Record take {number}: {len(notes)} notes"):
                self.roll.track_index = len(song.tracks) - 1

        self.start_job(f"Recording take {number}", run, done, hint="Esc stops")

    def action_jam(self) -> None:
        from composer.services.capabilities import harmony_models, harmony_styles
        from composer.services.jam import JamSettings

        def model_options(style: str) -> tuple[tuple[str, str], ...]:
            installed = harmony_models(style)
            return (("best installed", "auto"), *((MODEL_LABELS.get(m, m), m) for m in installed))

        styles = harmony_styles() or ["chorale", "chords"]
        style_names = {"chorale": "chorale voices", "chords": "chords"}

        fields, note = self._live_fields()
        fields = [
            Field(
                "mode",
                "Mode",
                "select",
                "harmonize",
                (
                    ("live harmoniser: each note comes out as a chord", "harmonize"),
                    ("call and response: play a phrase, pause, hear an answer", "call-response"),
                ),
            ),
            *fields,
            Field(
                "style",
                "Harmony style",
                "select",
                styles[0],
                tuple((style_names[s], s) for s in styles),
            ),
            Field("harmony_model", "Harmony model", "select", "auto", model_options(styles[0])),
            Field("pause", "Answer after (beats)", value=2),
            Field("thru", "Hear what I play", "check", True),
        ]

        def build(values: dict[str, Any]) -> dict[str, Any]:
            settings = JamSettings(
                mode=values["mode"],
                tempo_bpm=parse_float(values["tempo"], "Tempo", 20, 400),
                meter=values["meter"],
                thru=bool(values["thru"]),
                pause_beats=parse_float(values["pause"], "Answer after", 0.25, 16),
                style=values["style"],
                harmony_model=values["harmony_model"],
                key=self.session.song.keys[0].name if self.session.song.keys else None,
            )
            return {"settings": settings, **self._ports(values)}

        intro = "Play your MIDI controller; Esc ends the jam." + (f"\n{note}" if note else "")

        def changed(form: FormDialog, name: str, value: Any) -> None:
            if name == "style":
                form.set_options("harmony_model", model_options(value))

        self.app.push_screen(
            FormDialog("Jam", fields, build, submit_label="Start", intro=intro, on_change=changed),
            when_given(lambda options: self.run_jam(**options)),
        )

    def run_jam(
        self,
        settings: Any,
        inp: str | None,
        out: str | None,
        virtual_in: bool,
        virtual_out: bool,
        seconds: float | None = None,
    ) -> None:
        self.stop_playback()
        self.close_playback()

        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> Any:
            from composer.services.jam import run_jam

            return run_jam(
                settings,
                inp,
                out,
                virtual_in=virtual_in,
                virtual_out=virtual_out,
                seconds=seconds,
                progress=progress,
                cancel=cancel,
            )

        def done(result: Any) -> None:
            what = (
                f"{result.responses} answer{'s' if result.responses != 1 else ''}"
                if result.mode == "call-response"
                else f"{len(result.events)} events"
            )
            errors = f", {result.errors} problems (see the log)" if result.errors else ""
            self.say(f"Jam ({result.mode}) ended: {what}{errors}.")

        self.start_job(f"Jam ({settings.mode})", run, done, hint="Esc stops")

    def action_train(self) -> None:
        fields = [
            Field(
                "task",
                "Task",
                "select",
                "melody",
                (
                    ("melody continuation", "melody"),
                    ("chorale harmonisation", "chorale"),
                    ("chord harmonisation", "chords"),
                ),
            ),
            Field(
                "model",
                "Architecture",
                "select",
                "lstm",
                (("Transformer", "transformer"), ("LSTM", "lstm")),
            ),
            Field("minutes", "Minutes", value=10),
        ]

        def build(values: dict[str, Any]) -> dict[str, Any]:
            return {
                "task": values["task"],
                "model": values["model"],
                "minutes": parse_float(values["minutes"], "Minutes", 0.5, 24 * 60),
            }

        intro = (
            "Trains on the built corpus (Build corpus first) and resumes where the last "
            "run of this task stopped. The checkpoint stays in the run folder; "
            "`composer train --out` installs one."
        )
        self.app.push_screen(
            FormDialog("Train a model", fields, build, submit_label="Train", intro=intro),
            when_given(lambda options: self.run_train(**options)),
        )

    def run_train(self, task: str, model: str, minutes: float) -> None:
        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> Any:
            from composer.services.train import train_task

            return train_task(task, model, minutes=minutes, progress=progress, cancel=cancel)

        def done(summary: dict[str, Any]) -> None:
            self.say(
                f"Trained {task} {model}: {summary['steps']} steps, best validation loss "
                f"{summary['best_val_loss']:.4f} ({summary['stopped_because']}); "
                f"run folder {summary['run_dir']}"
            )

        self.start_job(
            f"Train {task} ({model})", run, done, hint="Esc stops (keeps the best so far)"
        )

    def action_build_corpus(self) -> None:
        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> Any:
            from composer.services.corpus import build_corpus

            return build_corpus("music21", progress=progress, cancel=cancel)

        def done(manifest: dict[str, Any]) -> None:
            counts = ", ".join(
                f"{kind}: {sum(c.values())}" for kind, c in manifest["counts"].items()
            )
            self.say(f"Corpus built in {manifest['seconds']} s ({counts}).")

        self.start_job("Build corpus", run, done)

    # ---------------------------------------------------------- playback

    def action_toggle_play(self) -> None:
        if self.playing:
            self.stop_playback()
            return
        roll, song = self.roll, self.session.song
        if roll.selection is not None:
            start, end = roll.selection.start_tick, roll.selection.end_tick
        else:
            start, end = (roll.cursor_tick if roll.cursor_tick < song.end_tick else 0), None
        if self.loop and roll.selection is None:
            start = 0
        self.play(song, start, end, "Playing", tracks=tuple(sorted(self.audible)))

    def action_toggle_loop(self) -> None:
        self.loop = not self.loop
        what = "the selection" if self.roll.selection else "the whole song"
        self.say(f"Loop {'on: plays ' + what + ' over and over' if self.loop else 'off'}")
        self._update_transport()

    def play(
        self,
        song: Song,
        start_tick: int,
        end_tick: int | None,
        message: str,
        tracks: tuple[int, ...] | None = None,
    ) -> None:
        """Play part of ``song`` on the chosen output, opening it first if needed (in a worker:
        starting FluidSynth takes a moment)."""
        if not song.note_count:
            self.say("There are no notes to play.", error=True)
            return
        if tracks is not None and not tracks:
            self.say("Every track is muted.", error=True)
            return
        loop = self.loop
        self.say(f"{message}…")
        self.playing = True  # from now on Space stops, even while the output is still opening
        self._stop_requested = False
        self._open_and_play(song, start_tick, end_tick, tracks, loop, message)

    @work(thread=True, exclusive=True, group="playback", exit_on_error=False, name="Playback")
    def _open_and_play(
        self,
        song: Song,
        start_tick: int,
        end_tick: int | None,
        tracks: tuple[int, ...] | None,
        loop: bool,
        message: str,
    ) -> str:
        from composer.services.playback import PlaybackSession, PlayRange

        with self._output_lock:  # two quick plays must not start two synths
            if self.playback is None:
                self.playback = self._open_output(PlaybackSession)
        self.playback.play(song, PlayRange(start_tick, end_tick, tracks), loop=loop)
        return f"{message} on {self.playback.port_name}"

    def _open_output(self, session_class: Any) -> Any:
        """Open the chosen output; its callbacks run on other threads and only post messages."""
        session = session_class(
            self.output_spec,
            on_position=self._playhead,
            on_finish=lambda reason: self.post_message(PlaybackFinished(reason)),
        )
        session.output.port.add_listener(
            lambda event: self.post_message(
                PortNews(event.describe(), event.kind in ("vanished", "server_lost"))
            )
        )
        return session

    def on_playhead_moved(self, message: PlayheadMoved) -> None:
        tick = message.relay.take()
        if tick is not None and self.playing:
            self.roll.playhead_tick = tick
            self._update_transport(playhead_tick=tick)

    def on_playback_finished(self, message: PlaybackFinished) -> None:
        if message.reason == "stopped":
            return  # stops come from here (Space, a new play); stop_playback did the rest
        self.playing = False
        self.roll.playhead_tick = None
        self._update_transport()
        if message.reason.startswith("error"):
            self.report_error(_as_port_error(message.reason), "Playback")
        elif message.reason == "end":
            self.say("Played to the end.")

    def on_port_news(self, message: PortNews) -> None:
        self.say(message.text[:1].upper() + message.text[1:], error=message.lost)

    def stop_playback(self) -> None:
        self._stop_requested = True
        if self.playback is not None and self.playing:
            self.playback.stop()
            self.say("Stopped.")
        self.playing = False
        self.roll.playhead_tick = None
        self._update_transport()

    def close_playback(self) -> None:
        """Stop and release the output (and the synth composer started)."""
        session, self.playback = self.playback, None
        self.playing = False
        if session is not None:
            try:
                session.close()
            except ComposerError as err:
                log.warning("closing the output: %s", err.one_line())

    def action_choose_output(self) -> None:
        from composer.services.ports import list_midi_ports

        options: list[tuple[str, Any]] = [("composer's FluidSynth (General MIDI)", "")]
        intro = "Where playback goes. A DAW can also connect to composer's virtual output."
        try:
            listing = list_midi_ports()
        except ComposerError as err:
            intro = f"No MIDI ports can be listed ({err.one_line()}); FluidSynth still works."
        else:
            options += [(name, name) for name in listing.outputs if not name.startswith("composer")]
            options.append(
                (f"virtual port {listing.virtual_output} (a DAW connects to it)", "virtual")
            )
        current = self.output_spec or ""
        if current not in [value for _, value in options]:
            current = ""
        fields = [Field("output", "Output", "select", current, tuple(options))]
        self.app.push_screen(
            FormDialog("Sound output", fields, lambda v: v["output"], intro=intro),
            self._output_chosen,
        )

    def _output_chosen(self, value: str | None) -> None:
        if value is None:
            return
        self.stop_playback()
        self.close_playback()
        self.output_spec = value or None
        self.say(f"Playback goes to {value or 'composer’s FluidSynth'} from now on.")
        self._update_transport()

    # ------------------------------------------------------------- files

    def confirm_discard(self, then: Callable[[], None], doing: str) -> None:
        """Run ``then`` once unsaved work is saved or knowingly dropped."""
        if not self.session.dirty:
            then()
            return

        def answer(choice: str | None) -> None:
            if choice == "save":
                self.save(then)
            elif choice == "discard":
                then()

        self.app.push_screen(
            ChoiceDialog(
                "Unsaved changes",
                f"{self.session.name} has changes that are not saved. Save them before {doing}?",
                [
                    ("Save", "save", "primary"),
                    ("Don't save", "discard", "error"),
                    ("Cancel", "cancel", "default"),
                ],
            ),
            answer,
        )

    def action_new_project(self) -> None:
        def new() -> None:
            song = editing.new_track(Song(), "Track 1")
            self.replace_session(
                ProjectSession(song, state_dir=self.state_dir, description="New project")
            )
            self.say("New project.")

        self.confirm_discard(new, "starting a new project")

    def action_open(self) -> None:
        start = (self.session.path or self.session.source or Path.cwd() / "x").parent

        def choose() -> None:
            self.app.push_screen(
                FileDialog("Open a project or import a song file", start, OPEN_SUFFIXES),
                when_given(lambda path: self.open_file(path)),
            )

        self.confirm_discard(
            choose,
            "opening another file",
        )

    def open_file(self, path: Path) -> None:
        """Open ``path`` in a worker (music21 can be slow); a bad file changes nothing."""
        state_dir = self.state_dir

        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> ProjectSession:
            progress(-1, f"reading {path.name}")
            return ProjectSession.open(path, state_dir)

        def done(session: ProjectSession) -> None:
            self.replace_session(session)
            remember_last_project(session.path or path, self.state_dir)
            song = session.song
            self.say(f"Opened {path.name}: {len(song.tracks)} tracks, {song.note_count} notes")

        self.start_job(f"Open {path.name}", run, done)

    def replace_session(self, session: ProjectSession) -> None:
        old = self.session
        old.discard_recovery()
        old.release()
        self.session = session
        self._close_candidates()
        self.clipboard = self.clipboard
        self._load_view(session)
        self._song_changed()
        self.roll.scroll_to_cursor(center=True)

    def action_save(self) -> None:
        self.save()

    def save(self, then: Callable[[], None] | None = None) -> None:
        if self.session.path is None:
            self.save_as(then)
            return
        self._store_view()
        try:
            path = self.session.save()
        except ComposerError as err:
            self.report_error(err, "Save")
            return
        self.say(f"Saved {path}")
        self._update_transport()
        if then is not None:
            then()

    def action_save_as(self) -> None:
        self.save_as()

    def save_as(self, then: Callable[[], None] | None = None) -> None:
        start = (self.session.path or self.session.source or Path.cwd() / "x").parent
        stem = (self.session.path or self.session.source or Path(self.session.name)).stem
        name = "".join(c for c in stem if c.isalnum() or c in " -_.") or "untitled"

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            self._store_view()
            try:
                saved = self.session.save_as(path)
            except ComposerError as err:
                self.report_error(err, "Save")
                return
            self.say(f"Saved {saved}")
            self._update_transport()
            if then is not None:
                then()

        self.app.push_screen(
            FileDialog(
                "Save the project as",
                start,
                (PROJECT_SUFFIX,),
                default_name=f"{name}{PROJECT_SUFFIX}",
                save=True,
            ),
            chosen,
        )

    def action_export(self) -> None:
        start = (self.session.path or self.session.source or Path.cwd() / "x").parent
        stem = (self.session.path or self.session.source or Path(self.session.name)).stem
        name = "".join(c for c in stem if c.isalnum() or c in " -_.") or "song"
        self.app.push_screen(
            FileDialog(
                "Export as MIDI (.mid) or MusicXML (.musicxml)",
                start,
                EXPORT_SUFFIXES,
                default_name=f"{name}.mid",
                save=True,
            ),
            when_given(lambda path: self.export(path)),
        )

    def export(self, path: Path) -> None:
        song = self.session.song
        if not song.note_count:
            self.report_error(InvalidArgumentError("the song has no notes to export"), "Export")
            return

        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> Path:
            from composer.services.export import export_song

            progress(-1, f"writing {path.name}")
            return export_song(song, path)

        self.start_job(
            f"Export {path.name}",
            run,
            lambda out: self.say(f"Exported {len(song.tracks)} tracks to {out}"),
        )

    # ---------------------------------------------------------- autosave

    def _autosave_tick(self) -> None:
        session = self.session
        if not session.needs_autosave():
            return
        self._store_view()
        if not session.dirty:
            session.autosave()
            return
        state = session.capture()
        self.run_worker(
            lambda: session.write_recovery(state),
            thread=True,
            group="autosave",
            exclusive=True,
            exit_on_error=False,
            name="autosave",
        )

    def _autosave_failed(self, error: BaseException | None) -> None:
        text = error.one_line() if isinstance(error, ComposerError) else str(error)
        self.say(f"Autosave failed: {text}. Save your work elsewhere (F2).", error=True)

    # ---------------------------------------------------------- recovery

    def _offer_recovery(self) -> None:
        if not self._recoveries:
            return
        recovery = self._recoveries.pop(0)

        def answer(choice: str | None) -> None:
            if choice == "recover":
                self.replace_session(session_from_recovery(recovery, self.state_dir))
                self.say(f"Recovered: {recovery.describe()}. Save it to keep it (Ctrl+S).")
            elif choice == "discard":
                retire_recovery(recovery, self.state_dir)
                self.say("Discarded the recovered work (a copy stays in the recovery folder).")
            self._offer_recovery()

        self.app.push_screen(
            ChoiceDialog(
                "Recover unsaved work?",
                f"Unsaved work from an earlier session was kept: {recovery.describe()}.",
                [("Recover", "recover", "primary"), ("Discard", "discard", "error")],
            ),
            answer,
        )

    # -------------------------------------------------------------- quit

    def request_quit(self) -> None:
        """Quit, keeping unsaved work for the next start; ask only if it cannot be kept."""
        if self.job is not None:
            self.job.cancel.set()
        self.close_playback()
        self._store_view()
        if self.session.close():
            self.app.exit()
            return
        reason = self.session.autosave_error or "the recovery file cannot be written"

        def answer(choice: str | None) -> None:
            if choice == "save_as":
                self.save_as(self.request_quit)
            elif choice == "quit":
                self.session.release()
                self.app.exit()

        self.app.push_screen(
            ChoiceDialog(
                "Your changes cannot be kept",
                f"Quitting now would lose the changes to {self.session.name} since it was "
                f"last saved ({reason}).",
                [
                    ("Save as…", "save_as", "primary"),
                    ("Quit without saving", "quit", "error"),
                    ("Cancel", "cancel", "default"),
                ],
            ),
            answer,
        )


def _as_port_error(reason: str) -> ComposerError:
    from composer.errors import PortError

    detail = reason.removeprefix("error:").strip()
    return PortError(
        f"playback stopped: {detail}",
        "check the MIDI output (o chooses another); the song is unchanged",
    )
