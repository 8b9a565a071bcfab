"""Page 1, "Draw a digit": draw (or pick, or upload) a digit and watch the networks read it side by side; bend it,
attack it and see which pixels each answer rests on (the lab, logic in app/logic/lab.py).

Everything that depends on the digit is one fragment (``_lab``): a stroke or a slider reruns only it. Inside it
the answers are drawn first; "Was this right?" under them (a drawing and its label kept in the feedback store, only
if the visitor ticks the box) and the heavy parts below (saliency and activations, the attack) are fragments of
their own, so their controls rerun only themselves.
"""

from __future__ import annotations

import secrets
import time

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app import train_page
from app.feedback_page import feedback_store, saving_problem
from app.logic.activations import activation_grids
from app.logic.charts import probability_frame, probability_spec
from app.logic.digits import (
    DigitResult,
    confidence_text,
    crop_box_image,
    predict_digit,
    predict_drawing,
    predict_photo_digit,
    scaled_step_image,
)
from app.logic.feedback_view import (
    KEPT,
    LABELS,
    answers_for,
    fingerprint,
    label_name,
    models_answer,
    strokes_from_canvas,
)
from app.logic.images import grey_to_rgb
from app.logic.lab import attack_digit, consensus, saliency_maps, signed_image
from app.shared import digit_models, drawing_or_error, uploaded_photo
from feedback import FeedbackError, RateLimitedError, StoreUnavailableError
from models.attacks import ATTACKS
from models.classifiers import Classifier
from models.perturb import Bend
from models.samples import load_digit_sample

CANVAS_SIDE = 280  # 10 x MNIST's 28 px: the drawing is shrunk to 20 px inside 28 x 28, as MNIST was made
SOURCES = ("Draw", "Pick a real MNIST digit", "Upload a picture")
# The "Bend the digit" sliders: key -> value that changes nothing (the erase patch has size 0).
BEND_DEFAULTS = {"bend_dx": 0, "bend_dy": 0, "bend_angle": 0, "bend_scale": 1.0, "bend_thickness": 0,
                 "bend_noise": 0.0, "bend_erase": 0, "bend_erase_row": 10, "bend_erase_col": 10}
ANSWERS_HEAD_START_S = 0.025  # the answers' lead over the chart below them (see _show_predictions)
SALIENCY_METHODS = {"gradient_x_input": "gradient × input", "integrated_gradients": "integrated gradients"}


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
    # Kept for "Was this right?", which saves the strokes with the digit when the visitor asks for it.
    st.session_state["drawing_strokes"] = strokes_from_canvas(canvas.json_data, CANVAS_SIDE, CANVAS_SIDE, width)
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
    for column, p in zip(st.columns(len(result.predictions)), result.predictions):
        if p.is_digit:
            column.metric(p.name, str(p.digit), delta=confidence_text(p.confidence), delta_color="off",
                          delta_arrow="off", border=True)
        else:
            column.metric(p.name, "?", delta="not a digit", delta_color="off", delta_arrow="off", border=True,
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
        "80% confidence, about 80% are right."
    )
    st.caption(f"Server time for preprocessing and all {len(result.predictions)} models: "
               f"{result.milliseconds:.1f} ms", help="Measured on this server for this input.")


def _reset_bend() -> None:
    for key, value in BEND_DEFAULTS.items():
        st.session_state[key] = value


def _bend_settings() -> Bend:
    """The Bend that the "Bend the digit" sliders hold (the defaults change nothing). Read from the session
    state, where Streamlit keeps each keyed widget's value, so the answers can be drawn before the sliders."""
    for key, value in BEND_DEFAULTS.items():  # the widgets take their start (and reset) values from here
        st.session_state.setdefault(key, value)
    get = st.session_state.__getitem__
    size = get("bend_erase")
    return Bend((get("bend_dy"), get("bend_dx")), float(get("bend_angle")), float(get("bend_scale")),
                get("bend_thickness"), float(get("bend_noise")),
                (get("bend_erase_row"), get("bend_erase_col"), size) if size else None)


