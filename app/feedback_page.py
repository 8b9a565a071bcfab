"""Page "Visitors' drawings" (url ``gallery``): the drawings visitors chose to keep with their label, paged and
filtered, each model's accuracy on them beside its MNIST figure, and deleting a drawing behind the admin password.

The store is opened in app/shared.py (the draw page saves into it too); plain helpers are in
app/logic/feedback_view.py, storage in feedback/.
"""

from __future__ import annotations

import math
import os
from typing import Any

import streamlit as st

from app.logic.checkpoints import DIGIT_MODELS
from app.logic.feedback_view import (
    LABELS,
    accuracy_frame,
    drawing_caption,
    label_name,
    password_matches,
)
from app.logic.images import grey_to_rgb
from app.shared import available_models, feedback_store, saved_report
from feedback import FeedbackError, FeedbackStore

PER_PAGE = 24
COLUMNS = 6
PASSWORD_ENV = "PLAYGROUND_ADMIN_PASSWORD"


def admin_password() -> str | None:
    """``st.secrets["admin_password"]``, else $PLAYGROUND_ADMIN_PASSWORD, else None (the page is read-only)."""
    try:
        configured = st.secrets.get("admin_password")
    except FileNotFoundError:  # no secrets.toml at all
        configured = None
    return configured or os.environ.get(PASSWORD_ENV) or None


def _delete(store: FeedbackStore, drawing_id: int) -> None:
    """Delete button callback (before the page is drawn, so the drawing is already gone from it)."""
    try:
        found = store.delete(drawing_id)
        st.session_state["gallery_notice"] = f"Deleted drawing #{drawing_id}." if found else (
            f"Drawing #{drawing_id} was already deleted.")
    except FeedbackError as e:
        st.session_state["gallery_notice"] = f"Could not delete drawing #{drawing_id}: {e}"


def _accuracy(stats: dict[str, Any]) -> dict[str, str]:
    """The accuracy table; returns model key -> display name."""
    models = available_models(DIGIT_MODELS)
    names = {spec.key: clf.name for spec, clf in models.items()}
    mnist = {}
    for spec, clf in models.items():
        figure = saved_report(spec, clf).accuracy
        if figure is not None:
            mnist[spec.key] = f"{figure[0]:.1%} ({figure[1]})"
    st.dataframe(accuracy_frame(stats["models"], names, mnist), hide_index=True, key="gallery_accuracy")
    st.caption("How often each model gave the visitor's label, over every drawing it answered (answers by older "
               "versions of a model included), beside its accuracy on MNIST's 10,000 test digits. Visitors draw "
               "with a mouse or a finger, not a pen on paper, and some of their drawings are not digits at all.")
    return names


def _moderation() -> bool:
    """The admin password box; True when the right password was typed."""
    expected = admin_password()
    if expected is None:
        st.caption(f"Read-only: no admin password is configured (`admin_password` in `.streamlit/secrets.toml` or "
                   f"${PASSWORD_ENV}), so drawings cannot be deleted here.")
        return False
    given = st.text_input("Admin password", type="password", key="gallery_password",
                          help="To delete drawings (moderation).")
    if given and not password_matches(given, expected):
        st.error("Wrong password.", icon=":material/lock:")
    return password_matches(given, expected)


def render() -> None:
    st.title("Visitors' drawings")
    st.caption("Drawings that visitors chose to keep on the draw page, with the label they gave and every model's "
               "answer.")
    store = feedback_store()
    try:
        stats = store.stats()
    except FeedbackError as e:
        st.warning(f"The drawings cannot be shown: {e}", icon=":material/cloud_off:")
        return
    if stats["total"] == 0:
        st.info("No drawings yet. Draw a digit on the “Draw a digit” page, tick “Keep this drawing” under the "
                "answers and say what it is: it will appear here.", icon=":material/photo_library:")
        return
    names = _accuracy(stats)
    admin = _moderation()
    if notice := st.session_state.pop("gallery_notice", None):
        st.info(notice)

    a, b, c, d = st.columns(4, vertical_alignment="bottom")
    label = a.selectbox("Label", [None, *LABELS], format_func=lambda v: "any" if v is None else label_name(v),
                        key="gallery_label")
    disagreed = b.checkbox("The models disagreed", key="gallery_disagreed") or None  # off: either way
    all_wrong = c.checkbox("Every model was wrong", key="gallery_all_wrong") or None
    try:
        total = store.count(label, disagreed, all_wrong)
        pages = max(1, math.ceil(total / PER_PAGE))
        # A filter or a deletion can leave fewer pages than the one shown: go to the last one.
        st.session_state["gallery_page"] = min(st.session_state.get("gallery_page", 1), pages)
        page = d.number_input(f"Page (of {pages})", 1, pages, key="gallery_page")
        drawings = store.list((page - 1) * PER_PAGE, PER_PAGE, label, disagreed, all_wrong)
    except FeedbackError as e:
        st.warning(f"The drawings cannot be shown: {e}", icon=":material/cloud_off:")
        return
    if not drawings:
        st.info("No drawing matches these filters.")
        return
    st.caption(f"{total} drawing{'s match' if total != 1 else ' matches'}, newest first. Under each: its number, the "
               f"visitor's label and each model's answer (? = not a digit).")
    for start in range(0, len(drawings), COLUMNS):  # row by row, so the pictures line up
        for cell, drawing in zip(st.columns(COLUMNS), drawings[start : start + COLUMNS]):
            cell.image(grey_to_rgb(drawing.digit, 112), caption=drawing_caption(drawing, names))
            if admin:
                cell.button("Delete", key=f"gallery_delete_{drawing.id}", on_click=_delete,
                            args=(store, drawing.id), icon=":material/delete:")
