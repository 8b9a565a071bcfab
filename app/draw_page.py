"""Page 1, "Draw a digit": draw (or pick, or upload) a digit and watch the networks read it side by side. The page
owns the inputs, the answers and the probability chart; the lab under them (bend it, see what the models see and
which pixels each answer rests on, attack it) is app/draw_lab.py, "Was this right?" app/feedback_form.py.

Everything that depends on the digit is one fragment (``_lab``): a stroke or a slider reruns only it. Inside it
the answers are drawn first; "Was this right?" under them (a drawing and its label kept in the feedback store, only
if the visitor ticks the box) and the heavy parts below (saliency and activations, the attack) are fragments of
their own, so their controls rerun only themselves.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from app.draw_lab import attack, bend_controls, bend_settings, show_inside, show_what_model_sees
from app.feedback_form import feedback_form
from app.logic.charts import probability_frame, probability_spec
from app.logic.digits import DigitResult, confidence_text, predict_digit, predict_drawing, predict_photo_digit
from app.logic.images import grey_to_rgb
from app.logic.lab import consensus
from app.shared import digit_models, drawing_or_error, uploaded_photo, your_mlp
from models.classifiers import Classifier
from models.perturb import Bend
from models.samples import load_digit_sample

CANVAS_SIDE = 280  # 10 x MNIST's 28 px: the drawing is shrunk to 20 px inside 28 x 28, as MNIST was made
SOURCES = ("Draw", "Pick a real MNIST digit", "Upload a picture")
CANVAS_REFUSED = "canvas_refused"  # set when the canvas's state could not be read (see _draw_input)
ANSWERS_HEAD_START_S = 0.025  # the answers' lead over the chart below them (see _show_predictions)


@st.cache_data(show_spinner=False)
def _sample() -> tuple[np.ndarray, np.ndarray]:
    images, labels, _ = load_digit_sample()  # uint8 (500, 28, 28), int (500,)
    return images, labels


def _clear_canvas() -> None:
    # A new key mounts a fresh, empty canvas component; the old drawing is dropped with the old key.
    st.session_state["canvas_generation"] += 1


def _draw_input(models: dict[str, Classifier], settings: Bend) -> DigitResult | None:
    import streamlit_drawable_canvas  # via the module attribute, so tests can substitute st_canvas

    if "canvas_generation" not in st.session_state:
        st.session_state["canvas_generation"] = 0
    width = st.slider("Pen width", 8, 40, 20, step=2, key="stroke_width",
                      help="About 20 px makes strokes as thick as MNIST's after shrinking to 28 × 28.")
    if st.session_state.pop(CANVAS_REFUSED, False):
        st.error("The drawing could not be read: what the browser sent is not a drawing. Here is a fresh canvas.",
                 icon=":material/block:")
    try:
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
    except (AttributeError, TypeError, KeyError, ValueError):  # the component's state is not shaped like a drawing
        # Only a broken or hostile client sends that, and the component would fail on it at every rerun: a new key
        # mounts a fresh canvas, and the visitor is told once.
        st.session_state[CANVAS_REFUSED] = True
        _clear_canvas()
        st.rerun()
    st.button("Clear the canvas", on_click=_clear_canvas, key="clear_canvas", icon=":material/ink_eraser:")
    st.caption("Draw one digit, big, in the middle. The arrows under the canvas undo and redo strokes.")
    # Kept for "Was this right?", which reads the strokes from it only when the visitor saves the drawing.
    st.session_state["drawing_canvas"] = (canvas.json_data, CANVAS_SIDE, width)
    return predict_drawing(models, drawing_or_error(canvas, CANVAS_SIDE), settings)


def _sample_input(models: dict[str, Classifier], settings: Bend) -> DigitResult:
    images, labels = _sample()
    if "sample_index" not in st.session_state:
        st.session_state["sample_index"] = 0

    def pick_random() -> None:
        st.session_state["sample_index"] = int(np.random.default_rng().integers(len(images)))

    index = st.number_input("Sample number (0-499)", 0, len(images) - 1, key="sample_index", step=1)
    st.button("Random digit", on_click=pick_random, key="random_sample", icon=":material/casino:")
    st.caption(f"A real handwritten digit from the MNIST test set, which no model saw in training: a {labels[index]}.")
    return predict_digit(models, images[int(index)], settings)


def _upload_input(models: dict[str, Classifier], settings: Bend) -> DigitResult | None:
    rgb = uploaded_photo(
        "A photo or scan of one handwritten digit",
        key="digit_upload",
        help="Dark ink on light paper is inverted automatically to MNIST's white on black.",
        prompt="Upload a picture of a single handwritten digit, e.g. a phone photo of a digit on paper.",
    )
    if rgb is None:
        return None
    result = predict_photo_digit(models, rgb, settings)
    if result is None:
        st.warning("No ink found in this picture: it looks blank. Try a darker pen or a closer photo.")
    return result


def _probability_chart(probabilities: dict[str, np.ndarray]) -> None:
    """Every model's probability for every digit (name -> float (10,)), as grouped bars; all zeros: the frame."""
    st.vega_lite_chart(probability_frame(probabilities), probability_spec(tuple(probabilities)), key="probabilities")


