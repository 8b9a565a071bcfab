"""Page 2, "Cat or dog?": a photo goes in; out come the prediction, a Grad-CAM heat map and the feature maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from app.logic.charts import class_probability_chart
from app.logic.checkpoints import PET_MODEL
from app.logic.digits import confidence_text
from app.logic.pets import MAX_MAPS_SHOWN, analyse_photo
from app.logic.tables import accuracy_of
from app.shared import pet_model, photo_or_error, saved_report, shown, uploaded_photo
from models.classifiers import Classifier
from models.samples import pet_examples

SOURCES = ("Pick an example", "Upload a photo")


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


def _intro(clf: Classifier | None) -> str:
    """The page's one-line introduction, with the training-set size read from the checkpoint (when it says)."""
    images = (clf.describe().get("training") or {}).get("train_images") if clf is not None else None
    if isinstance(images, int) and images > 0:
        return f"A convolutional network trained on {images:,} photos of cats and dogs looks at yours."
    return "A convolutional network trained on photos of cats and dogs looks at yours."


def render() -> None:
    """The page: choose a photo, then prediction and Grad-CAM side by side, then feature maps per block."""
    st.title("Cat or dog?")
    clf = pet_model()
    st.caption(_intro(clf))
    if clf is None:
        return
    photo = _photo()
    if photo is None:
        return
    with st.spinner("Looking at the photo…"):
        result = analyse_photo(clf, photo)
    top_left, top_right = st.columns([1, 2], gap="large", vertical_alignment="center")
    if result.is_known:
        top_left.metric(clf.name, result.label, delta=confidence_text(result.confidence), delta_color="off",
                        delta_arrow="off", border=True)
    else:
        top_left.metric(clf.name, "Neither?", delta="not a cat or a dog", delta_color="off", delta_arrow="off",
                        border=True, help=f"Its 'neither' score is {result.unknown_score:.1f}, over its threshold "
                        f"of {result.unknown_threshold:.1f}. Its best guess would be “{result.label}”.")
        top_left.warning("Neither a cat nor a dog? This photo doesn't look like either to the network.",
                         icon=":material/help:")
        top_left.caption("Besides “cat” and “dog”, the network has a third output, “neither”, trained on "
                         "photos of other kinds of things (planes, pianos, pizzas…). Its score is how much more "
                         "the network believes “neither” than cat or dog (log-odds); over the threshold it says "
                         "so instead of guessing. The threshold is set so that about 1 real cat or dog photo in "
                         "100 is refused.")
    with top_right:
        st.altair_chart(class_probability_chart(result.class_names, result.probabilities), key="pet_probabilities")
        accuracy, split = saved_report(PET_MODEL, clf).accuracy or accuracy_of(clf.describe())
        acc_text = f" The network is right on {accuracy:.1%} of its {split} photos." if accuracy is not None else ""
        st.caption(f"How sure the network is of each answer; the bars add up to 100%.{acc_text}")
    left, right = st.columns(2, gap="large")
    left.image(shown(photo), caption="Your photo", width="stretch")
    with right:
        st.image(shown(result.overlay), caption=f"Grad-CAM: where the network looked to decide “{result.label}”",
                 width="stretch")
        st.caption(
            "Grad-CAM colours the parts of the photo that pushed the network towards its answer: red and yellow "
            "regions mattered most, untinted ones hardly at all."
        )
    st.caption(f"Server time for prediction, Grad-CAM and feature maps: {result.milliseconds:.0f} ms")
    st.subheader("Feature maps, block by block")
    st.caption(
        "Each tile is one filter's response over the photo (dark = silent, yellow = the layer's strongest). Early "
        f"blocks react to edges and colours; later, smaller ones to parts like ears or fur. Up to {MAX_MAPS_SHOWN} "
        "maps per block are shown."
    )
    for start in range(0, len(result.grids), 2):  # two per row: readable on a laptop, stacked on a phone
        for column, grid in zip(st.columns(2), result.grids[start : start + 2]):
            column.image(grid.image, caption=f"{grid.label} · yellow = {grid.vmax:.2f}", width="stretch")
