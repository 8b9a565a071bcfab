"""The one checkpoint format of the project: a safetensors file plus a manifest of trusted hashes.

A checkpoint is ``<name>.safetensors``: named float arrays, and in the header's metadata a JSON document
(``meta``) carrying everything needed to rebuild the model without guessing: model type, config, class
names, input normalisation, seed, training settings and metrics. safetensors holds raw arrays only, so
loading can never execute code (no pickle anywhere).

This module owns saving and loading. Each directory of checkpoints has a ``MANIFEST.json``
(``models.checkpoint_manifest``); ``load_checkpoint`` refuses a file the manifest lists whose bytes or
contents do not match it. Writes are atomic (``models.atomic_write``), so an interrupted run never leaves
a broken file.

A file the manifest does not list is read as hostile: our caps (``models.checkpoint_checks``) run on its
header before safetensors parses it, safetensors checks the layout, then the metadata's types are
checked, and arrays or statistics that are not finite are refused. Anything malformed is a
``CheckpointError`` naming the file and what is wrong, never another exception. Whether the config fits the
arrays is checked by ``models.model_checks`` before a model is built.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load, save_file

from models.atomic_write import atomic_write, write_json_atomic
from models.checkpoint_checks import FORMAT, CheckpointError, check_meta, parse_json, read_header
from models.checkpoint_manifest import MANIFEST_NAME, manifest_entry, read_manifest, sha256_of, update_manifest

__all__ = [  # the public API; the names from the other checkpoint modules are re-exported for callers
    "FORMAT", "MANIFEST_NAME", "MAX_CHECKPOINT_BYTES", "CheckpointError", "load_checkpoint", "parse_json",
    "read_manifest", "save_checkpoint", "sha256_of", "write_json_atomic",
]

MAX_CHECKPOINT_BYTES = 256 * 2**20  # the largest model here is 11 MB; a CPU playground has no use for more


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write arrays and metadata to ``path`` atomically and record the file in its directory's manifest.

    tensors: name -> array (any float/int dtype; stored contiguous). meta: JSON-serialisable dict that must
    hold at least ``model_type`` and ``class_names``. Returns the path written.
    """
    path = Path(path)
    for key in ("model_type", "class_names"):
        if key not in meta:
            raise ValueError(f"checkpoint meta needs {key!r}")
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    header = {"format": FORMAT, "meta": json.dumps(meta)}
    atomic_write(path, lambda tmp: save_file(arrays, tmp, metadata=header))
    update_manifest(path, manifest_entry(arrays, meta, sha256_of(path)))
    return path


def load_checkpoint(path: str | os.PathLike, verify: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a checkpoint without executing anything from it.

    Returns (tensors: name -> np.ndarray, meta: dict). With ``verify`` (the default), a file listed in its
    directory's MANIFEST.json must match the listed sha256, model type, classes and shapes. Raises
    CheckpointError, naming the file and what is wrong, for a missing, oversized, truncated, foreign,
    malformed or mismatched file, and for arrays that are not finite. The whole file is read once, so the
    bytes checked are the bytes loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    entry = read_manifest(path.parent).get(path.name) if verify else None
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path}: larger than the {MAX_CHECKPOINT_BYTES // 2**20} MB a checkpoint may be")
    data = path.read_bytes()
    if entry is not None and hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise CheckpointError(
            f"{path}: sha256 does not match {path.parent / MANIFEST_NAME}; the file was changed or replaced "
            "and is refused (retrain it, or restore the committed file)"
        )
    try:
        header = read_header(data)  # our caps first: safetensors then parses only a small, shallow header
        tensors = load(data)  # checks the layout: offsets, shapes, dtypes, metadata types, the file's length
    except (SafetensorError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors too
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated, corrupt or not safetensors: {e})") from e
    metadata = header.get("__metadata__") or {}  # a table of strings, or absent: safetensors checked it
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a checkpoint of this project (format {metadata.get('format')!r})")
    try:
        meta = parse_json(metadata.get("meta", ""), "meta")
        check_meta(meta)
    except ValueError as e:
        raise CheckpointError(f"{path}: checkpoint metadata is missing or malformed ({e})") from e
    if entry is not None:
        actual = manifest_entry(tensors, meta, entry["sha256"])
        for key in ("model_type", "class_names", "shapes"):
            if actual[key] != entry[key]:
                raise CheckpointError(f"{path}: {key} does not match the manifest ({actual[key]} != {entry[key]})")
    for name, array in tensors.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise CheckpointError(f"{path}: array {name!r} holds NaN or infinite values")
    return tensors, meta
