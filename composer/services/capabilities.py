"""What this installation can do now: which models are installed for each task.

The editor asks before it shows a command (a command whose model is missing
appears nowhere: not in the footer, the help screen or the palette) and before
it lists models in a dialog. Every check only looks for files, so it is quick
enough to repeat every few seconds: a model installed while the editor runs
(a training job finishing) appears without a restart.
"""

from __future__ import annotations


def melody_models(infill: bool = False) -> list[str]:
    """Installed melody models, best first; ``infill`` leaves out those that cannot infill."""
    from composer.services.generate import MODELS
    from composer.services.models import model_dir

    return [
        name
        for name in MODELS
        if not (infill and name == "markov") and model_dir("melody", name).is_dir()
    ]


def harmony_models(style: str) -> list[str]:
    """Harmony models whose files are present for ``style``: the one "auto" picks
    first (the best measured), then the registry's order."""
    from composer.services.harmony_models import available_models, best_model

    have = available_models(style)
    if not have:
        return have
    best = best_model(style)
    return [best, *(m for m in have if m != best)]


def harmony_styles() -> list[str]:
    """The harmony styles at least one installed model serves."""
    from composer.services.harmony_models import STYLES

    return [style for style in STYLES if harmony_models(style)]


def transcription_installed() -> bool:
    """Whether the audio-to-notes model (``models/transcription``) is installed."""
    from composer.audio.checkpoint import default_dir

    directory = default_dir()
    return (directory / "card.json").is_file() and (directory / "model.pt").is_file()