def _show_predictions(result: DigitResult) -> None:
    row = st.container(horizontal=True)  # one block for the answers (columns would be one per answer, and a row)
    for p in result.predictions:
        if p.is_digit:
            row.metric(p.name, str(p.digit), delta=confidence_text(p.confidence), delta_color="off",
                       delta_arrow="off", border=True)
        else:
            row.metric(p.name, "?", delta="not a digit", delta_color="off", delta_arrow="off", border=True,
                       help=f"Its 'not a digit' score is {p.unknown_score:.1f}, over its threshold of "
                       f"{p.unknown_threshold:.1f}. Its best guess would be {p.digit}.")
    if result.refused_by:
        st.warning(result.verdict(), icon=":material/help:")
        st.caption(
            "Besides the ten digits, each network has an eleventh output, “not a digit”, trained on letters, "
            "characters of other alphabets and doodles. Its score is how much more the network believes “not a "
            "digit” than any digit (log-odds). Over the network's threshold, it says so instead of guessing; the "
            "threshold is set so that fewer than 1 real digit in 100 is refused."
        )
    elif result.agree:
        st.success(result.verdict(), icon=":material/check_circle:")
    else:
        st.warning(result.verdict(), icon=":material/help:")
    # Let the answers reach the screen before the chart: Streamlit's server sends queued elements every 10 ms
    # from another thread, which this script's Python work would hold up (the GIL), and the browser draws an
    # answer that arrives together with the chart only once the chart is drawn too.
    time.sleep(ANSWERS_HEAD_START_S)
    _probability_chart({p.name: p.probabilities for p in result.predictions})
    st.caption(
        "Each model's probability for every digit, side by side. A tall bar means the model is sure; bars spread "
        "over several digits mean it hesitates. The probabilities are calibrated: of all the answers given with "
        f"80% confidence, about 80% are right. Server time for preprocessing and all {len(result.predictions)} "
        f"models: {result.milliseconds:.1f} ms.", help="The server time was measured on this server for this input."
    )


@st.fragment
def _lab(models: dict[str, Classifier]) -> None:
    """Everything that depends on the digit: a stroke, a slider or another sample reruns only this.

    The answers are sent to the browser as early as the script allows: every element sent before them is one
    more redraw of the page in the browser (~20 ms each on a 2-core CPU) before they show. So the sliders under
    the canvas are drawn after the answers, into a place kept for them, and read from the session state first.
    """
    left, right = st.columns([2, 3], gap="large")
    with left:
        source = st.radio("Input", SOURCES, horizontal=True, key="digit_source", label_visibility="collapsed")
        inputs = st.container()
        bend_box = st.expander("Bend the digit", icon=":material/transform:", key="bend_open", on_change="rerun")
    settings = bend_settings()
    bent = settings != Bend()
    with inputs:
        result = {SOURCES[0]: _draw_input, SOURCES[1]: _sample_input, SOURCES[2]: _upload_input}[source](
            models, settings)
    with right:
        if result is not None:
            _show_predictions(result)
        elif source == SOURCES[0]:
            st.info("Draw a digit from 0 to 9 on the black square: the predictions appear as soon as you lift "
                    "the pen.", icon=":material/gesture:")
            # The empty frame of the chart (no bars) also makes the browser load its chart code now rather
            # than after the first stroke, which takes ~0.3 s off the first prediction.
            _probability_chart({clf.name: np.zeros(10) for clf in models.values()})
            st.caption("Each model's probability for every digit will appear here, side by side.")
    bend_controls(bend_box)
    if result is None:
        return
    if bent and bend_box.open:
        bend_box.image(grey_to_rgb(result.digit), caption="The bent digit: what every model reads", width=140,
                       output_format="PNG")
    if source == SOURCES[0]:
        with right:
            feedback_form(models, result, bent)
    show_what_model_sees(result, bent)
    show_inside(models, result)
    attack(models, result.digit, consensus(result))


def render() -> None:
    """The page: input on the left, the models' answers on the right, then preprocessing, saliency, activations
    and the attack. The visitor's own MLP from the training page ("Your MLP") joins the models."""
    st.title("Draw a digit")
    st.caption("Neural networks trained on 55,000 handwritten MNIST digits read your drawing at the same time.")
    models = digit_models()
    mine = your_mlp()
    if mine is not None:
        models["your_mlp"] = mine
    if not models:
        st.stop()
    _lab(models)
