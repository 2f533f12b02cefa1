"""The track list: each track's colour, name, instrument, and mute/solo state.

Clicking a track makes it current; clicking its M or S toggles mute or solo.
From the keyboard the same happens in the piano roll (``t``, ``m``, ``s``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from composer.core.pitch import note_name
from composer.core.song import Song
from composer.services.editing import instrument_name
from composer.tui.widgets.piano_roll import track_colour

LINES_PER_TRACK = 2


@dataclass(frozen=True)
class TrackView:
    """What the list shows: the song plus the view state that is not in it."""

    song: Song
    current: int = 0
    muted: frozenset[int] = frozenset()
    soloed: frozenset[int] = frozenset()


def audible_tracks(count: int, muted: frozenset[int], soloed: frozenset[int]) -> frozenset[int]:
    """Tracks that sound: the soloed ones if any, else all that are not muted."""
    if soloed:
        return frozenset(i for i in soloed if i < count)
    return frozenset(i for i in range(count) if i not in muted)


class TrackList(Widget):
    """Tracks of the song, one entry of two lines each.

    Component classes: ``track-list--current`` (the current track's entry),
    ``track-list--off`` (a track that will not sound).
    """

    COMPONENT_CLASSES = {"track-list--current", "track-list--off"}

    DEFAULT_CSS = """
    TrackList {
        width: 30;
        height: 1fr;
        background: $panel;
        padding: 0 1;
        overflow-y: auto;
        & > .track-list--current { background: $primary 30%; text-style: bold; }
        & > .track-list--off { color: $text-disabled; }
    }
    """

    view: reactive[TrackView] = reactive(lambda: TrackView(Song()), layout=True)
    """The tracks, current track and mute/solo sets shown."""

    class Clicked(Message):
        """A track entry, or its M or S toggle, was clicked."""

        def __init__(self, track_index: int, part: str) -> None:
            super().__init__()
            self.track_index = track_index
            self.part = part  # "track", "mute" or "solo"

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, len(self.view.song.tracks) * LINES_PER_TRACK)

    def render(self) -> Text:
        view = self.view
        width = max(10, self.content_region.width)
        text = Text(no_wrap=True, overflow="crop")
        if not view.song.tracks:
            text.append("No tracks yet.\nN adds one.", style="italic")
            return text
        audible = audible_tracks(len(view.song.tracks), view.muted, view.soloed)
        current_style = self.get_component_rich_style("track-list--current")
        off_style = self.get_component_rich_style("track-list--off")
        for index, track in enumerate(view.song.tracks):
            line_style = current_style if index == view.current else None
            name_width = width - 8
            name = f"{index + 1} {track.name}"[:name_width]
            first = Text(no_wrap=True)
            first.append("██ ", style=track_colour(index))
            first.append(f"{name:<{name_width}}", style=off_style if index not in audible else "")
            first.append(
                "M" if index in view.muted else "·",
                style="bold reverse red" if index in view.muted else "dim",
            )
            first.append(" ")
            first.append(
                "S" if index in view.soloed else "·",
                style="bold reverse yellow" if index in view.soloed else "dim",
            )
            if line_style is not None:
                first.stylize(line_style)
            span = ""
            if track.notes:
                low = min(n.pitch for n in track.notes)
                high = max(n.pitch for n in track.notes)
                span = f" {note_name(low)}-{note_name(high)}"
            detail = f"   {instrument_name(track)} · {len(track.notes)}{span}"
            second = Text(f"{detail[:width]:<{width}}", style="dim", no_wrap=True)
            if line_style is not None:
                second.stylize(line_style)
            text.append_text(first)
            text.append("\n")
            text.append_text(second)
            if index + 1 < len(view.song.tracks):
                text.append("\n")
        return text

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = (offset.y + int(self.scroll_y)) // LINES_PER_TRACK
        if not 0 <= index < len(self.view.song.tracks):
            return
        width = self.content_region.width
        part = "track"
        if offset.y % LINES_PER_TRACK == 0:
            if offset.x == width - 3:
                part = "mute"
            elif offset.x == width - 1:
                part = "solo"
        self.post_message(self.Clicked(index, part))
        event.stop()
