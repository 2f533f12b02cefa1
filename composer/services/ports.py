"""MIDI ports for the CLI and the editor: list them, and open the input and output
a user chose (a port by name or part of it, composer's own virtual port, or a
FluidSynth started for people with no MIDI gear)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from composer.errors import PortError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PortListing:
    """What ``composer ports`` shows."""

    backend: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    virtual_input: str
    virtual_output: str


def list_midi_ports(backend: str | None = None) -> PortListing:
    """Input and output ports of the chosen (or automatic) MIDI backend."""
    from composer.live.ports import CLIENT_IN, CLIENT_OUT, PORT_NAME, list_ports

    ports = list_ports(backend)
    return PortListing(
        ports.backend,
        ports.inputs,
        ports.outputs,
        f"{CLIENT_IN}:{PORT_NAME}",
        f"{CLIENT_OUT}:{PORT_NAME}",
    )


class OutputChoice:
    """The output a user chose, opened: a port, the virtual port, or a FluidSynth.

    With no port named and no virtual port asked for, a FluidSynth is started
    (and stopped again by ``close``), so a person without MIDI gear hears music.
    """

    def __init__(
        self,
        spec: str | None = None,
        backend: str | None = None,
        virtual: bool = False,
        soundfont: str | None = None,
    ) -> None:
        from composer.live.ports import install_exit_handlers, open_output

        install_exit_handlers()
        self.synth = None
        if spec is None and not virtual:
            from composer.live.synth import start_synth

            self.synth = start_synth(backend, soundfont)
            spec = self.synth.port_name
        try:
            self.port = open_output(spec, backend, virtual)
        except PortError:
            self._stop_synth()
            raise

    @property
    def description(self) -> str:
        if self.synth is not None:
            return f"FluidSynth ({self.synth.soundfont.name}) on {self.port.name}"
        return self.port.name

    def _stop_synth(self) -> None:
        if self.synth is not None:
            self.synth.stop()
            self.synth = None

    def close(self) -> None:
        """Silence and close the port, then stop the synth; idempotent."""
        try:
            self.port.close()
        finally:
            self._stop_synth()

    def __enter__(self) -> OutputChoice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_input_choice(spec: str | None = None, backend: str | None = None, virtual: bool = False):
    """The input a user chose: a port by name, or composer's virtual input when none is named."""
    from composer.live.ports import open_input

    return open_input(spec, backend, virtual=virtual or spec is None)
