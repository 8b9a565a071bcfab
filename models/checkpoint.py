"""The one checkpoint format of the project: a safetensors file plus a manifest of trusted hashes.

A checkpoint is ``<name>.safetensors``: named float arrays, and in the header's metadata a JSON document
(``meta``) carrying everything needed to rebuild the model without guessing: model type, config, class
names, input normalisation, seed, training settings and metrics. safetensors holds raw arrays only, so
loading can never execute code (no pickle anywhere).

Each directory of checkpoints has a ``MANIFEST.json`` listing, per file, its sha256, model type, class
names and array shapes. ``load_checkpoint`` refuses a file the manifest lists whose bytes or contents do
not match it. Writes are atomic (temp file + rename), so an interrupted run never leaves a broken file.

A file the manifest does not list is read as hostile: its header (8-byte little-endian length, then JSON)
is parsed here, with caps on its size and nesting depth, and every array's dtype, shape and byte range is
checked against the file before safetensors reads an array; the metadata's types are checked, and arrays
or statistics that are not finite are refused. Anything malformed is a ``CheckpointError`` naming the file
and what is wrong, never another exception. Whether the config fits the arrays is checked by
``models.model_checks`` before a model is built.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "nn-playground/1"
MANIFEST_NAME = "MANIFEST.json"
MAX_CHECKPOINT_BYTES = 256 * 2**20  # the largest model here is 5 MB; a CPU playground has no use for more
MAX_HEADER_BYTES = 256 * 2**10  # the committed headers are 1-6 KB
MAX_MANIFEST_BYTES = 4 * 2**20
MAX_JSON_DEPTH = 16  # the deepest document here (the manifest) nests 4 levels
MAX_TENSORS = 4096
# The dtypes this project writes (safetensors names -> NumPy); bf16, float8 etc. are refused by name.
DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, not trusted, or does not fit the model it claims to be."""


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# A JSON string (with its escapes; an unterminated one runs to the end, so every match succeeds and the
# scan stays linear), or one bracket: what matters for nesting depth.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\(?:.|\Z))*+(?:"|\Z)|[\[\]{}]', re.S)


def json_depth(text: str, stop_above: int = MAX_JSON_DEPTH) -> int:
    """How deeply ``text`` nests arrays and objects (brackets inside strings do not count), counting no
    further than ``stop_above`` + 1. Linear time, no recursion: json.loads recurses once per level, and
    100,000 levels raise RecursionError."""
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop_above:
                break
        elif bracket in ("]", "}"):
            depth -= 1
    return deepest


def parse_json(text: str | bytes, what: str, max_bytes: int = MAX_HEADER_BYTES) -> Any:
    """JSON with caps on size and nesting depth, NaN/Infinity refused; ValueError says which cap."""
    if len(text) > max_bytes:
        raise ValueError(f"{what} is {len(text):,} bytes, more than the {max_bytes:,} allowed")
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")

    def no_constant(name: str) -> Any:
        raise ValueError(f"{what} holds {name}, which is not a number")

    return json.loads(text, parse_constant=no_constant)