def _bend_controls(box: DeltaGenerator) -> None:
    """The "Bend the digit" sliders, in ``box``; their values are read by _bend_settings."""
    a, b = box.columns(2)
    a.slider("Shift right (px)", -8, 8, key="bend_dx", help="Negative: to the left.")
    b.slider("Shift down (px)", -8, 8, key="bend_dy", help="Negative: up.")
    a.slider("Rotate (°)", -180, 180, step=5, key="bend_angle",
             help="Counter-clockwise, about the digit's centre of mass.")
    b.slider("Scale", 0.5, 1.5, step=0.05, key="bend_scale", help="About the digit's centre of mass.")
    a.slider("Thicker strokes (px)", -2, 3, key="bend_thickness",
             help="Pixels added to every side of the strokes; negative thins them.")
    b.slider("Noise", 0.0, 0.5, step=0.05, key="bend_noise",
             help="Standard deviation of random noise added to every pixel (0 to 1 is black to white).")
    size = a.slider("Erase a patch (px)", 0, 14, key="bend_erase", help="Side of a black square painted over "
                    "the digit; 0 erases nothing.")
    b.slider("Patch top", 0, 27, key="bend_erase_row", disabled=size == 0)
    b.slider("Patch left", 0, 27, key="bend_erase_col", disabled=size == 0)
    a.button("Reset", on_click=_reset_bend, key="bend_reset", icon=":material/restart_alt:")


def _show_what_model_sees(result: DigitResult, bent: bool) -> None:
    st.subheader("What the models see")
    steps = result.steps
    if steps is None:  # a sample or an upload: only the final input
        st.image(grey_to_rgb(result.digit), caption="28 × 28 input" + (", bent" if bent else ""), width=140)
        st.caption("Every model gets the same 28 × 28 grey picture, white ink on black, like MNIST's digits.")
        return
    cols = st.columns(4 if bent else 3)
    cols[0].image(crop_box_image(steps), caption="1 · your drawing, ink box in orange", width=140)
    cols[1].image(scaled_step_image(steps), caption=f"2 · cut to the ink, longer side 20 px "
                  f"({steps.scaled.shape[1]} × {steps.scaled.shape[0]})", width=140)
    cols[2].image(grey_to_rgb(steps.digit), caption="3 · centred by its centre of mass in 28 × 28", width=140)
    if bent:
        cols[3].image(grey_to_rgb(result.digit), caption="4 · bent, as set under “Bend the digit”", width=140)
    st.caption(
        "The drawing is shrunk exactly the way MNIST's digits were made: cut to the ink, scaled so the longer side "
        "is 20 pixels, then placed so its centre of mass sits in the middle of a 28 × 28 square."
    )


def _show_saliency(models: dict[str, Classifier], result: DigitResult) -> None:
    st.markdown("**Where each answer comes from**")
    method = st.radio("Saliency method", list(SALIENCY_METHODS), format_func=SALIENCY_METHODS.get, horizontal=True,
                      key="saliency_method", label_visibility="collapsed")
    maps = saliency_maps(models, result, method)  # name -> float (28, 28)
    for column, (name, values), p in zip(st.columns(len(maps)), maps.items(), result.predictions):
        column.image(signed_image(values), caption=f"{name}: why {p.digit}")
    st.caption("Red pixels push the model towards its answer, blue pixels push it away (each map on its own scale; "
               "white: no effect). Gradient × input: each pixel's share to first order; integrated gradients "
               "add up the shares along the way from a black picture to this one.")


@st.fragment
def _show_inside(models: dict[str, Classifier], result: DigitResult) -> None:
    """Saliency maps and activations: a fragment, so changing the saliency method reruns only this."""
    st.subheader("Inside the networks")
    _show_saliency(models, result)
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


