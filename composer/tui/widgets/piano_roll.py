"""The piano roll: pitch rows with note names, a bar/beat ruler, notes of every
track in its colour, a cursor on the grid, a selection and a playhead.

It is a Line API widget (:class:`~textual.scroll_view.ScrollView`): only the
visible rows are rendered, each row from a per-pitch index of the notes in the
visible time window, and finished rows are cached, so a 5,000-note song scrolls
as fast as an empty one. The cursor and the playhead are drawn over cached
rows, so moving them re-renders almost nothing.

The roll owns the view (cursor, selection, grid, zoom, current track); it never
edits the song. Editing actions belong to the editor screen, which reads the
cursor and selection from here and sets :attr:`song` after each edit.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from composer.core.pitch import note_name
from composer.core.song import PPQ, Note, Song, Track
from composer.core.timing import BarGrid
from composer.services.editing import Selection

GUTTER = 5
"""Columns for the note names at the left."""
RULER = 2
"""Rows for the bar numbers and beat marks at the top."""

TRACK_COLOURS = (
    "#e06c75",
    "#61afef",
    "#98c379",
    "#e5c07b",
    "#c678dd",
    "#56b6c2",
    "#d19a66",
    "#f0a0c0",
)
"""Track colours by track index (repeating), chosen to stay distinct on dark and light themes."""

GRID_STEPS: tuple[tuple[str, int], ...] = (
    ("1/1", 4 * PPQ),
    ("1/2", 2 * PPQ),
    ("1/4", PPQ),
    ("1/4T", 2 * PPQ // 3),
    ("1/8", PPQ // 2),
    ("1/8T", PPQ // 3),
    ("1/16", PPQ // 4),
    ("1/16T", PPQ // 6),
    ("1/32", PPQ // 8),
)
"""Cursor grid steps, coarse to fine: name and length in ticks."""

ZOOM_TICKS_PER_CELL = (15, 30, 60, 120, 240, 480)
"""Horizontal zoom levels: how many ticks one column shows."""

ROW_HEIGHTS = (1, 2, 3)
"""Vertical zoom levels: terminal rows per pitch."""

_BLACK_KEYS = frozenset((1, 3, 6, 8, 10))


def grid_name(ticks: int) -> str:
    return next((name for name, t in GRID_STEPS if t == ticks), f"{ticks} ticks")


def track_colour(index: int) -> str:
    return TRACK_COLOURS[index % len(TRACK_COLOURS)]


@dataclass(frozen=True)
class Ghost:
    """Notes shown but not in the song: the candidate being considered.

    ``parts`` pairs a colour index (a track index) with the notes drawn in it.
    """

    parts: tuple[tuple[int, tuple[Note, ...]], ...]
    start_tick: int
    end_tick: int


class _PitchIndex:
    """One track's notes by pitch, sorted by start, for window queries."""

    __slots__ = ("by_pitch",)

    def __init__(self, track: Track) -> None:
        rows: dict[int, list[Note]] = {}
        for note in track.notes:
            rows.setdefault(note.pitch, []).append(note)
        self.by_pitch: dict[int, tuple[list[int], list[Note], int]] = {}
        for pitch, notes in rows.items():
            notes.sort()
            self.by_pitch[pitch] = (
                [n.start_tick for n in notes],
                notes,
                max(n.duration_ticks for n in notes),
            )

    def window(self, pitch: int, start_tick: int, end_tick: int) -> list[Note]:
        """Notes of ``pitch`` that sound somewhere in ``start_tick``..``end_tick``."""
        row = self.by_pitch.get(pitch)
        if row is None:
            return []
        starts, notes, longest = row
        lo = bisect.bisect_left(starts, start_tick - longest)
        hi = bisect.bisect_left(starts, end_tick)
        return [n for n in notes[lo:hi] if n.end_tick > start_tick]


