"""Candidate lanes: generated variations side by side, to audition and accept one.

Each lane draws its notes as a small piano roll of the generated span, with
the number of notes and the range. The highlighted lane is also drawn in the
main piano roll as ghost notes. Nothing changes in the song until a lane is
accepted, and accepting is one undoable edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label

from composer.core.pitch import note_name
from composer.core.song import Track
from composer.tui.widgets.piano_roll import track_colour


@dataclass(frozen=True)
class Candidate:
    """One variation: the tracks it would add or write into, with their colours' indices."""

    tracks: tuple[Track, ...]
    colour_indices: tuple[int, ...]

    @property
    def note_count(self) -> int:
        return sum(len(t.notes) for t in self.tracks)


@dataclass(frozen=True)
class CandidateSet:
    """A generation result waiting for a decision."""

    kind: str  # "continue", "infill" or "harmonize"
    title: str
    candidates: tuple[Candidate, ...]
    start_tick: int
    end_tick: int
    track_index: int = 0
    messages: tuple[str, ...] = field(default=())


class CandidateLane(Widget):
    """One candidate drawn as a small piano roll."""

    DEFAULT_CSS = """
    CandidateLane {
        width: 1fr;
        height: 1fr;
        border: round $panel-lighten-2;
        padding: 0 1;
        background: $surface;
        &.-highlighted { border: heavy $accent; background: $boost; }
    }
    """

    def __init__(self, candidate: Candidate, number: int, start_tick: int, end_tick: int) -> None:
        super().__init__()
        self.candidate = candidate
        self.number = number
        self.start_tick = start_tick
        self.end_tick = end_tick
        pitches = [n.pitch for t in candidate.tracks for n in t.notes]
        span = f"{note_name(min(pitches))}-{note_name(max(pitches))}" if pitches else "silent"
        self.border_title = f"{number}"
        self.border_subtitle = f"{candidate.note_count} notes · {span}"

    def render(self) -> Text:
        width = max(1, self.content_region.width)
        height = max(1, self.content_region.height)
        pitches = [n.pitch for t in self.candidate.tracks for n in t.notes]
        if not pitches:
            return Text("(no notes)", style="italic")
        low, high = min(pitches), max(pitches)
        rows = max(1, min(height, high - low + 1))
        span_ticks = max(1, self.end_tick - self.start_tick)
        grid: list[list[tuple[str, str]]] = [[(" ", "")] * width for _ in range(rows)]
        for track, colour_index in zip(
            self.candidate.tracks, self.candidate.colour_indices, strict=True
        ):
            colour = track_colour(colour_index)
            for note in track.notes:
                row = rows - 1 - (note.pitch - low) * (rows - 1) // max(1, high - low)
                first = (note.start_tick - self.start_tick) * width // span_ticks
                last = max(first + 1, (note.end_tick - self.start_tick) * width // span_ticks)
                for column in range(max(0, first), min(width, last)):
                    grid[row][column] = ("▀" if column == first else "▔", colour)
                if 0 <= first < width:
                    grid[row][first] = ("■", colour)
        text = Text(no_wrap=True, overflow="crop")
        for r, cells in enumerate(grid):
            for char, colour in cells:
                text.append(char, style=colour)
            if r + 1 < rows:
                text.append("\n")
        return text

    def on_click(self, event: events.Click) -> None:
        """A click chooses this lane; a double click accepts it."""
        panel = next((a for a in self.ancestors if isinstance(a, CandidatePanel)), None)
        if panel is None:
            return
        index = self.number - 1
        if panel.highlighted == index and event.chain >= 2:
            panel.action_accept()
        else:
            panel.highlighted = index
        panel.focus()
        event.stop()


class CandidatePanel(Vertical, can_focus=True):
    """The lanes, a title with what was asked for, and what the keys do."""

    DEFAULT_CSS = """
    CandidatePanel {
        height: 14;
        background: $panel;
        border-top: solid $accent;
        display: none;
        &.-shown { display: block; }
        &:focus { border-top: heavy $accent; }
        #candidate-title { height: 1; padding: 0 1; text-style: bold; }
        #candidate-messages { height: auto; padding: 0 1; color: $warning; }
        #candidate-lanes { height: 1fr; }
    }
    """

    BINDINGS = [
        Binding("left", "highlight(-1)", "Previous", show=False, id="lanes.previous"),
        Binding("right", "highlight(1)", "Next", show=False, id="lanes.next"),
        Binding("1", "pick(1)", "Pick 1", show=False),
        Binding("2", "pick(2)", "Pick 2", show=False),
        Binding("3", "pick(3)", "Pick 3", show=False),
        Binding("4", "pick(4)", "Pick 4", show=False),
        Binding("5", "pick(5)", "Pick 5", show=False),
        Binding("6", "pick(6)", "Pick 6", show=False),
        Binding("7", "pick(7)", "Pick 7", show=False),
        Binding("8", "pick(8)", "Pick 8", show=False),
        Binding("9", "pick(9)", "Pick 9", show=False),
        Binding("enter", "accept", "Accept", id="lanes.accept"),
        Binding("p", "audition", "Audition", id="lanes.audition"),
        Binding("escape", "dismiss", "Discard all", id="lanes.dismiss"),
    ]

    highlighted: reactive[int] = reactive(0)
    """Index of the highlighted candidate."""

    class Highlighted(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class Accepted(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class Audition(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class Dismissed(Message):
        pass

    def __init__(self, *, can_audition: bool = False, id: str | None = None) -> None:
        """``can_audition``: whether playback is installed (else there is no audition key)."""
        super().__init__(id=id)
        self.candidates: CandidateSet | None = None
        self.can_audition = can_audition

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "audition":
            return self.can_audition
        return True

    def compose(self) -> ComposeResult:
        yield Label("", id="candidate-title")
        yield Label("", id="candidate-messages", markup=False)
        yield Horizontal(id="candidate-lanes")

    async def show(self, candidates: CandidateSet) -> None:
        """Fill the lanes with ``candidates`` and take focus."""
        self.candidates = candidates
        lanes = self.query_one("#candidate-lanes", Horizontal)
        await lanes.remove_children()
        await lanes.mount_all(
            [
                CandidateLane(c, i + 1, candidates.start_tick, candidates.end_tick)
                for i, c in enumerate(candidates.candidates)
            ]
        )
        count = len(candidates.candidates)
        audition = " · p audition" if self.can_audition else ""
        self.query_one("#candidate-title", Label).update(
            f"{candidates.title} — {count} candidate{'s' if count != 1 else ''}: "
            f"←/→ or 1-9 choose{audition} · Enter accept · Esc discard"
        )
        messages = self.query_one("#candidate-messages", Label)
        messages.update("\n".join(candidates.messages))
        messages.display = bool(candidates.messages)
        self.add_class("-shown")
        self.set_reactive(CandidatePanel.highlighted, 0)
        self._mark()
        self.post_message(self.Highlighted(0))
        self.focus()

    def hide(self) -> None:
        self.candidates = None
        self.remove_class("-shown")

    @property
    def count(self) -> int:
        return len(self.candidates.candidates) if self.candidates else 0

    def watch_highlighted(self, index: int) -> None:
        self._mark()
        self.post_message(self.Highlighted(index))

    def _mark(self) -> None:
        for i, lane in enumerate(self.query(CandidateLane)):
            lane.set_class(i == self.highlighted, "-highlighted")

    def action_highlight(self, step: int) -> None:
        if self.count:
            self.highlighted = (self.highlighted + step) % self.count

    def action_pick(self, number: int) -> None:
        if 1 <= number <= self.count:
            self.highlighted = number - 1

    def action_accept(self) -> None:
        if self.count:
            self.post_message(self.Accepted(self.highlighted))

    def action_audition(self) -> None:
        if self.count:
            self.post_message(self.Audition(self.highlighted))

    def action_dismiss(self) -> None:
        self.post_message(self.Dismissed())
