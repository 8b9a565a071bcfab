"""The manifest of a checkpoint directory: ``MANIFEST.json`` lists, per file, its sha256, model type,
class names and array shapes. This module reads it (refusing a malformed one), writes entries, and hashes
files; ``models.checkpoint`` refuses a listed file that does not match its entry."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from models.atomic_write import write_json_atomic
from models.checkpoint_checks import FORMAT, CheckpointError, parse_json, string_list

MANIFEST_NAME = "MANIFEST.json"
MAX_MANIFEST_BYTES = 4 * 2**20


def sha256_of(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_entry(tensors: dict[str, np.ndarray], meta: dict[str, Any], sha: str) -> dict[str, Any]:
    """The manifest's entry for a checkpoint holding these arrays and this meta, whose bytes hash to ``sha``."""
    return {
        "sha256": sha,
        "model_type": meta["model_type"],
        "class_names": list(meta["class_names"]),
        "shapes": {k: list(v.shape) for k, v in sorted(tensors.items())},
    }


def _is_shape(value: Any) -> bool:
    """A shape from JSON: a list of at most 8 non-negative ints (not bools)."""
    return isinstance(value, list) and len(value) <= 8 and all(
        isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in value
    )


def _entry_problem(name: Any, entry: Any) -> str | None:
    """What is wrong with one manifest entry, or None: the types manifest_entry writes."""
    if not isinstance(name, str) or not isinstance(entry, dict):
        return "an entry is not a file name with a JSON object"
    if not isinstance(entry.get("sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]):
        return f"{name}: sha256 is not 64 hex digits"
    if not isinstance(entry.get("model_type"), str):
        return f"{name}: model_type is not a string"
    if not string_list(entry.get("class_names")):
        return f"{name}: class_names is not a list of strings"
    shapes = entry.get("shapes")
    if not isinstance(shapes, dict) or not all(_is_shape(v) for v in shapes.values()):
        return f"{name}: shapes is not a table of array shapes"
    return None


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a directory as {file name: entry}; empty if there is none. Raises CheckpointError,
    naming the manifest, if it is unreadable or any entry is malformed."""
    manifest = Path(directory) / MANIFEST_NAME
    if not manifest.exists():
        return {}
    try:
        files = parse_json(manifest.read_bytes(), "the manifest", MAX_MANIFEST_BYTES)["files"]
        if not isinstance(files, dict):
            raise TypeError("'files' is not a JSON object")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{manifest}: unreadable manifest ({e})") from e
    for name, entry in files.items():
        problem = _entry_problem(name, entry)
        if problem:
            raise CheckpointError(f"{manifest}: unreadable manifest ({problem})")
    return files


def update_manifest(path: Path, entry: dict[str, Any]) -> None:
    """Record ``entry`` for the file ``path`` in its directory's manifest (written atomically)."""
    files = read_manifest(path.parent)
    files[path.name] = entry
    write_json_atomic(path.parent / MANIFEST_NAME, {"format": FORMAT, "files": dict(sorted(files.items()))})