class PianoRoll(ScrollView, can_focus=True):
    """A scrolling piano roll of a whole song.

    Component classes (styled in ``DEFAULT_CSS``, themable in ``app.tcss``):

    | Class | Part |
    | :- | :- |
    | `piano-roll--gutter` | note names of white keys |
    | `piano-roll--gutter-black` | note names of black keys |
    | `piano-roll--ruler` | bar numbers and beat marks |
    | `piano-roll--row` | a white-key row |
    | `piano-roll--row-black` | a black-key row |
    | `piano-roll--bar-line` | the line at each bar |
    | `piano-roll--cursor` | the cursor cell(s) |
    | `piano-roll--selection` | the selected rectangle |
    | `piano-roll--playhead` | the playback position |
    """

    COMPONENT_CLASSES = {
        "piano-roll--gutter",
        "piano-roll--gutter-black",
        "piano-roll--ruler",
        "piano-roll--row",
        "piano-roll--row-black",
        "piano-roll--bar-line",
        "piano-roll--cursor",
        "piano-roll--selection",
        "piano-roll--playhead",
    }

    DEFAULT_CSS = """
    PianoRoll {
        height: 1fr;
        scrollbar-size: 1 1;
        & > .piano-roll--gutter { background: $panel; color: $text; }
        & > .piano-roll--gutter-black { background: $panel-darken-2; color: $text-muted; }
        & > .piano-roll--ruler { background: $panel; color: $text; }
        & > .piano-roll--row { background: $surface; color: $panel-lighten-2; }
        & > .piano-roll--row-black { background: $surface-darken-1; color: $panel-lighten-2; }
        & > .piano-roll--bar-line { color: $text-muted; }
        & > .piano-roll--cursor { background: $accent; color: $text; }
        & > .piano-roll--selection { background: $primary 40%; }
        & > .piano-roll--playhead { background: $warning 70%; color: $text; }
    }
    """

    BINDINGS = [
        Binding("left", "move(-1, 0)", "Left", show=False, id="roll.left"),
        Binding("right", "move(1, 0)", "Right", show=False, id="roll.right"),
        Binding("up", "move(0, 1)", "Up", show=False, id="roll.up"),
        Binding("down", "move(0, -1)", "Down", show=False, id="roll.down"),
        Binding("shift+left", "extend(-1, 0)", "Select left", show=False, id="roll.select_left"),
        Binding("shift+right", "extend(1, 0)", "Select right", show=False, id="roll.select_right"),
        Binding("shift+up", "extend(0, 1)", "Select up", show=False, id="roll.select_up"),
        Binding("shift+down", "extend(0, -1)", "Select down", show=False, id="roll.select_down"),
        Binding("ctrl+left", "bar(-1)", "Previous bar", show=False, id="roll.bar_left"),
        Binding("ctrl+right", "bar(1)", "Next bar", show=False, id="roll.bar_right"),
        Binding("pageup", "move(0, 12)", "Octave up", show=False, id="roll.octave_up"),
        Binding("pagedown", "move(0, -12)", "Octave down", show=False, id="roll.octave_down"),
        Binding("home", "home", "Start", show=False, id="roll.home"),
        Binding("end", "end", "End", show=False, id="roll.end"),
        Binding("g", "grid(1)", "Finer grid", show=False, id="roll.grid_finer"),
        Binding("G", "grid(-1)", "Coarser grid", show=False, id="roll.grid_coarser"),
        Binding("z", "zoom(-1)", "Zoom in", show=False, id="roll.zoom_in"),
        Binding("Z", "zoom(1)", "Zoom out", show=False, id="roll.zoom_out"),
        Binding("v", "row_height(1)", "Taller rows", show=False, id="roll.rows_taller"),
        Binding("V", "row_height(-1)", "Shorter rows", show=False, id="roll.rows_shorter"),
        Binding("b", "select_bar", "Select bar", show=False, id="roll.select_bar"),
        Binding("ctrl+a", "select_all", "Select all", show=False, id="roll.select_all"),
        Binding("escape", "clear_selection", "Clear selection", show=False, id="roll.clear"),
        Binding("t", "track(1)", "Next track", show=False, id="roll.next_track"),
        Binding("T", "track(-1)", "Previous track", show=False, id="roll.previous_track"),
    ]

    song: reactive[Song] = reactive(Song, always_update=True, layout=False)
    """The song shown. Setting it (after every edit) re-indexes the notes."""
    cursor_tick: reactive[int] = reactive(0)
    """Where the cursor is in time; it moves in grid steps."""
    cursor_pitch: reactive[int] = reactive(67)
    """The pitch row of the cursor."""
    grid_ticks: reactive[int] = reactive(PPQ // 2)
    """Cursor step and default note length, one of :data:`GRID_STEPS`."""
    ticks_per_cell: reactive[int] = reactive(120)
    """Horizontal zoom, one of :data:`ZOOM_TICKS_PER_CELL`."""
    rows_per_pitch: reactive[int] = reactive(1)
    """Vertical zoom, one of :data:`ROW_HEIGHTS`."""
    track_index: reactive[int] = reactive(0)
    """The current track: edits go to it and it is drawn on top."""
    selection: reactive[Selection | None] = reactive(None, always_update=True)
    """The selected rectangle, or None."""
    playhead_tick: reactive[int | None] = reactive(None)
    """Where playback is, or None when stopped."""

    class CursorMoved(Message):
        """The cursor moved (also sent when the grid or track changes)."""

        def __init__(self, roll: PianoRoll) -> None:
            super().__init__()
            self.roll = roll

        @property
        def control(self) -> PianoRoll:
            return self.roll

    class SelectionChanged(Message):
        """The selection changed (or was cleared)."""

        def __init__(self, roll: PianoRoll, selection: Selection | None) -> None:
            super().__init__()
            self.roll = roll
            self.selection = selection

        @property
        def control(self) -> PianoRoll:
            return self.roll

    class TrackChanged(Message):
        """The current track changed."""

        def __init__(self, roll: PianoRoll, track_index: int) -> None:
            super().__init__()
            self.roll = roll
            self.track_index = track_index

        @property
        def control(self) -> PianoRoll:
            return self.roll

    def __init__(
        self,
        song: Song | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._index: list[_PitchIndex] = []
        self._grid = BarGrid.of(Song())
        self._muted: frozenset[int] = frozenset()
        self._ghost: Ghost | None = None
        self._version = 0
        self._row_cache: LRUCache[tuple, Strip] = LRUCache(1024)
        self._background_cache: LRUCache[tuple, tuple[list[str], list[Style]]] = LRUCache(64)
        self._styles: dict[str, Style] = {}
        self._note_styles: dict[tuple[int, str], Style] = {}
        self._anchor: tuple[int, int] | None = None
        self._drag_from: tuple[int, int] | None = None
        if song is not None:
            self.set_reactive(PianoRoll.song, song)
            self._reindex(song)

    # ------------------------------------------------------------ state

    def watch_song(self, song: Song) -> None:
        self._reindex(song)
        if self.track_index >= len(song.tracks):
            self.track_index = max(0, len(song.tracks) - 1)
        self._update_virtual_size()
        self.refresh()

    def _reindex(self, song: Song) -> None:
        self._index = [_PitchIndex(track) for track in song.tracks]
        self._grid = BarGrid.of(song)
        self._invalidate()

    def _invalidate(self) -> None:
        self._version += 1
        self._row_cache.clear()
        self._background_cache.clear()

    def set_muted(self, audible: frozenset[int] | None) -> None:
        """Dim tracks that will not sound: pass the audible track indices, or None for all."""
        count = len(self.song.tracks)
        muted = frozenset() if audible is None else frozenset(range(count)) - audible
        if muted != self._muted:
            self._muted = muted
            self._invalidate()
            self.refresh()

    @property
    def ghost(self) -> Ghost | None:
        return self._ghost

    def set_ghost(self, ghost: Ghost | None) -> None:
        """Show candidate notes over the song (None hides them)."""
        self._ghost = ghost
        self._invalidate()
        self._update_virtual_size()
        self.refresh()

    def _update_virtual_size(self) -> None:
        end = max(
            self.song.end_tick,
            self.cursor_tick + self.grid_ticks,
            self._ghost.end_tick if self._ghost else 0,
        )
        bar = self._grid.bar_at_tick(end) + 9  # room to write on past the end
        columns = -(-self._grid.bar_start_tick(bar) // self.ticks_per_cell)
        size = Size(GUTTER + columns, RULER + 128 * self.rows_per_pitch)
        if size != self.virtual_size:
            self.virtual_size = size

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._note_styles.clear()
        self._invalidate()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(f"piano-roll--{name}")
        return style

    def _note_style(self, track_index: int, kind: str) -> Style:
        """Style of a note cell: kind is 'current', 'other', 'muted', 'selected' or 'ghost'."""
        key = (track_index, kind)
        style = self._note_styles.get(key)
        if style is None:
            colour = track_colour(track_index)
            if kind == "current":
                style = Style(color="#101010", bgcolor=colour, bold=True)
            elif kind == "selected":
                style = Style(color=colour, bgcolor="#f4f4f4", bold=True)
            elif kind == "ghost":
                style = Style(color=colour, bgcolor="#303030", bold=True)
            elif kind == "muted":
                style = Style(color="#202020", bgcolor="#505050")
            else:
                style = Style(color="#202020", bgcolor=colour, dim=True)
            self._note_styles[key] = style
        return style

    # --------------------------------------------------------- geometry

    @property
    def content_columns(self) -> int:
        return max(1, self.scrollable_content_region.width - GUTTER)

    @property
    def content_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - RULER)

    def pitch_at_row(self, row: int) -> int:
        """The pitch shown on content row ``row`` (0 is the top: G9)."""
        return 127 - row // self.rows_per_pitch

    def row_of_pitch(self, pitch: int) -> int:
        return (127 - pitch) * self.rows_per_pitch

    def cell_at(self, x: int, y: int) -> tuple[int, int] | None:
        """(tick, pitch) under widget offset ``x``, ``y``; None over the gutter or ruler."""
        if x < GUTTER or y < RULER:
            return None
        column = int(self.scroll_x) + x - GUTTER
        row = int(self.scroll_y) + y - RULER
        if not 0 <= row < 128 * self.rows_per_pitch:
            return None
        return column * self.ticks_per_cell, self.pitch_at_row(row)

    def snap(self, tick: int) -> int:
        """``tick`` moved back onto the grid (bars restart the grid, so odd meters work)."""
        bar_start = self._grid.bar_start_tick(self._grid.bar_at_tick(max(tick, 0)))
        return bar_start + (tick - bar_start) // self.grid_ticks * self.grid_ticks

    # ---------------------------------------------------------- actions

    def action_move(self, steps: int, semitones: int) -> None:
        self._anchor = None
        self._move_cursor(self.cursor_tick + steps * self.grid_ticks, self.cursor_pitch + semitones)

    def action_extend(self, steps: int, semitones: int) -> None:
        if self._anchor is None or self.selection is None:
            self._anchor = (self.cursor_tick, self.cursor_pitch)
        self._move_cursor(self.cursor_tick + steps * self.grid_ticks, self.cursor_pitch + semitones)
        self._select_to_cursor()

    def action_bar(self, bars: int) -> None:
        self._anchor = None
        bar = self._grid.bar_at_tick(self.cursor_tick)
        start = self._grid.bar_start_tick(bar)
        if bars < 0 and self.cursor_tick > start:
            target = start  # first to the start of this bar, as a word-jump does
        else:
            target = self._grid.bar_start_tick(max(0, bar + bars))
        self._move_cursor(target, self.cursor_pitch)

    def action_home(self) -> None:
        self._anchor = None
        self._move_cursor(0, self.cursor_pitch)

    def action_end(self) -> None:
        self._anchor = None
        self._move_cursor(self.snap(self.song.end_tick + self.grid_ticks - 1), self.cursor_pitch)

    def action_grid(self, direction: int) -> None:
        ticks = [t for _, t in GRID_STEPS]
        try:
            position = ticks.index(self.grid_ticks)
        except ValueError:
            position = ticks.index(PPQ // 2)
        self.grid_ticks = ticks[min(len(ticks) - 1, max(0, position + direction))]

    def action_zoom(self, direction: int) -> None:
        levels = list(ZOOM_TICKS_PER_CELL)
        position = levels.index(self.ticks_per_cell) if self.ticks_per_cell in levels else 3
        self.ticks_per_cell = levels[min(len(levels) - 1, max(0, position + direction))]

    def action_row_height(self, direction: int) -> None:
        position = (
            ROW_HEIGHTS.index(self.rows_per_pitch) if self.rows_per_pitch in ROW_HEIGHTS else 0
        )
        self.rows_per_pitch = ROW_HEIGHTS[min(len(ROW_HEIGHTS) - 1, max(0, position + direction))]

    def action_select_bar(self) -> None:
        """Select the cursor's bar; again, with whole bars selected, add the next bar."""
        bar = self._grid.bar_at_tick(self.cursor_tick)
        current = self.selection
        if current is not None and current.all_pitches and self._is_whole_bars(current):
            first, last = current.bar_range(self.song)
            if first <= bar <= last:
                bar = last + 1
            selection = Selection.of_bars(self.song, min(first, bar), max(last, bar))
        else:
            selection = Selection.of_bars(self.song, bar, bar)
        self._anchor = None
        self.selection = selection
        self._move_cursor(self._grid.bar_start_tick(bar), self.cursor_pitch, keep_selection=True)

    def _is_whole_bars(self, selection: Selection) -> bool:
        first, last = selection.bar_range(self.song)
        return selection.start_tick == self._grid.bar_start_tick(
            first
        ) and selection.end_tick == self._grid.bar_start_tick(last + 1)

    def action_select_all(self) -> None:
        end = max(self.song.end_tick, 1)
        self._anchor = None
        self.selection = Selection(0, self._grid.bar_start_tick(self._grid.bars_to_cover(end)))

    def action_clear_selection(self) -> None:
        self._anchor = None
        self.selection = None

    def action_track(self, direction: int) -> None:
        if self.song.tracks:
            self.track_index = (self.track_index + direction) % len(self.song.tracks)

    def select_bars(self, first_bar: int, last_bar: int) -> None:
        self._anchor = None
        self.selection = Selection.of_bars(self.song, first_bar, last_bar)

    def _select_to_cursor(self) -> None:
        assert self._anchor is not None
        anchor_tick, anchor_pitch = self._anchor
        start = min(anchor_tick, self.cursor_tick)
        end = max(anchor_tick, self.cursor_tick) + self.grid_ticks
        self.selection = Selection(
            start, end, min(anchor_pitch, self.cursor_pitch), max(anchor_pitch, self.cursor_pitch)
        )

    def move_cursor(self, tick: int, pitch: int | None = None) -> None:
        """Put the cursor at ``tick`` (snapped to the grid) and ``pitch``, scrolling to it."""
        self._move_cursor(self.snap(tick), self.cursor_pitch if pitch is None else pitch)

    def _move_cursor(self, tick: int, pitch: int, keep_selection: bool = False) -> None:
        tick = max(0, tick)
        pitch = min(127, max(0, pitch))
        if not keep_selection and self._anchor is None and self.selection is not None:
            self.selection = None
        self.cursor_tick = tick
        self.cursor_pitch = pitch

    # ---------------------------------------------------------- watchers

    def watch_cursor_tick(self, old: int, new: int) -> None:
        self._update_virtual_size()
        self._refresh_cursor(self.cursor_pitch, self.cursor_pitch, ruler=True)
        self.scroll_to_cursor()
        self.post_message(self.CursorMoved(self))

    def watch_cursor_pitch(self, old: int, new: int) -> None:
        self._refresh_cursor(old, new, ruler=False)
        self.scroll_to_cursor()
        self.post_message(self.CursorMoved(self))

    def watch_grid_ticks(self) -> None:
        self.cursor_tick = self.snap(self.cursor_tick)
        self.refresh()
        self.post_message(self.CursorMoved(self))

    def watch_ticks_per_cell(self) -> None:
        self._invalidate()
        self._update_virtual_size()
        self.refresh()
        self.call_after_refresh(self.scroll_to_cursor, center=True)

    def watch_rows_per_pitch(self) -> None:
        self._invalidate()
        self._update_virtual_size()
        self.refresh()
        self.call_after_refresh(self.scroll_to_cursor, center=True)

    def watch_track_index(self, index: int) -> None:
        self._invalidate()
        self.refresh()
        self.post_message(self.TrackChanged(self, index))

    def watch_selection(self, selection: Selection | None) -> None:
        self.refresh()
        self.post_message(self.SelectionChanged(self, selection))

    def watch_playhead_tick(self, old: int | None, new: int | None) -> None:
        self.refresh()
        if new is not None:
            column = new // self.ticks_per_cell
            left = int(self.scroll_x)
            if not left <= column < left + self.content_columns:
                self.scroll_to(x=max(0, column - 2), animate=False, force=True)

    def _refresh_cursor(self, old_pitch: int, new_pitch: int, ruler: bool) -> None:
        # refresh_lines takes virtual lines: content row r is drawn on line r + RULER.
        for pitch in {old_pitch, new_pitch}:
            self.refresh_lines(self.row_of_pitch(pitch) + RULER, self.rows_per_pitch)
        if ruler:
            self.refresh_lines(int(self.scroll_y), RULER)

    def scroll_to_cursor(self, center: bool = False) -> None:
        """Scroll so the cursor is visible, turning a page rather than creeping a column."""
        width, height = self.content_columns, self.content_rows
        column = self.cursor_tick // self.ticks_per_cell
        span = max(1, self.grid_ticks // self.ticks_per_cell)
        row = self.row_of_pitch(self.cursor_pitch)
        left, top = int(self.scroll_x), int(self.scroll_y)
        x = y = None
        if center:
            x, y = max(0, column - width // 3), max(0, row - height // 2)
        else:
            if column < left:
                x = max(0, column - width * 3 // 4)
            elif column + span > left + width:
                x = max(0, column - width // 4)
            if row < top:
                y = max(0, row - height // 4)
            elif row + self.rows_per_pitch > top + height:
                y = max(0, row - height * 3 // 4)
        if x is not None or y is not None:
            self.scroll_to(x=x, y=y, animate=False, force=True)

    def center_on_notes(self) -> None:
        """Scroll so the middle of the song's pitch range is in view (after opening a song)."""
        pitches = [n.pitch for t in self.song.tracks for n in t.notes]
        middle = (min(pitches) + max(pitches)) // 2 if pitches else 67
        row = self.row_of_pitch(middle)
        self.scroll_to(y=max(0, row - self.content_rows // 2), animate=False, force=True)

    # ------------------------------------------------------------ mouse

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if event.button != 1:
            return
        offset = event.get_content_offset(self)
        cell = None if offset is None else self.cell_at(offset.x, offset.y)
        if cell is None:
            return
        tick, pitch = cell
        tick = self.snap(tick)
        self.focus()
        if event.shift:
            if self._anchor is None:
                self._anchor = (self.cursor_tick, self.cursor_pitch)
            self._move_cursor(tick, pitch, keep_selection=True)
            self._select_to_cursor()
        else:
            self._anchor = None
            self._move_cursor(tick, pitch)
            self._drag_from = (tick, pitch)
            self.capture_mouse()
        event.stop()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag_from is None or not event.button:
            return
        offset = event.get_content_offset_capture(self)
        cell = self.cell_at(max(offset.x, GUTTER), max(offset.y, RULER))
        if cell is None:
            return
        tick, pitch = self.snap(cell[0]), cell[1]
        if (tick, pitch) != (self.cursor_tick, self.cursor_pitch):
            self._anchor = self._drag_from
            self._move_cursor(tick, pitch, keep_selection=True)
            self._select_to_cursor()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._drag_from is not None:
            self._drag_from = None
            self.release_mouse()

    # ----------------------------------------------------------- render

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        left = int(self.scroll_x)
        columns = max(0, width - GUTTER)
        if y < RULER:
            return self._ruler_line(y, left, columns)
        row = int(self.scroll_y) + y - RULER
        if not 0 <= row < 128 * self.rows_per_pitch:
            return Strip.blank(width, self._style("row"))
        pitch = self.pitch_at_row(row)
        sub_row = row % self.rows_per_pitch
        strip = self._row_strip(pitch, sub_row, left, columns)
        if pitch == self.cursor_pitch:
            strip = self._overlay_cursor(strip, left, columns)
        if self.playhead_tick is not None:
            column = self.playhead_tick // self.ticks_per_cell - left
            if 0 <= column < columns:
                strip = _restyle(strip, GUTTER + column, 1, self._style("playhead"))
        return strip

    def _selection_span(self, pitch: int, left: int, columns: int) -> tuple[int, int] | None:
        selection = self.selection
        if selection is None or not selection.low_pitch <= pitch <= selection.high_pitch:
            return None
        tpc = self.ticks_per_cell
        start = max(0, selection.start_tick // tpc - left)
        end = min(columns, -(-selection.end_tick // tpc) - left)
        return (start, end) if end > start else None

    def _row_strip(self, pitch: int, sub_row: int, left: int, columns: int) -> Strip:
        selection_span = self._selection_span(pitch, left, columns)
        # Only rows the selection crosses depend on it, so only they miss the cache.
        selection = self.selection
        if selection is not None and not selection.low_pitch <= pitch <= selection.high_pitch:
            selection = None
        key = (pitch, sub_row, left, columns, self._version, selection)
        strip = self._row_cache.get(key)
        if strip is None:
            strip = self._render_row(pitch, sub_row, left, columns, selection_span)
            self._row_cache[key] = strip
        return strip

    def _background(self, black: bool, left: int, columns: int) -> tuple[list[str], list[Style]]:
        """Empty row cells with bar and beat lines, shared by every row of a kind."""
        key = (black, left, columns)
        cached = self._background_cache.get(key)
        if cached is not None:
            return cached
        row_style = self._style("row-black" if black else "row")
        bar_style = row_style + self._style("bar-line")
        chars = [" "] * columns
        styles = [row_style] * columns
        for column, kind in self._grid_lines(left, columns):
            chars[column] = "│" if kind == "bar" else "┊"
            if kind == "bar":
                styles[column] = bar_style
        self._background_cache[key] = (chars, styles)
        return chars, styles

    def _grid_lines(self, left: int, columns: int) -> list[tuple[int, str]]:
        """(column, 'bar' | 'beat') for the grid lines in view."""
        tpc = self.ticks_per_cell
        start_tick, end_tick = left * tpc, (left + columns) * tpc
        lines = []
        bar = self._grid.bar_at_tick(start_tick)
        while True:
            bar_tick = self._grid.bar_start_tick(bar)
            if bar_tick >= end_tick:
                break
            meter = self._grid.meter_at_tick(bar_tick)
            next_bar = self._grid.bar_start_tick(bar + 1)
            beat = meter.beat_ticks
            show_beats = beat // tpc >= 2
            tick = bar_tick
            while tick < next_bar:
                column = tick // tpc - left
                if 0 <= column < columns and (tick == bar_tick or show_beats):
                    lines.append((column, "bar" if tick == bar_tick else "beat"))
                tick += beat
            bar += 1
        return lines

    def _render_row(
        self,
        pitch: int,
        sub_row: int,
        left: int,
        columns: int,
        selection_span: tuple[int, int] | None,
    ) -> Strip:
        black = pitch % 12 in _BLACK_KEYS
        base_chars, base_styles = self._background(black, left, columns)
        chars = list(base_chars)
        styles = list(base_styles)
        if selection_span is not None:
            tint = self._style("selection")
            for column in range(*selection_span):
                styles[column] = styles[column] + tint
        tpc = self.ticks_per_cell
        start_tick, end_tick = left * tpc, (left + columns) * tpc
        current = self.track_index
        order = [i for i in range(len(self._index)) if i != current]
        if current < len(self._index):
            order.append(current)
        selection = self.selection
        first_row = sub_row == 0
        for track_index in order:
            notes = self._index[track_index].window(pitch, start_tick, end_tick)
            if not notes:
                continue
            if track_index in self._muted:
                kind = "muted"
            elif track_index == current:
                kind = "current"
            else:
                kind = "other"
            style = self._note_style(track_index, kind)
            selected_style = self._note_style(track_index, "selected")
            for note in notes:
                note_style = (
                    selected_style
                    if track_index == current and selection is not None and selection.contains(note)
                    else style
                )
                self._paint(chars, styles, note, note_style, left, columns, first_row)
        ghost = self._ghost
        if ghost is not None:
            for colour_index, ghost_notes in ghost.parts:
                style = self._note_style(colour_index, "ghost")
                for note in ghost_notes:
                    if (
                        note.pitch == pitch
                        and note.end_tick > start_tick
                        and note.start_tick < end_tick
                    ):
                        self._paint(chars, styles, note, style, left, columns, first_row, fill="░")
        gutter = self._gutter(pitch, first_row, black)
        return Strip([gutter, *_runs(chars, styles)], GUTTER + columns)

    def _paint(
        self,
        chars: list[str],
        styles: list[Style],
        note: Note,
        style: Style,
        left: int,
        columns: int,
        first_row: bool,
        fill: str = " ",
    ) -> None:
        tpc = self.ticks_per_cell
        first = note.start_tick // tpc - left
        last = max(first + 1, -(-note.end_tick // tpc) - left)
        for column in range(max(0, first), min(columns, last)):
            chars[column] = fill
            styles[column] = style
        if 0 <= first < columns:
            chars[first] = "▏" if first_row else fill

    def _gutter(self, pitch: int, first_row: bool, black: bool) -> Segment:
        style = self._style("gutter-black" if black else "gutter")
        if not first_row:
            return Segment(" " * GUTTER, style)
        name = note_name(pitch)
        if pitch % 12 == 0:
            style = style + Style(bold=True)
        return Segment(f"{name:<4} "[:GUTTER], style)

    def _overlay_cursor(self, strip: Strip, left: int, columns: int) -> Strip:
        tpc = self.ticks_per_cell
        first = self.cursor_tick // tpc - left
        span = max(1, -(-self.grid_ticks // tpc))
        start, end = max(0, first), min(columns, first + span)
        if end <= start:
            return strip
        return _restyle(strip, GUTTER + start, end - start, self._style("cursor"))

    def _ruler_line(self, y: int, left: int, columns: int) -> Strip:
        style = self._style("ruler")
        tpc = self.ticks_per_cell
        chars = [" "] * columns
        styles = [style] * columns
        lines = self._grid_lines(left, columns)
        if y == 0:
            for column, kind in lines:
                if kind == "bar":
                    label = str(self._grid.bar_at_tick((left + column) * tpc) + 1)
                    for i, char in enumerate(label):
                        if column + i < columns:
                            chars[column + i] = char
            gutter = Segment(f"{'bar':<{GUTTER}}", style + Style(bold=True))
        else:
            for column, kind in lines:
                chars[column] = "┃" if kind == "bar" else "╵"
            cursor_style = self._style("cursor")
            first = self.cursor_tick // tpc - left
            span = max(1, -(-self.grid_ticks // tpc))
            for column in range(max(0, first), min(columns, first + span)):
                styles[column] = cursor_style
                if chars[column] == " ":
                    chars[column] = "▔"
            if self.playhead_tick is not None:
                column = self.playhead_tick // tpc - left
                if 0 <= column < columns:
                    chars[column] = "▼"
                    styles[column] = self._style("playhead")
            gutter = Segment(f"{grid_name(self.grid_ticks):<{GUTTER}}"[:GUTTER], style)
        return Strip([gutter, *_runs(chars, styles)], GUTTER + columns)


def _runs(chars: list[str], styles: list[Style]) -> list[Segment]:
    """Run-length encode cells into segments (styles compared by identity first)."""
    segments: list[Segment] = []
    if not chars:
        return segments
    start = 0
    current = styles[0]
    for i in range(1, len(chars)):
        style = styles[i]
        if style is not current and style != current:
            segments.append(Segment("".join(chars[start:i]), current))
            start, current = i, style
    segments.append(Segment("".join(chars[start:]), current))
    return segments


def _restyle(strip: Strip, x: int, width: int, style: Style) -> Strip:
    """``strip`` with ``style`` layered over cells ``x`` to ``x + width``."""
    length = strip.cell_length
    end = min(length, x + width)
    if end <= x:
        return strip
    head, middle, tail = strip.divide([x, end, length])
    middle = Strip(
        [Segment(text, (seg_style or Style()) + style) for text, seg_style, _ in middle], end - x
    )
    return Strip.join([head, middle, tail])
