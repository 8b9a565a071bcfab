"""The compare page's pictures behind the numbers: the bundled test digits scored live (mistakes and
disagreements), and the test photos each photo model gets wrong (listed by its saved evaluation, read from the
data folder). Part of the compare page (app/compare_page.py); it imports no page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from app.logic import galleries, reports
from app.logic.images import grey_to_rgb
from models.classifiers import Classifier
from models.datasets import DATA_ENV, resolve_data_dir
from models.registry import ModelInfo
from models.samples import load_digit_sample

MAX_SHOWN = 16  # sample pictures per gallery: enough to see patterns, few enough for a phone


@st.cache_data(show_spinner="Scoring the 500 sample digits…")
def _sample_predictions(_models: dict[str, Classifier], stamp: str) -> dict[str, np.ndarray]:
    images, _, _ = load_digit_sample()
    return galleries.sample_predictions(_models, images)


def _gallery(images: np.ndarray, indices: np.ndarray, captions: list[str]) -> None:
    if len(indices) == 0:
        st.write("None: every answer is right.")
        return
    shown = indices[:MAX_SHOWN]
    st.image([grey_to_rgb(images[i], 84) for i in shown], caption=captions[: len(shown)], width=84)
    if len(indices) > MAX_SHOWN:
        st.caption(f"…and {len(indices) - MAX_SHOWN} more.")


def digit_galleries(models: dict[str, Classifier], stamp: str) -> None:
    """Live, on the 500 bundled digits: not a second set of confusion matrices (the full test set says that
    better) but the pictures behind the numbers, which only a set we hold in memory can show."""
    images, labels, _ = load_digit_sample()
    predictions = _sample_predictions(models, stamp)
    sample_reports = galleries.sample_reports(predictions, labels)
    st.header("On 500 real test digits")
    scores = ", ".join(f"{name} {round(r['accuracy'] * r['n'])}" for name, r in sample_reports.items())
    st.caption(f"The 500 handwritten digits bundled with the app (50 of each), which no model saw in training, "
               f"scored live on this server. Right out of 500: {scores}.")
    st.subheader("Digits the models get wrong")
    wrong = galleries.mistakes(predictions, labels)
    for tab, (name, indices) in zip(st.tabs(list(wrong)), wrong.items()):
        with tab:
            _gallery(images, indices, [galleries.mistake_caption(i, predictions, labels, name) for i in indices])
    st.caption("Real test digits this model misreads, with the true digit and the model's answer.")
    st.subheader("Digits the models disagree on")
    split = galleries.disagreements(predictions)
    _gallery(images, split, [galleries.mistake_caption(i, predictions, labels) for i in split])
    st.caption(f"Where the networks do not all give the same answer. Under each picture: the true digit, then the "
               f"answers of the {' / '.join(predictions)}. Often sloppy or unusual handwriting.")


@st.cache_data(max_entries=256, show_spinner=False)
def _thumbnail(path: str) -> np.ndarray | None:
    return galleries.photo_thumbnail(path)


def _photo_gallery(folder: Path, files: list[str], captions: list[str]) -> None:
    if not files:
        st.write("None.")
        return
    pictures = [(_thumbnail(str(folder / f)), c) for f, c in zip(files[:MAX_SHOWN], captions)]
    st.image([p for p, _ in pictures if p is not None], caption=[c for p, c in pictures if p is not None], width=112)
    if len(files) > MAX_SHOWN:
        st.caption(f"…and {len(files) - MAX_SHOWN} more.")


def photo_galleries(loaded: dict[ModelInfo, Classifier], saved: dict[ModelInfo, reports.EvalReport]) -> None:
    """The test photos each model gets wrong, most confident mistakes first, and those every model gets wrong."""
    mistakes = {loaded[spec].name: r.data["mistakes"] for spec, r in saved.items() if r.ok and "mistakes" in r.data}
    if not mistakes:
        return
    st.header("Photos the models get wrong")
    folder = resolve_data_dir() / "cats_vs_dogs" / "test"
    if not folder.is_dir():
        st.info(f"The test photos are not on this server (looked in {folder}); point ${DATA_ENV} at the folder "
                "that holds cats_vs_dogs/ to see them.", icon=":material/info:")
        return
    counts = ", ".join(f"{name} {len(wrong)}" for name, wrong in mistakes.items())
    st.caption(f"From the 1,748 test photos, the mistakes each network makes most confidently. Wrong: {counts}.")
    for tab, wrong in zip(st.tabs(list(mistakes)), mistakes.values()):
        with tab:
            _photo_gallery(folder, [m["file"] for m in wrong],
                           [f"a {m['label']}, read as {m['answer']} ({m['confidence']:.0%})" for m in wrong])
    every = galleries.wrong_for_every_model(mistakes)
    st.subheader(f"Photos every model gets wrong ({len(every)})")
    _photo_gallery(folder, every, [f.split("/")[0] for f in every])
    st.caption("Under each photo: its label in the data set. Look at what these photos have in common: the "
               "animal small, hidden or partly cut off, several animals, or a label that is itself wrong.")
