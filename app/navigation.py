"""The script every visitor's session runs (app/main.py serves it): five pages over one set of models loaded
once per server."""

from __future__ import annotations

import sys
from pathlib import Path

# The server puts app/ on sys.path; the packages (app, models, training) live one level up.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import compare_page, draw_page, feedback_page, pets_page, train_page  # noqa: E402
from models.runtime import configure_torch_threads  # noqa: E402


def main() -> None:
    # Every script run is a thread of its own and torch's thread count is per thread: set it on each run.
    configure_torch_threads()
    st.set_page_config(page_title="Neural network playground", page_icon=":material/neurology:", layout="wide")
    pages = [
        st.Page(draw_page.render, title="Draw a digit", icon=":material/draw:", default=True),
        st.Page(pets_page.render, title="Cat or dog?", icon=":material/pets:", url_path="pets"),
        st.Page(compare_page.render, title="Compare the models", icon=":material/leaderboard:", url_path="compare"),
        st.Page(train_page.render, title="Train your own", icon=":material/model_training:", url_path="train"),
        st.Page(feedback_page.render, title="Visitors' drawings", icon=":material/photo_library:", url_path="gallery"),
    ]
    st.navigation(pages).run()


main()
