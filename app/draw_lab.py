"""The lab under the draw page's answers (not a page of its own): "Bend the digit" (sliders held in the
session state), what the models see, where each answer comes from (saliency) and what fires inside (activations),
and "Attack it". The computing is in app/logic/lab.py; the draw page calls these in its ``_lab`` fragment.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app.logic.activations import activation_grids
from app.logic.digits import DigitResult, crop_box_image, scaled_step_image
from app.logic.images import grey_to_rgb
from app.logic.lab import attack_digit, saliency_maps, signed_image
from models.attacks import ATTACKS
from models.classifiers import Classifier
from models.perturb import Bend

# The "Bend the digit" sliders: key -> value that changes nothing (the erase patch has size 0).
BEND_DEFAULTS = {"bend_dx": 0, "bend_dy": 0, "bend_angle": 0, "bend_scale": 1.0, "bend_thickness": 0,
                 "bend_noise": 0.0, "bend_erase": 0, "bend_erase_row": 10, "bend_erase_col": 10}
SALIENCY_METHODS = {"gradient_x_input": "gradient × input", "integrated_gradients": "integrated gradients"}


def _reset_bend() -> None:
    for key, value in BEND_DEFAULTS.items():
        st.session_state[key] = value


def bend_settings() -> Bend:
    """The Bend that the "Bend the digit" sliders hold (the defaults change nothing). Read from the session
    state, where Streamlit keeps each keyed widget's value, so the answers can be drawn before the sliders."""
    for key, value in BEND_DEFAULTS.items():  # the widgets take their start (and reset) values from here
        st.session_state.setdefault(key, value)
    get = st.session_state.__getitem__
    size = get("bend_erase")
    return Bend((get("bend_dy"), get("bend_dx")), float(get("bend_angle")), float(get("bend_scale")),
                get("bend_thickness"), float(get("bend_noise")),
                (get("bend_erase_row"), get("bend_erase_col"), size) if size else None)


def bend_controls(box: DeltaGenerator) -> None:
    """The "Bend the digit" sliders, in ``box``; their values are read by bend_settings."""
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


def show_what_model_sees(result: DigitResult, bent: bool) -> None:
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
def show_inside(models: dict[str, Classifier], result: DigitResult) -> None:
    """Saliency maps and activations, computed only while their expander is open (and activations only for
    the model whose tab is open): a stroke costs the server nothing here until a visitor looks. A fragment,
    so opening it or changing the saliency method reruns only this."""
    box = st.expander("Inside the networks", icon=":material/neurology:", key="inside_open", on_change="rerun")
    if not box.open:
        return
    with box:
        _show_saliency(models, result)
        st.caption(
            "Each small square is one unit (MLPs) or each tile one feature map (CNN), coloured by how strongly it "
            "fires: dark = silent, yellow = the strongest value in that layer. Every layer has its own scale."
        )
        tabs = st.tabs([p.name for p in result.predictions], key="inside_model", on_change="rerun")
        for tab, p in zip(tabs, result.predictions):
            if tab.open:
                with tab:
                    _show_activations(p.activations)


def _show_activations(activations: dict[str, np.ndarray]) -> None:
    """One model's layers (name -> (1, ...) array) as coloured grids, one column each."""
    grids = activation_grids(activations)
    for column, grid in zip(st.columns(len(grids)), grids):
        column.image(grid.image, caption=f"{grid.label} · yellow = {grid.vmax:.2f}")
    if activations and next(iter(activations.values())).ndim == 2:
        st.caption("A hidden layer of an MLP: each pixel is one unit, laid out in a grid to fit the screen; "
                   "its place in the grid means nothing.")
    else:
        st.caption("CNN blocks: each tile is what one filter found across the image, e.g. strokes or edges. "
                   "Later blocks are smaller and more abstract.")


@st.fragment
def attack(models: dict[str, Classifier], digit: np.ndarray, label: int) -> None:
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
