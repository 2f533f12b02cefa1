"""composer: a symbolic music composition assistant for the terminal."""

__version__ = "0.1.0"