@st.fragment
def _attack(models: dict[str, Classifier], digit: np.ndarray, label: int) -> None:
    """The "Attack it" expander; nothing is computed until its toggle is on, and its controls rerun only this."""
    with st.expander("Attack it", icon=":material/bolt:"):
        st.caption(f"An adversarial attack changes every pixel by at most ε, each in the direction that most lowers "
                   f"one model's belief in {label} (what most models answer now), using that model's gradients.")
        if not st.toggle("Build the attack", key="attack_on", help="Computed only while this is on."):
            return
        a, b, c = st.columns(3)
        source = a.selectbox("Model to attack", list(models), format_func=lambda k: models[k].name,
                             key="attack_model")
        method = b.radio("Attack", ATTACKS, format_func=str.upper, horizontal=True, key="attack_method",
                         help="FGSM: one step of size ε. PGD: 10 smaller steps, each kept within ε of the digit.")
        eps = c.slider("ε, the largest change per pixel", 0.0, 0.3, 0.1, step=0.01, key="attack_eps",
                       help="On the 0 to 1 pixel scale: 0.1 is a tenth of the way from black to white.")
        attack = attack_digit(models, digit, source, method, eps, label)
        cols = st.columns(3)
        cols[0].image(grey_to_rgb(digit), caption="the digit", width=140)
        cols[1].image(signed_image(attack.perturbation, eps or None), width=140,
                      caption=f"+ the change: red brighter, blue darker, ±{eps:.2f} at most")
        cols[2].image(grey_to_rgb(np.rint(attack.adversarial * 255).astype(np.uint8)), width=140,
                      caption=f"= the digit attacked on the {attack.source}")
        st.dataframe(attack.answers_frame(), hide_index=True, key="attack_answers")
        st.markdown("**Does the attack carry over?**")
        st.dataframe(attack.transfer_frame(), key="attack_transfer")
        st.caption(f"Each row: the same kind of attack built on one model, shown to every model. On the diagonal the "
                   f"attacker knew the model it fools (white box); elsewhere the attack was borrowed (transfer). "
                   f"“Fooled”: the model no longer answers {label}.")


def _save_feedback(models: dict[str, Classifier], result: DigitResult, label: int | None) -> None:
    """Button callback: keep the drawing with ``label`` (None: the one picked under "No, it's"). It runs before
    the fragment is drawn again, which then shows the outcome (``feedback_outcome``) in place of the buttons."""
    label = st.session_state.get("feedback_label") if label is None else label
    if not st.session_state.get("feedback_keep") or label is None:  # saving is opt-in, whatever the browser sent
        return
    # The store keeps only a salted hash of this id: enough to limit how fast one visitor saves, naming nobody.
    client = st.session_state.setdefault("feedback_client", secrets.token_urlsafe(16))
    try:
        drawing_id = feedback_store().add(result.digit, st.session_state["drawing_strokes"], label,
                                          answers_for(models, result), client)
    except RateLimitedError as e:
        outcome = ("warning", f"Not saved: {e}.")
    except StoreUnavailableError as e:
        outcome = ("warning", f"Saving drawings is off: {e}. The predictions work as usual.")
    except FeedbackError as e:  # what the browser sent did not pass the store's checks
        outcome = ("error", f"Not saved: {e}.")
    else:
        outcome = ("success", f"Saved as drawing #{drawing_id}, labelled {label_name(label)}. Thank you!")
    st.session_state["feedback_outcome"] = (fingerprint(result.digit), *outcome)


@st.fragment
def _feedback(models: dict[str, Classifier], result: DigitResult, bent: bool) -> None:
    """"Was this right?" under the answers of a drawing: a fragment, so answering reruns only this."""
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
    yes, other, save = st.columns([2, 2, 1], vertical_alignment="bottom")
    yes.button(f"Yes, it's {label_name(guess)}", key="feedback_yes", disabled=not keep, on_click=_save_feedback,
               args=(models, result, guess), icon=":material/thumb_up:")
    picked = other.selectbox("No, it's", LABELS, index=None, format_func=label_name, placeholder="No, it's…",
                             key="feedback_label", disabled=not keep, label_visibility="collapsed")
    save.button("Save", key="feedback_save", disabled=not keep or picked is None, on_click=_save_feedback,
                args=(models, result, None))
    st.caption(KEPT if keep else "Nothing is kept unless you tick the box.")


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
        bend_box = st.expander("Bend the digit", icon=":material/transform:")
    settings = _bend_settings()
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
    _bend_controls(bend_box)
    if result is None:
        return
    if bent:
        bend_box.image(grey_to_rgb(result.digit), caption="The bent digit: what every model reads", width=140)
    if source == SOURCES[0]:
        with right:
            _feedback(models, result, bent)
    _show_what_model_sees(result, bent)
    _show_inside(models, result)
    _attack(models, result.digit, consensus(result))


def render() -> None:
    """The page: input on the left, the models' answers on the right, then preprocessing, saliency, activations
    and the attack. The visitor's own MLP from the training page ("Your MLP") joins the models."""
    st.title("Draw a digit")
    st.caption("Neural networks trained on 55,000 handwritten MNIST digits read your drawing at the same time.")
    models = digit_models()
    mine = train_page.your_mlp()
    if mine is not None:
        models["your_mlp"] = mine
    if not models:
        st.stop()
    _lab(models)
