""""Was this right?" under the draw page's answers to a drawing (not a page of its own): the visitor may keep the
drawing with its label in the feedback store (opt-in), and sees what became of it.
"""

from __future__ import annotations

import secrets

import streamlit as st

from app.logic.digits import DigitResult
from app.logic.feedback_view import (
    KEPT,
    LABELS,
    answers_for,
    fingerprint,
    label_name,
    models_answer,
    strokes_from_canvas,
)
from app.shared import feedback_store, saving_problem
from feedback import FeedbackError, RateLimitedError, StoreUnavailableError
from models.classifiers import Classifier


def _save_feedback(models: dict[str, Classifier], result: DigitResult, label: int | None) -> None:
    """Button callback: keep the drawing with ``label`` (None: the one picked under "No, it's"). It runs before
    the fragment is drawn again, which then shows the outcome (``feedback_outcome``) in place of the buttons."""
    label = st.session_state.get("feedback_label") if label is None else label
    if not st.session_state.get("feedback_keep") or label is None:  # saving is opt-in, whatever the browser sent
        return
    # The store keeps only a salted hash of this id: enough to limit how fast one visitor saves, naming nobody.
    client = st.session_state.setdefault("feedback_client", secrets.token_urlsafe(16))
    try:
        scene, side, pen_width = st.session_state["drawing_canvas"]  # what the canvas sent, read only now
        strokes = strokes_from_canvas(scene, side, side, pen_width)
        drawing_id = feedback_store().add(result.digit, strokes, label, answers_for(models, result), client)
    except RateLimitedError as e:
        outcome = ("warning", f"Not saved: {e}.")
    except StoreUnavailableError as e:
        outcome = ("warning", f"Saving drawings is off: {e}. The predictions work as usual.")
    except FeedbackError as e:  # what the browser sent did not pass the store's checks
        outcome = ("error", f"Not saved: {e}.")
    else:
        outcome = ("success", f"Saved as drawing #{drawing_id}, labelled {label_name(label)}. Thank you!")
    st.session_state["feedback_outcome"] = (fingerprint(result.digit), *outcome)


def feedback_form(models: dict[str, Classifier], result: DigitResult, bent: bool) -> None:
    """"Was this right?" under the answers of a drawing. Not a fragment of its own: a fragment costs every stroke
    ~1 ms of Streamlit's bookkeeping, and the visitor answers far less often than they draw (an answer reruns
    the digit's fragment, whose answers stay the same)."""
    st.markdown("**Was this right?**")
    if bent:
        st.caption("Reset “Bend the digit” to say what you drew: only drawings as drawn are kept.")
        return
    keep = st.checkbox("Keep this drawing with my answer, to check and improve the models", key="feedback_keep",
                       help=KEPT)
    # The database is touched only once the visitor opts in: nobody else waits for it, or learns it is down.
    problem = saving_problem() if keep else None
    if problem:
        st.warning(f"Saving drawings is off: {problem}. The predictions work as usual.", icon=":material/cloud_off:")
        return
    drawn, *outcome = st.session_state.get("feedback_outcome", (None,))
    if drawn == fingerprint(result.digit):
        kind, message = outcome
        getattr(st, kind)(message)
        if kind == "success":  # one drawing is kept once; a new stroke makes a new drawing
            return
    guess = models_answer(result)
    row = st.container(horizontal=True, vertical_alignment="bottom")  # one block: fewer messages per stroke
    row.button(f"Yes, it's {label_name(guess)}", key="feedback_yes", disabled=not keep, on_click=_save_feedback,
               args=(models, result, guess), icon=":material/thumb_up:")
    picked = row.selectbox("No, it's", LABELS, index=None, format_func=label_name, placeholder="No, it's…",
                           key="feedback_label", disabled=not keep, label_visibility="collapsed")
    row.button("Save", key="feedback_save", disabled=not keep or picked is None, on_click=_save_feedback,
               args=(models, result, None))
    st.caption(KEPT if keep else "Nothing is kept unless you tick the box.")
