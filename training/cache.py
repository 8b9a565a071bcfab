"""Arrays that are slow to make (decoded photos, drawings re-drawn as canvas strokes) made once and kept.

Each array is a .npy file under ``$PLAYGROUND_CACHE_DIR`` (default ``.cache/``, git-ignored), named by what
it holds and a hash of everything it depends on; later runs read it (memory-mapped) instead of remaking it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np


def cache_dir() -> Path:
    return Path(os.environ.get("PLAYGROUND_CACHE_DIR", ".cache"))


def cached(name: str, key: Any, make: Callable[[], np.ndarray]) -> np.ndarray:
    """The array ``make()`` returns, stored as ``<cache>/<name>-<hash of key>.npy`` the first time."""
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    path = cache_dir() / f"{name}-{digest}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r", allow_pickle=False)
    array = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array, allow_pickle=False)
    os.replace(tmp, path)  # atomic: a run cut short never leaves half a cache file
    return array


def parallel_map(fn: Callable[..., np.ndarray], *iterables: Any, chunksize: int = 64) -> list[np.ndarray]:
    """``list(map(fn, *iterables))`` on every core this process may use (fn must be a top-level function)."""
    with ProcessPoolExecutor(min(len(os.sched_getaffinity(0)), 8)) as pool:
        return list(pool.map(fn, *iterables, chunksize=chunksize))
