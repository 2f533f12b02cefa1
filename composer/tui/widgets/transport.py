"""The transport bar: play state, loop, tempo, meter, key, position and project name."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


@dataclass(frozen=True)
class TransportState:
    """Everything the transport bar shows; the editor builds a new one on each change."""

    playing: bool = False
    loop: bool = False
    tempo_bpm: float = 120.0
    meter: str = "4/4"
    key: str = ""
    bar: int = 1
    beat: int = 1
    ticks: int = 0
    """Ticks past the beat (PPQ 480), shown as ``bar.beat.ticks`` when not on a beat."""
    grid: str = "1/8"
    track: str = ""
    project: str = "untitled"
    modified: bool = False
    output: str = ""


class TransportBar(Widget):
    """One line at the top of the editor.

    Component classes: ``transport--playing`` (the play/stop field while playing),
    ``transport--label`` (field names), ``transport--project`` (the project name).
    """

    COMPONENT_CLASSES = {"transport--playing", "transport--label", "transport--project"}

    DEFAULT_CSS = """
    TransportBar {
        height: 1;
        background: $boost;
        color: $text;
        padding: 0 1;
        & > .transport--playing { color: $success; text-style: bold; }
        & > .transport--label { color: $text-muted; }
        & > .transport--project { color: $text; text-style: bold; }
    }
    """

    state: reactive[TransportState] = reactive(TransportState)
    """What is shown."""

    def render(self) -> Text:
        state = self.state
        label = self.get_component_rich_style("transport--label")
        text = Text(no_wrap=True, overflow="ellipsis")
        if state.playing:
            text.append("▶ playing", style=self.get_component_rich_style("transport--playing"))
        else:
            text.append("■ stopped")
        text.append("  loop " if state.loop else "", style=label)
        text.append("on" if state.loop else "")
        fields = [("", f"{state.tempo_bpm:g} BPM"), ("", state.meter)]
        if state.key:
            fields.append(("", state.key))
        position = f"{state.bar}.{state.beat}" + (f".{state.ticks:03d}" if state.ticks else "")
        fields += [("bar ", position), ("grid ", state.grid)]
        if state.track:
            fields.append(("track ", state.track))
        if state.output:
            fields.append(("→ ", state.output))
        for name, value in fields:
            text.append(" │ ", style=label)
            text.append(name, style=label)
            text.append(value)
        # The project name goes at the right; it gives way (shortened) before the fields do.
        project = state.project + (" ●" if state.modified else "")
        width = self.content_region.width
        room = width - text.cell_len - 2
        if room >= 12 or room >= len(project):
            if len(project) > room:
                project = project[: room - 1] + "…"
            text.append(" " * (width - text.cell_len - len(project)))
            text.append(project, style=self.get_component_rich_style("transport--project"))
        return text
