"""The one checkpoint format of the project: a safetensors file plus a manifest of trusted hashes.

A checkpoint is ``<name>.safetensors``: named float arrays, and in the header's metadata a JSON document
(``meta``) carrying everything needed to rebuild the model without guessing: model type, config, class
names, input normalisation, seed, training settings and metrics. safetensors holds raw arrays only, so
loading can never execute code (no pickle anywhere).

Each directory of checkpoints has a ``MANIFEST.json`` listing, per file, its sha256, model type, class
names and array shapes. ``load_checkpoint`` refuses a file the manifest lists whose bytes or contents do
not match it. Writes are atomic (temp file + rename), so an interrupted run never leaves a broken file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "nn-playground/1"
MANIFEST_NAME = "MANIFEST.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, not trusted, or does not fit the model it claims to be."""


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename the temp file over ``path`` (same directory, so atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; a checkpoint should be readable like any file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")

    _atomic_write(Path(path), write)


def _manifest_entry(tensors: dict[str, np.ndarray], meta: dict[str, Any], sha: str) -> dict[str, Any]:
    return {
        "sha256": sha,
        "model_type": meta["model_type"],
        "class_names": list(meta["class_names"]),
        "shapes": {k: list(v.shape) for k, v in sorted(tensors.items())},
    }


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write arrays and metadata to ``path`` atomically and record the file in its directory's manifest.

    tensors: name -> array (any float/int dtype; stored contiguous). meta: JSON-serialisable dict that must
    hold at least ``model_type`` and ``class_names``. Returns the path written.
    """
    from safetensors.numpy import save_file

    path = Path(path)
    for key in ("model_type", "class_names"):
        if key not in meta:
            raise ValueError(f"checkpoint meta needs {key!r}")
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    header = {"format": FORMAT, "meta": json.dumps(meta)}
    _atomic_write(path, lambda tmp: save_file(arrays, tmp, metadata=header))
    update_manifest(path, _manifest_entry(arrays, meta, sha256_of(path)))
    return path


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a directory as {file name: entry}; empty if there is none."""
    manifest = Path(directory) / MANIFEST_NAME
    if not manifest.exists():
        return {}
    try:
        return json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{manifest}: unreadable manifest ({e})") from e


def update_manifest(path: Path, entry: dict[str, Any]) -> None:
    files = read_manifest(path.parent)
    files[path.name] = entry
    write_json_atomic(path.parent / MANIFEST_NAME, {"format": FORMAT, "files": dict(sorted(files.items()))})


def load_checkpoint(path: str | os.PathLike, verify: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a checkpoint without executing anything from it.

    Returns (tensors: name -> np.ndarray, meta: dict). With ``verify`` (the default), a file listed in its
    directory's MANIFEST.json must match the listed sha256, model type, classes and shapes. Raises
    CheckpointError, naming the file, for a missing, truncated, foreign or mismatched file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    entry = read_manifest(path.parent).get(path.name) if verify else None
    if entry is not None and sha256_of(path) != entry.get("sha256"):
        raise CheckpointError(
            f"{path}: sha256 does not match {path.parent / MANIFEST_NAME}; the file was changed or replaced "
            "and is refused (retrain it, or restore the committed file)"
        )
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated, corrupt or not safetensors: {e})") from e
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a checkpoint of this project (format {header.get('format')!r})")
    try:
        meta = json.loads(header["meta"])
        meta["model_type"], meta["class_names"]  # noqa: B018 - presence check
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: checkpoint metadata is missing or malformed ({e})") from e
    if entry is not None:
        actual = _manifest_entry(tensors, meta, entry["sha256"])
        for key in ("model_type", "class_names", "shapes"):
            if actual[key] != entry.get(key):
                raise CheckpointError(f"{path}: {key} does not match the manifest ({actual[key]} != {entry.get(key)})")
    return tensors, meta
