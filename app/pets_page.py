"""Page 2, "Cat or dog?": a photo goes in; every photo model answers side by side (the Pet MLP, the Small Pet
CNN and the Pet CNN), with what each one sees, where it looked and its layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app.logic.charts import class_probability_chart
from app.logic.digits import confidence_text
from app.logic.images import enlarge
from app.logic.pets import MAX_MAPS_SHOWN, PhotoAnswer, PhotoResult, analyse_photo
from app.shared import pet_models, photo_or_error, saved_report, shown, uploaded_photo
from models.classifiers import Classifier
from models.registry import ModelInfo
from models.samples import pet_examples

SOURCES = ("Pick an example", "Upload a photo")
SEEN_SIDE = 160  # every model's input is shown this big, pixels enlarged, so 32 x 32 looks as coarse as it is


def _example_name(path: Path) -> str:
    kind, number = path.name.split(".")[:2]
    return f"{kind.capitalize()} #{number}"


def _photo() -> np.ndarray | None:
    """The chosen photo as uint8 RGB, or None (with a message) when there is none or it cannot be read."""
    source = st.radio("Photo", SOURCES, horizontal=True, key="pet_source", label_visibility="collapsed")
    if source == SOURCES[0]:
        examples = [path for path, _ in pet_examples()]
        path = st.selectbox("Example photo", examples, format_func=_example_name, key="pet_example")
        return photo_or_error(path.read_bytes())
    return uploaded_photo(
        "A photo of a cat or a dog",
        key="pet_upload",
        help="JPEG, PNG, WebP, BMP or GIF (its first frame), up to 20 MB.",
        prompt="Upload a photo of a cat or a dog, or pick one of the examples.",
        icon=":material/photo_camera:",
    )


def _intro(models: dict[ModelInfo, Classifier]) -> str:
    """The page's introduction, with the training-set size read from a checkpoint (when one says)."""
    sizes = [(clf.describe().get("training") or {}).get("train_images") for clf in models.values()]
    count = next((f"{n:,} " for n in sizes if isinstance(n, int) and n > 0), "")
    return (f"{len(models)} networks trained on the same {count}photos of cats and dogs look at yours: an MLP that "
            "reads the photo as one long list of numbers, a small textbook CNN and a deep CNN.")


def _card(column: DeltaGenerator, answer: PhotoAnswer) -> None:
    if answer.is_known:
        column.metric(answer.name, answer.label, delta=confidence_text(answer.confidence), delta_color="off",
                      delta_arrow="off", border=True)
    else:
        column.metric(answer.name, "Neither?", delta="not a cat or a dog", delta_color="off", delta_arrow="off",
                      border=True, help=f"Its 'neither' score is {answer.unknown_score:.1f}, over its threshold of "
                      f"{answer.unknown_threshold:.1f}. Its best guess would be “{answer.label}”.")


def _answers(models: dict[ModelInfo, Classifier], result: PhotoResult) -> None:
    for column, answer in zip(st.columns(len(result.answers)), result.answers):
        _card(column, answer)
    if result.agree and result.answers[0].is_known:
        st.success(result.verdict(), icon=":material/check_circle:")
    else:
        st.warning(result.verdict(), icon=":material/help:")
    if any(not a.is_known for a in result.answers):
        st.caption("Besides “cat” and “dog”, each network has a third output, “neither”, trained on photos of "
                   "other kinds of things (planes, pianos, pizzas…). Its score is how much more the network "
                   "believes “neither” than cat or dog (log-odds); over the network's threshold it says so instead "
                   "of guessing. Each threshold is set so that about 1 real cat or dog photo in 100 is refused.")
    st.altair_chart(class_probability_chart(result.answers[0].class_names,
                                            {a.name: a.probabilities for a in result.answers}),
                    key="pet_probabilities")
    scores = []
    for spec, clf in models.items():
        accuracy, split = saved_report(spec, clf).accuracy or (None, "")
        if accuracy is not None:
            scores.append(f"{clf.name} {accuracy:.1%}")
    right = f" Right on the {split} photos: {', '.join(scores)}." if scores else ""
    st.caption(f"How sure each network is of cat and of dog; each model's two bars add up to 100%.{right}")
    st.caption(f"Server time for all {len(result.answers)} models (answers, where they looked, layers): "
               f"{result.milliseconds:.0f} ms", help="Measured on this server for this photo.")


def _what_each_sees(result: PhotoResult) -> None:
    st.subheader("What each model sees")
    for column, answer in zip(st.columns(len(result.answers)), result.answers):
        side = answer.seen.shape[0]
        column.image(enlarge(answer.seen, SEEN_SIDE), caption=f"{answer.name}: {side} × {side} pixels",
                     width=SEEN_SIDE)
    st.caption("Each network gets the photo stretched to its own square: 32 × 32 for the MLP (3,072 numbers, read as "
               "one long list: it does not know which pixels are neighbours), 64 × 64 for the small CNN, 128 × 128 "
               "for the deep one. Fewer pixels are cheaper, but fine details such as whiskers are lost.")


def _inside(result: PhotoResult) -> None:
    st.subheader("Inside each network")
    for tab, answer in zip(st.tabs([a.name for a in result.answers]), result.answers):
        with tab:
            left, right = st.columns(2, gap="large")
            left.image(shown(result.view), caption="Your photo", width="stretch")
            right.image(shown(answer.overlay), width="stretch",
                        caption=f"{answer.method}: where the {answer.name} looked to decide “{answer.label}”")
            if answer.method == "Grad-CAM":
                st.caption("Grad-CAM colours the parts of the photo that pushed the network towards its answer, "
                           "from the last block's feature maps: red and yellow regions mattered most, untinted ones "
                           "hardly at all.")
            else:
                st.caption("Saliency: how much a small change of each pixel would change the MLP's belief in its "
                           "answer (the gradient, largest over the three colours). An MLP has no feature maps, so "
                           "its evidence is scattered pixels rather than regions.")
            for start in range(0, len(answer.grids), 2):  # two per row: readable on a laptop, stacked on a phone
                for column, grid in zip(st.columns(2), answer.grids[start : start + 2]):
                    column.image(grid.image, caption=f"{grid.label} · yellow = {grid.vmax:.2f}", width="stretch")
            if answer.method == "Grad-CAM":
                st.caption("Each tile is one filter's response over the photo (dark = silent, yellow = the layer's "
                           "strongest). Early blocks react to edges and colours; later, smaller ones to parts like "
                           f"ears or fur. Up to {MAX_MAPS_SHOWN} maps per block are shown.")
            else:
                st.caption("Each pixel is one hidden unit of the MLP (dark = silent, yellow = the layer's strongest), "
                           "laid out in a grid to fit the screen: its place in the grid means nothing.")


def render() -> None:
    """The page: choose a photo; the answers beside it; then what each model sees, where it looked, its layers."""
    st.title("Cat or dog?")
    models = pet_models()
    if not models:
        return
    st.caption(_intro(models))
    left, right = st.columns([1, 2], gap="large")
    with left:
        photo = _photo()
        if photo is not None:
            st.image(shown(photo), caption="Your photo", width="stretch")
    if photo is None:
        return
    with st.spinner("Looking at the photo…"):
        result = analyse_photo({spec.key: clf for spec, clf in models.items()}, photo)
    with right:
        _answers(models, result)
    _what_each_sees(result)
    _inside(result)
