"""Page 1, "Draw a digit": draw (or pick, or upload) a digit and watch three networks read it side by side."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.logic.activations import activation_grids
from app.logic.charts import probability_chart
from app.logic.digits import (
    DigitResult,
    confidence_text,
    crop_box_image,
    predict_digit,
    predict_drawing,
    predict_photo_digit,
    scaled_step_image,
)
from app.logic.images import grey_to_rgb
from app.shared import digit_models, uploaded_photo
from models.classifiers import Classifier
from models.samples import load_digit_sample

CANVAS_SIDE = 280  # 10 x MNIST's 28 px: the drawing is shrunk to 20 px inside 28 x 28, as MNIST was made
SOURCES = ("Draw", "Pick a real MNIST digit", "Upload a picture")


@st.cache_data(show_spinner=False)
def _sample() -> tuple[np.ndarray, np.ndarray]:
    images, labels, _ = load_digit_sample()  # uint8 (500, 28, 28), int (500,)
    return images, labels


def _clear_canvas() -> None:
    # A new key mounts a fresh, empty canvas component; the old drawing is dropped with the old key.
    st.session_state["canvas_generation"] += 1


def _draw_input(models: dict[str, Classifier]) -> DigitResult | None:
    import streamlit_drawable_canvas  # via the module attribute, so tests can substitute st_canvas

    if "canvas_generation" not in st.session_state:
        st.session_state["canvas_generation"] = 0
    width = st.slider("Pen width", 8, 40, 20, step=2, key="stroke_width",
                      help="About 20 px makes strokes as thick as MNIST's after shrinking to 28 × 28.")
    canvas = streamlit_drawable_canvas.st_canvas(
        stroke_width=width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        width=CANVAS_SIDE,
        height=CANVAS_SIDE,
        drawing_mode="freedraw",
        return_image_data=True,
        update_streamlit=True,
        key=f"canvas_{st.session_state['canvas_generation']}",
    )
    st.button("Clear the canvas", on_click=_clear_canvas, key="clear_canvas", icon=":material/ink_eraser:")
    st.caption("Draw one digit, big, in the middle. The arrows under the canvas undo and redo strokes.")
    return predict_drawing(models, canvas.image_data)


def _sample_input(models: dict[str, Classifier]) -> DigitResult:
    images, labels = _sample()
    if "sample_index" not in st.session_state:
        st.session_state["sample_index"] = 0

    def pick_random() -> None:
        st.session_state["sample_index"] = int(np.random.default_rng().integers(len(images)))

    index = st.number_input("Sample number (0-499)", 0, len(images) - 1, key="sample_index", step=1)
    st.button("Random digit", on_click=pick_random, key="random_sample", icon=":material/casino:")
    st.caption(f"A real handwritten digit from the MNIST test set, which no model saw in training: a {labels[index]}.")
    return predict_digit(models, images[int(index)])


def _upload_input(models: dict[str, Classifier]) -> DigitResult | None:
    rgb = uploaded_photo(
        "A photo or scan of one handwritten digit",
        key="digit_upload",
        help="Dark ink on light paper is inverted automatically to MNIST's white on black.",
        prompt="Upload a picture of a single handwritten digit, e.g. a phone photo of a digit on paper.",
    )
    if rgb is None:
        return None
    result = predict_photo_digit(models, rgb)
    if result is None:
        st.warning("No ink found in this picture: it looks blank. Try a darker pen or a closer photo.")
    return result


def _show_predictions(result: DigitResult) -> None:
    for column, p in zip(st.columns(len(result.predictions)), result.predictions):
        column.metric(p.name, str(p.digit), delta=confidence_text(p.confidence), delta_color="off", delta_arrow="off",
                      border=True)
    if result.agree:
        st.success(result.verdict(), icon=":material/check_circle:")
    else:
        st.warning(result.verdict(), icon=":material/help:")
    st.altair_chart(probability_chart({p.name: p.probabilities for p in result.predictions}), key="probabilities")
    st.caption(
        "Each model's probability for every digit, side by side. A tall bar means the model is sure; bars spread "
        "over several digits mean it hesitates."
    )
    st.caption(f"Server time for preprocessing and all {len(result.predictions)} models: "
               f"{result.milliseconds:.1f} ms", help="Measured on this server for this input.")


def _show_what_model_sees(result: DigitResult) -> None:
    st.subheader("What the models see")
    steps = result.steps
    if steps is None:  # a sample or an upload: only the final input
        st.image(grey_to_rgb(result.digit), caption="28 × 28 input", width=140)
        st.caption("Every model gets the same 28 × 28 grey picture, white ink on black, like MNIST's digits.")
        return
    cols = st.columns(3)
    cols[0].image(crop_box_image(steps), caption="1 · your drawing, ink box in orange", width=140)
    cols[1].image(scaled_step_image(steps), caption=f"2 · cut to the ink, longer side 20 px "
                  f"({steps.scaled.shape[1]} × {steps.scaled.shape[0]})", width=140)
    cols[2].image(grey_to_rgb(steps.digit), caption="3 · centred by its centre of mass in 28 × 28", width=140)
    st.caption(
        "The drawing is shrunk exactly the way MNIST's digits were made: cut to the ink, scaled so the longer side "
        "is 20 pixels, then placed so its centre of mass sits in the middle of a 28 × 28 square."
    )


def _show_activations(result: DigitResult) -> None:
    st.subheader("Inside the networks")
    st.caption(
        "Each small square is one unit (MLPs) or each tile one feature map (CNN), coloured by how strongly it "
        "fires: dark = silent, yellow = the strongest value in that layer. Every layer has its own scale."
    )
    for tab, p in zip(st.tabs([p.name for p in result.predictions]), result.predictions):
        with tab:
            grids = activation_grids(p.activations)
            for column, grid in zip(st.columns(len(grids)), grids):
                column.image(grid.image, caption=f"{grid.label} · yellow = {grid.vmax:.2f}")
            if p.activations and next(iter(p.activations.values())).ndim == 2:
                st.caption("A hidden layer of an MLP: each pixel is one unit, laid out in a grid to fit the screen; "
                           "its place in the grid means nothing.")
            else:
                st.caption("CNN blocks: each tile is what one filter found across the image, e.g. strokes or edges. "
                           "Later blocks are smaller and more abstract.")


def render() -> None:
    """The page: input on the left, the models' answers on the right, then preprocessing and activations."""
    st.title("Draw a digit")
    st.caption("Three neural networks trained on 55,000 handwritten MNIST digits read your drawing at the same time.")
    models = digit_models()
    if not models:
        st.stop()
    left, right = st.columns([2, 3], gap="large")
    with left:
        source = st.radio("Input", SOURCES, horizontal=True, key="digit_source", label_visibility="collapsed")
        if source == SOURCES[0]:
            result = _draw_input(models)
        elif source == SOURCES[1]:
            result = _sample_input(models)
        else:
            result = _upload_input(models)
    with right:
        if result is None:
            if source == SOURCES[0]:
                st.info("Draw a digit from 0 to 9 on the black square: the predictions appear as soon as you lift "
                        "the pen.", icon=":material/gesture:")
                # The empty frame of the chart (no bars) also makes the browser load its chart code now rather
                # than after the first stroke, which takes ~0.3 s off the first prediction.
                empty = {clf.name: np.zeros(10) for clf in models.values()}
                st.altair_chart(probability_chart(empty), key="probabilities")
                st.caption("Each model's probability for every digit will appear here, side by side.")
            return
        _show_predictions(result)
    _show_what_model_sees(result)
    _show_activations(result)
