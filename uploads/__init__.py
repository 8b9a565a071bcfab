"""Reading what a visitor sends: uploaded photo files and the drawing canvas's PNG, safely.

Nothing a visitor sends can take the server down: files are refused from cheap checks where possible and
otherwise decoded in worker processes under a hard budget of CPU time and memory. One module per job, each
importing only the ones listed before it (and ``models.preprocessing.photo``):

- ``limits``: InvalidImageError, the messages a visitor reads, the size limits and the decoding ``Budget``;
- ``structure``: cheap structural checks on image bytes before any decoder sees them;
- ``worker``: what runs in a decoding worker process (its set-up, one decode under the budget);
- ``pool``: the workers, from the server's side (``run_bounded``, ``default_pool``);
- ``photo_file``: uploaded bytes -> a uint8 RGB photo (``load_photo``, ``decode_photo``, ``check_upload``);
- ``canvas``: the canvas's PNG bytes -> uint8 RGBA pixels (``read_canvas``).

The names below are imported on first use (PEP 562), not with the package: a worker process imports
``uploads.worker`` to set itself up (one thread for NumPy's libraries), and must do so before NumPy loads.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "limits": (
        "ALLOWED_FORMATS", "MAX_PIXELS", "MAX_SIDE", "MAX_UPLOAD_BYTES", "UPLOAD_EXTENSIONS", "Budget",
        "InvalidImageError", "decode_budget",
    ),
    "pool": ("DecoderPool", "default_pool", "reset_default_pool", "run_bounded"),
    "photo_file": ("check_upload", "decode_photo", "load_photo"),
    "canvas": ("CANVAS_SIDE", "check_canvas_png", "read_canvas"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'uploads' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"uploads.{_MODULE_OF[name]}"), name)
    globals()[name] = value  # the next look-up does not come here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
