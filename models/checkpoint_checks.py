"""What the project checks itself in an untrusted checkpoint, before and after safetensors reads it.

safetensors (``safetensors.numpy.load``) already refuses a header whose length runs past the file, JSON that
is not a table of arrays, an unknown dtype, a shape or byte range that does not fit the dtype, gaps,
overlaps, bytes beyond the arrays, and ``__metadata__`` that is not a table of strings. This module checks
what it does not: a header size cap and a JSON nesting-depth cap before anything is parsed, at most
``MAX_TENSORS`` arrays, only the dtypes this project writes (F32, F64, I64), and the types and finiteness
of the project's own metadata (``meta``). Every check raises ValueError with the reason; the loader turns it
into a ``CheckpointError`` naming the file.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

FORMAT = "nn-playground/1"
MAX_HEADER_BYTES = 256 * 2**10  # the committed headers are 1-6 KB
MAX_JSON_DEPTH = 16  # the deepest document here (the manifest) nests 4 levels
MAX_TENSORS = 4096
DTYPES = ("F32", "F64", "I64")  # the dtypes this project writes; bf16, float8 etc. are refused by name


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, not trusted, or does not fit the model it claims to be."""


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


def read_header(data: bytes) -> dict[str, Any]:
    """The header of a safetensors file (8-byte little-endian length, then JSON), parsed under our caps,
    before safetensors sees it: size, depth, array count, and a dtype this project writes for every array.
    The rest of the layout (offsets, shapes, metadata types, the file's length) is safetensors' to check."""
    length = int.from_bytes(data[:8], "little")
    if length > MAX_HEADER_BYTES:
        raise ValueError(f"the header claims {length:,} bytes, more than the {MAX_HEADER_BYTES:,} allowed")
    header = parse_json(data[8 : 8 + length], "the header")
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    arrays = {name: info for name, info in header.items() if name != "__metadata__"}
    if len(arrays) > MAX_TENSORS:
        raise ValueError(f"more than {MAX_TENSORS} arrays")
    for name, info in arrays.items():
        dtype = info.get("dtype") if isinstance(info, dict) else None
        if dtype not in DTYPES:  # a tuple, so an unhashable dtype (a list) compares instead of raising
            raise ValueError(f"array {name!r} has dtype {dtype!r}; this project writes only {', '.join(DTYPES)}")
    return header


def string_list(value: Any, max_items: int = 10_000) -> bool:
    """True for a non-empty list of at most ``max_items`` strings."""
    return isinstance(value, list) and 0 < len(value) <= max_items and all(isinstance(v, str) for v in value)


def _finite_numbers(value: Any) -> bool:
    """True when every number in a parsed JSON document is finite (json reads 1e999 as infinity)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_numbers(v) for v in value)
    return True


def _number_or_numbers(value: Any) -> bool:
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    return number(value) or (isinstance(value, list) and 0 < len(value) <= 16 and all(number(v) for v in value))


def check_meta(meta: Any) -> None:
    """Raise ValueError unless ``meta`` has the types the loader and the classifiers rely on: a model_type,
    class names, an optional display name, a config object, normalisation statistics (finite, std > 0),
    and nothing but finite numbers anywhere (json reads 1e999 as infinity)."""
    if not isinstance(meta, dict):
        raise ValueError("meta is not a JSON object")
    if not isinstance(meta.get("model_type"), str):
        raise ValueError("model_type is missing or not a string")
    if not string_list(meta.get("class_names"), 1_000) or any(len(c) > 200 for c in meta["class_names"]):
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
