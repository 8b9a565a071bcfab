"""Does a checkpoint's config describe the arrays it carries? Checked before a model is allocated.

A model is built from the config in the checkpoint's metadata, so a config could ask for anything: an
860-byte file whose config says 400,000 hidden units would make the loader allocate gigabytes before its
arrays were found not to fit. Two checks run first, both driven by the config dataclass and the arrays'
shapes rather than by a list of fields, so configs that gain fields keep being checked:

- ``config_from_meta``: every value in the config has the type its dataclass field declares (ints are ints
  within sane limits, floats are finite, tuples are lists of such values, ...), no unknown fields, and the
  dataclass's own checks pass;
- ``check_shapes``: the arrays the model would have are compared, name by name and shape by shape, with
  the arrays in the file. For the torch models the model is built on PyTorch's "meta" device, which
  records shapes without allocating memory (with a cap on how many parameters construction may register,
  so a config asking for a million layers stops early, and with random initialisation skipped); the NumPy
  MLP has no meta device, so its layout is written out below (a test checks it against ``NumpyMLP``).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from models.checkpoint import CheckpointError

MAX_CONFIG_INT = 2**20  # no width, size or count in a model of this project comes near a million
MAX_CONFIG_ITEMS = 256  # entries of a tuple field (layer widths, channels per block)
MAX_CONFIG_TEXT = 200
Shapes = Mapping[str, tuple[int, ...]]


def _type_problem(value: Any, hint: Any) -> str | None:
    """Why a JSON value does not fit a dataclass field's type hint, or None if it fits."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        problems = [_type_problem(value, arg) for arg in args]
        return None if None in problems else " or ".join(p for p in problems if p)
    if origin is typing.Literal:
        return None if value in args else f"expected one of {list(args)}"
    if origin in (tuple, list):
        if not isinstance(value, list) or len(value) > MAX_CONFIG_ITEMS:
            return f"expected a list of at most {MAX_CONFIG_ITEMS} items"
        item_hints = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args or [Any])
        if origin is tuple and len(item_hints) != len(value) and not (len(args) == 2 and args[1] is Ellipsis):
            return f"expected {len(args)} items"
        return next((p for v, h in zip(value, item_hints) if (p := _type_problem(v, h))), None)
    if hint is bool:
        return None if isinstance(value, bool) else "expected true or false"
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_CONFIG_INT
        return None if ok else f"expected an integer of at most {MAX_CONFIG_INT}"
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "expected a finite number"
    if hint is str:
        return None if isinstance(value, str) and len(value) <= MAX_CONFIG_TEXT else "expected a short string"
    if hint is type(None):
        return None if value is None else "expected null"
    # Any other annotation: accept plain JSON values only (never an object or a nested list).
    return None if value is None or isinstance(value, (bool, int, float, str)) else "expected a plain value"


def config_from_meta(cls: type, meta: Mapping[str, Any], path: Path) -> Any:
    """``cls(**meta["config"])`` once every value has the type its field declares; CheckpointError otherwise."""
    raw = meta.get("config")
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: config does not fit {cls.__name__} (it is not a JSON object)")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise CheckpointError(f"{path}: config does not fit {cls.__name__} (unknown fields {unknown})")
    for name, value in raw.items():
        problem = _type_problem(value, hints[name])
        if problem:
            raise CheckpointError(f"{path}: config does not fit {cls.__name__} ({name}: {problem})")
    try:
        return cls(**raw)
    except Exception as e:  # noqa: BLE001 - the dataclass's own checks, whatever they raise (ZeroDivisionError...)
        raise CheckpointError(f"{path}: config does not fit {cls.__name__} ({e})") from e


# --- expected shapes ----------------------------------------------------------------------------------
_building = threading.local()  # per thread: how many more parameters, buffers and modules may be registered


class _TooBig(Exception):
    pass


def _count_registration(*_: Any) -> None:
    left = getattr(_building, "left", None)
    if left is not None:
        _building.left = left - 1
        if left <= 0:
            raise _TooBig


