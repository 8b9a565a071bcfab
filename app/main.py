"""Entry point: ``streamlit run app/main.py`` serves the app as an ``st.App``.

Before the server accepts its first visitor it imports every page, loads and warms up every model and
freezes what it loaded out of the garbage collector's way (app/server_start.py); every visitor's session
then runs app/navigation.py, the five pages.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

# `streamlit run app/main.py` imports this file as the module `main`, with app/ on sys.path; the packages
# (app, models, training) live one level up.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@asynccontextmanager
async def _lifespan(_app: st.App) -> AsyncIterator[None]:
    from app.server_start import prepare_server

    prepare_server()  # blocking on purpose: the server listens only once the models are ready
    yield


streamlit_app = st.App(Path(__file__).resolve().parent / "navigation.py", lifespan=_lifespan)
