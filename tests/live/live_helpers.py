"""Small builders shared by the live tests."""

from __future__ import annotations

import functools

from composer.core.song import Note, Song, TempoChange, Track


def song_of(*notes: tuple[int, int, int], tempo_bpm: float = 120.0, channel: int = 0) -> Song:
    """A one-track song from (pitch, start_tick, duration_ticks) triples."""
    track = Track("Part", channel=channel).with_notes(
        [Note(pitch=p, start_tick=s, duration_ticks=d) for p, s, d in notes]
    )
    return Song(tracks=(track,), tempos=(TempoChange.from_bpm(0, tempo_bpm),))


def in_real_time(scenario, attempts: int = 3, probe=None):
    """Run a real-time scenario over JACK until its checks pass, at most ``attempts`` times.

    JACK here runs without realtime scheduling; on a machine busy with other work
    a cycle now and then stalls for a second, delaying or dropping what passes
    through it. A timing property must hold in a run without such a stall; a
    bug fails every run.
    """
    for attempt in range(attempts):
        if probe is not None:
            probe.reset()
        try:
            return scenario()
        except AssertionError:
            if attempt == attempts - 1:
                raise
    return None


def real_time(test):
    """Mark a test over real JACK ports: run it again (up to 3 times) if its checks
    fail, starting from a fresh probe; see :func:`in_real_time` for why."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        for attempt in range(3):
            if "probe" in kwargs:
                kwargs["probe"].reset()
            try:
                return test(*args, **kwargs)
            except AssertionError:
                if attempt == 2:
                    raise
        return None

    return run
