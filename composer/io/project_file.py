"""Project files: plain JSON with an explicit format version, validated by schema.

A project is the song plus what the editor needs to reopen it where the user
left (cursor, zoom, track view state). No pickle: a project from anywhere is
safe to open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from composer.core.serialize import song_from_dict, song_to_dict
from composer.core.song import Song
from composer.errors import InputFileError

FORMAT_NAME = "composer-project"
FORMAT_VERSION = 1
MAX_PROJECT_BYTES = 64 * 1024 * 1024

_ROW = {"type": "array", "items": {"type": ["integer", "string"]}}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "version", "song"],
    "properties": {
        "format": {"const": FORMAT_NAME},
        "version": {"type": "integer", "minimum": 1},
        "view": {"type": "object"},
        "song": {
            "type": "object",
            "required": ["tempos", "time_signatures", "tracks"],
            "properties": {
                "title": {"type": "string"},
                "tempos": {"type": "array", "minItems": 1, "items": _ROW},
                "time_signatures": {"type": "array", "minItems": 1, "items": _ROW},
                "keys": {"type": "array", "items": _ROW},
                "markers": {"type": "array", "items": _ROW},
                "tracks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "notes"],
                        "properties": {
                            "name": {"type": "string"},
                            "program": {"type": "integer", "minimum": 0, "maximum": 127},
                            "channel": {"type": "integer", "minimum": 0, "maximum": 15},
                            "notes": {
                                "type": "array",
                                "items": {"type": "array", "minItems": 4, "maxItems": 4,
                                          "items": {"type": "integer"}},
                            },
                            "controls": {"type": "array", "items": _ROW},
                            "pitch_bends": {"type": "array", "items": _ROW},
                            "texts": {"type": "array", "items": _ROW},
                        },
                    },
                },
            },
        },
    },
}


@dataclass
class Project:
    """A song and the editor state saved with it."""

    song: Song
    view: dict[str, Any] = field(default_factory=dict)


def project_to_json(project: Project) -> str:
    return json.dumps(
        {"format": FORMAT_NAME, "version": FORMAT_VERSION, "view": project.view,
         "song": song_to_dict(project.song)},
        ensure_ascii=False, separators=(",", ":"),
    )


def project_from_json(text: str, name: str = "project") -> Project:
    import jsonschema

    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputFileError(
            f"{name}: not a composer project (invalid JSON at line {err.lineno})") from err
    try:
        jsonschema.validate(data, SCHEMA)
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "top level"
        raise InputFileError(
            f"{name}: not a valid composer project ({where}: {err.message[:120]})") from err
    if data["version"] > FORMAT_VERSION:
        raise InputFileError(
            f"{name}: project format {data['version']} is newer than this composer reads "
            f"({FORMAT_VERSION})",
            "update composer to open it",
        )
    try:
        song = song_from_dict(data["song"])
    except (ValueError, TypeError, KeyError) as err:
        raise InputFileError(f"{name}: the project holds an invalid song ({err})") from err
    return Project(song=song, view=dict(data.get("view", {})))


def read_project(path: str | Path) -> Project:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_PROJECT_BYTES:
            raise InputFileError(f"{path}: too large for a composer project")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise InputFileError(f"{path}: no such file") from err
    except UnicodeDecodeError as err:
        raise InputFileError(f"{path}: not a composer project (not text)") from err
    except OSError as err:
        raise InputFileError(f"{path}: cannot be read ({err.strerror or err})") from err
    return project_from_json(text, str(path))


def write_project(project: Project, path: str | Path) -> None:
    from composer.io.atomic import atomic_write_text

    atomic_write_text(path, project_to_json(project))