def _finite_numbers(value: Any) -> bool:
    """True when every number in a parsed JSON document is finite (json reads 1e999 as infinity)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_numbers(v) for v in value)
    return True


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


def _manifest_entry_problem(name: Any, entry: Any) -> str | None:
    """What is wrong with one manifest entry, or None: the types _manifest_entry writes."""
    if not isinstance(name, str) or not isinstance(entry, dict):
        return "an entry is not a file name with a JSON object"
    if not isinstance(entry.get("sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]):
        return f"{name}: sha256 is not 64 hex digits"
    if not isinstance(entry.get("model_type"), str):
        return f"{name}: model_type is not a string"
    if not _string_list(entry.get("class_names")):
        return f"{name}: class_names is not a list of strings"
    shapes = entry.get("shapes")
    if not isinstance(shapes, dict) or not all(_shape(v) is not None for v in shapes.values()):
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
        problem = _manifest_entry_problem(name, entry)
        if problem:
            raise CheckpointError(f"{manifest}: unreadable manifest ({problem})")
    return files


def update_manifest(path: Path, entry: dict[str, Any]) -> None:
    files = read_manifest(path.parent)
    files[path.name] = entry
    write_json_atomic(path.parent / MANIFEST_NAME, {"format": FORMAT, "files": dict(sorted(files.items()))})


def _string_list(value: Any, max_items: int = 10_000) -> bool:
    return isinstance(value, list) and 0 < len(value) <= max_items and all(isinstance(v, str) for v in value)


def _shape(value: Any) -> tuple[int, ...] | None:
    """A shape from JSON: a list of at most 8 non-negative ints (not bools), else None."""
    if not isinstance(value, list) or len(value) > 8:
        return None
    if not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in value):
        return None
    return tuple(value)


def read_header(data: bytes) -> tuple[dict[str, tuple[np.dtype, tuple[int, ...]]], dict[str, str]]:
    """Parse and check a safetensors header without reading an array: ({name: (dtype, shape)}, metadata).

    The layout: an 8-byte little-endian header length, the header (JSON: name -> {dtype, shape,
    data_offsets}, plus "__metadata__": {str: str}), then the arrays' bytes, back to back. Raises ValueError
    (the reason) when any of it is off: length, size, depth, a dtype other than F32/F64/I64, a shape or byte
    range that does not match the dtype, gaps, overlaps, or bytes beyond the arrays.
    """
    if len(data) < 8:
        raise ValueError("shorter than a safetensors header")
    length = int.from_bytes(data[:8], "little")
    if length > MAX_HEADER_BYTES or 8 + length > len(data):
        raise ValueError(f"the header claims {length:,} bytes in a file of {len(data):,}")
    header = parse_json(data[8 : 8 + length], "the header")
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("__metadata__ is not a table of strings")
    if len(header) > MAX_TENSORS:
        raise ValueError(f"more than {MAX_TENSORS} arrays")
    infos, ranges = {}, []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"array {name!r} is not described by dtype, shape and data_offsets")
        if not isinstance(info["dtype"], str) or info["dtype"] not in DTYPES:
            known = ", ".join(DTYPES)
            raise ValueError(f"array {name!r} has dtype {info['dtype']!r}; this project writes only {known}")
        shape, offsets = _shape(info["shape"]), _shape(info["data_offsets"])
        if shape is None or offsets is None or len(offsets) != 2:
            raise ValueError(f"array {name!r} has a malformed shape or data_offsets")
        dtype = DTYPES[info["dtype"]]
        if offsets[1] - offsets[0] != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"array {name!r}: shape {list(shape)} does not fill bytes {list(offsets)}")
        infos[name] = (dtype, shape)
        ranges.append(offsets)
    end = 0
    for start, stop in sorted(ranges):
        if start != end:
            raise ValueError("the arrays' bytes have gaps or overlap")
        end = stop
    if 8 + length + end != len(data):
        raise ValueError(f"the arrays take {end:,} bytes, the file has {len(data) - 8 - length:,} after the header")
    return infos, metadata


def check_meta(meta: Any) -> None:
    """Raise ValueError unless ``meta`` has the types the loader and the classifiers rely on: a model_type,
    class names, an optional display name, a config object, normalisation statistics (finite, std > 0),
    and nothing but finite numbers anywhere (json reads 1e999 as infinity)."""
    if not isinstance(meta, dict):
        raise ValueError("meta is not a JSON object")
    if not isinstance(meta.get("model_type"), str):
        raise ValueError("model_type is missing or not a string")
    if not _string_list(meta.get("class_names"), 1_000) or any(len(c) > 200 for c in meta["class_names"]):
        raise ValueError("class_names is missing or not a list of (short) strings")
    if not isinstance(meta.get("display_name", ""), str) or not isinstance(meta.get("config", {}), dict):
        raise ValueError("display_name is not a string or config is not a JSON object")
    if not _finite_numbers(meta):
        raise ValueError("it holds a number that is not finite")
    norm = meta.get("normalization")
    if norm is not None:
        values = [norm.get(k) if isinstance(norm, dict) else None for k in ("mean", "std")]
        arrays = [np.asarray(v, np.float64) if _number_or_numbers(v) else None for v in values]
        if arrays[0] is None or arrays[1] is None or not (arrays[1] > 0).all():
            raise ValueError("normalization needs numeric mean and std (std > 0)")


def _number_or_numbers(value: Any) -> bool:
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    return number(value) or (isinstance(value, list) and 0 < len(value) <= 16 and all(number(v) for v in value))


def load_checkpoint(path: str | os.PathLike, verify: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a checkpoint without executing anything from it.

    Returns (tensors: name -> np.ndarray, meta: dict). With ``verify`` (the default), a file listed in its
    directory's MANIFEST.json must match the listed sha256, model type, classes and shapes. Raises
    CheckpointError, naming the file and what is wrong, for a missing, oversized, truncated, foreign,
    malformed or mismatched file, and for arrays that are not finite. The whole file is read once, so the
    bytes checked are the bytes loaded.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

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
        infos, header = read_header(data)
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors too
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated, corrupt or not safetensors: {e})") from e
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a checkpoint of this project (format {header.get('format')!r})")
    try:
        meta = parse_json(header.get("meta", ""), "meta")
        check_meta(meta)
    except ValueError as e:
        raise CheckpointError(f"{path}: checkpoint metadata is missing or malformed ({e})") from e
    if entry is not None:
        actual = {"model_type": meta["model_type"], "class_names": meta["class_names"],
                  "shapes": {k: list(shape) for k, (_, shape) in sorted(infos.items())}}
        for key in ("model_type", "class_names", "shapes"):
            if actual[key] != entry.get(key):
                raise CheckpointError(f"{path}: {key} does not match the manifest ({actual[key]} != {entry.get(key)})")
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated, corrupt or not safetensors: {e})") from e
    for name, array in tensors.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise CheckpointError(f"{path}: array {name!r} holds NaN or infinite values")
    return tensors, meta