_hooks_installed = False


@contextmanager
def _registration_limit(limit: int) -> Iterator[None]:
    """Let model construction in this thread register at most ``limit`` parameters, buffers and modules
    (torch's global registration hooks, counting only inside this block and only in this thread)."""
    global _hooks_installed
    from torch.nn.modules import module

    if not _hooks_installed:  # installed once, for the life of the process; they cost nothing outside the block
        module.register_module_parameter_registration_hook(_count_registration)
        module.register_module_buffer_registration_hook(_count_registration)
        module.register_module_module_registration_hook(_count_registration)
        _hooks_installed = True
    _building.left = limit
    try:
        yield
    finally:
        _building.left = None


def _skip_initialisation() -> Any:
    """A torch function mode in which filling a meta tensor (nn.init's functions, normal_, uniform_ ...)
    does nothing: a meta tensor holds no values anyway, and torch's meta kernel for normal_ imports sympy
    (6 s and 150 MB on first use)."""
    import torch
    from torch.overrides import TorchFunctionMode

    fills = {name for name in dir(torch.nn.init) if name.endswith("_")} | {"normal_", "uniform_", "fill_", "zero_"}

    class SkipInitialisation(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            target = args[0] if args else None
            if getattr(func, "__name__", "") in fills and isinstance(target, torch.Tensor) and target.is_meta:
                return target
            return func(*args, **(kwargs or {}))

    return SkipInitialisation()


def torch_shapes(build: Callable[[], Any], n_arrays: int, path: Path | str = "") -> dict[str, tuple[int, ...]] | None:
    """The state dict's shapes of the module ``build()`` makes, built on the meta device (no memory for
    weights); None when construction registers far more than ``n_arrays`` things (it cannot fit them).
    Raises CheckpointError, naming ``path``, when the config cannot be built at all (a dropout of 1e308...)."""
    import torch

    try:
        with torch.device("meta"), _skip_initialisation(), _registration_limit(8 * n_arrays + 64):
            model = build()
    except _TooBig:
        return None
    except Exception as e:  # noqa: BLE001 - whatever the modules' own checks raise
        raise CheckpointError(f"{path}: config cannot be built ({type(e).__name__}: {e})") from e
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def numpy_mlp_shapes(config: Any) -> dict[str, tuple[int, ...]]:
    """The arrays of ``NumpyMLP(config)``: weights.l (sizes[l], sizes[l+1]) and biases.l (sizes[l+1],)."""
    pairs = list(zip(config.sizes[:-1], config.sizes[1:]))
    return {**{f"weights.{l}": (a, b) for l, (a, b) in enumerate(pairs)},
            **{f"biases.{l}": (b,) for l, (_, b) in enumerate(pairs)}}


def check_shapes(expected: Shapes | None, actual: Shapes, description: str, path: Path) -> None:
    """CheckpointError unless the file holds exactly the arrays, and shapes, the model expects. A scalar may
    be stored as one element, as torch itself accepts (BatchNorm's num_batches_tracked is saved as [1])."""

    def fits(want: tuple[int, ...], have: tuple[int, ...]) -> bool:
        return tuple(want) == tuple(have) or (tuple(want) == () and tuple(have) == (1,))

    if expected is not None and set(expected) == set(actual) and all(fits(expected[k], actual[k]) for k in expected):
        return
    if expected is None:
        raise CheckpointError(f"{path}: weights do not fit the {description} described by its config (it would "
                              f"need far more than the {len(actual)} arrays in the file)")
    missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
    wrong = [f"{k} {list(actual[k])} != {list(expected[k])}" for k in sorted(set(expected) & set(actual))
             if not fits(expected[k], actual[k])]
    details = "; ".join(
        part for part in (f"missing {missing[:3]}" if missing else "", f"unexpected {extra[:3]}" if extra else "",
                          f"shapes {', '.join(wrong[:3])}" if wrong else "") if part
    )
    raise CheckpointError(f"{path}: weights do not fit the {description} described by its config ({details})")
