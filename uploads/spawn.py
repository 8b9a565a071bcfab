"""Spawning worker processes that do not run the parent's ``__main__`` again.

multiprocessing's "spawn" imports the parent's main module in every child before anything else. While
Streamlit runs a page, ``__main__`` is that page's script, so each decoding worker would import the whole
app (Streamlit, torch, the models) and run the page. The context here starts children told of no main module.
Only the standard library is imported here: a child unpickles this module's Process class before its
initializer sets the one-thread environment, so NumPy must not load with it.
"""

from __future__ import annotations

import sys
import threading
import types
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

_MAIN_LOCK = threading.Lock()


class _SpawnWithoutMainProcess(SpawnProcess):
    """A spawned process told of no ``__main__`` module: multiprocessing would import the parent's main script
    in the child first (for Streamlit, the page being run: the whole app, torch included). A daemon, so that a
    process that exits (a forked data loader, say) ends its decoding workers instead of waiting for them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.daemon = True

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        stub = types.ModuleType("__main__")  # no __file__, no __spec__: nothing for the child to import
        with _MAIN_LOCK:
            main, sys.modules["__main__"] = sys.modules.get("__main__"), stub
            try:
                return SpawnProcess._Popen(process_obj)
            finally:
                if sys.modules.get("__main__") is stub:  # a script run may have set its own meanwhile
                    sys.modules["__main__"] = main


class _SpawnWithoutMain(SpawnContext):
    Process = _SpawnWithoutMainProcess


SPAWN_WITHOUT_MAIN = _SpawnWithoutMain()
