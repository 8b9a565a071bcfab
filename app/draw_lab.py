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
from app.logic.images import grey_to_rgb, side_by_side
from app.logic.lab import attack_digit, saliency_maps, signed_image
from models.attacks import ATTACKS
from models.classifiers import Classifier
from models.perturb import Bend

# The "Bend the digit" sliders: key -> value that changes nothing (the erase patch has size 0).
BEND_DEFAULTS = {"bend_dx": 0, "bend_dy": 0, "bend_angle": 0, "bend_scale": 1.0, "bend_thickness": 0,
                 "bend_noise": 0.0, "bend_erase": 0, "bend_erase_row": 10, "bend_erase_col": 10}
SALIENCY_METHODS = {"gradient_x_input": "gradient × input", "integrated_gradients": "integrated gradients"}


BEND_SAVED = "bend_saved"  # the sliders' values, kept here while "Bend the digit" is closed (see bend_settings)


def _reset_bend() -> None:
    for key, value in BEND_DEFAULTS.items():
        st.session_state[key] = value


def bend_settings() -> Bend:
    """The Bend that the "Bend the digit" sliders hold (the defaults change nothing), read before the sliders
    are drawn so the answers can come first. The sliders are drawn only while their expander is open, and
    Streamlit forgets the value of a widget it did not draw: so each value is also kept under BEND_SAVED."""
    saved = st.session_state.setdefault(BEND_SAVED, dict(BEND_DEFAULTS))
    for key in BEND_DEFAULTS:
        saved[key] = st.session_state.get(key, saved[key])  # the slider's value while it is on the page
    size = saved["bend_erase"]
    return Bend((saved["bend_dy"], saved["bend_dx"]), float(saved["bend_angle"]), float(saved["bend_scale"]),
                saved["bend_thickness"], float(saved["bend_noise"]),
                (saved["bend_erase_row"], saved["bend_erase_col"], size) if size else None)


def bend_controls(box: DeltaGenerator) -> None:
    """The "Bend the digit" sliders in ``box`` (an expander that reruns when opened or closed), drawn only while it
    is open: a stroke then sends none of them. Their values are read by bend_settings."""
    if not box.open:
        return
    for key, value in st.session_state[BEND_SAVED].items():  # the sliders start where they were left
        st.session_state.setdefault(key, value)
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
        st.image(grey_to_rgb(result.digit), caption="28 × 28 input" + (", bent" if bent else ""), width=140,
                 output_format="PNG")
        st.caption("Every model gets the same 28 × 28 grey picture, white ink on black, like MNIST's digits.")
        return
    pictures = [crop_box_image(steps), scaled_step_image(steps), grey_to_rgb(steps.digit)]
    captions = ["1 · your drawing, ink box in orange", f"2 · cut to the ink, longer side 20 px "
                f"({steps.scaled.shape[1]} × {steps.scaled.shape[0]})", "3 · centred by its centre of mass in 28 × 28"]
    if bent:
        pictures.append(grey_to_rgb(result.digit))
        captions.append("4 · bent, as set under “Bend the digit”")
    # One picture for the row: a stroke encodes and sends one image, not four. PNG keeps the pixels sharp.
    st.image(side_by_side(pictures), caption="  →  ".join(captions), output_format="PNG")
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
        column.image(signed_image(values), caption=f"{name}: why {p.digit}", output_format="PNG")
    st.caption("Red pixels push the model towards its answer, blue pixels push it away (each map on its own scale; "
               "white: no effect). Gradient × input: each pixel's share to first order; integrated gradients "
               "add up the shares along the way from a black picture to this one.")


def show_inside(models: dict[str, Classifier], result: DigitResult) -> None:
    """"Inside the networks": an expander that reruns when opened or closed. Saliency maps and activations are
    computed (by a fragment of their own, so the saliency method and the tabs rerun only it) while it is open:
    a stroke costs the server nothing here until a visitor looks."""
    box = st.expander("Inside the networks", icon=":material/neurology:", key="inside_open", on_change="rerun")
    if box.open:
        with box:
            _inside(models, result)


@st.fragment
def _inside(models: dict[str, Classifier], result: DigitResult) -> None:
    _show_saliency(models, result)
    st.caption(
        "Each small square is one unit (MLPs) or each tile one feature map (CNN), coloured by how strongly it "
        "fires: dark = silent, yellow = the strongest value in that layer. Every layer has its own scale."
    )
    tabs = st.tabs([p.name for p in result.predictions], key="inside_model", on_change="rerun")
    for tab, p in zip(tabs, result.predictions):
        if tab.open:  # only the model whose tab is shown
            with tab:
                _show_activations(p.activations)


def _show_activations(activations: dict[str, np.ndarray]) -> None:
    """One model's layers (name -> (1, ...) array) as coloured grids, one column each."""
    grids = activation_grids(activations)
    for column, grid in zip(st.columns(len(grids)), grids):
        column.image(grid.image, caption=f"{grid.label} · yellow = {grid.vmax:.2f}", output_format="PNG")
    if activations and next(iter(activations.values())).ndim == 2:
        st.caption("A hidden layer of an MLP: each pixel is one unit, laid out in a grid to fit the screen; "
                   "its place in the grid means nothing.")
    else:
        st.caption("CNN blocks: each tile is what one filter found across the image, e.g. strokes or edges. "
                   "Later blocks are smaller and more abstract.")


def attack(models: dict[str, Classifier], digit: np.ndarray, label: int) -> None:
    """The "Attack it" expander, which reruns when opened or closed; its contents are drawn only while it is open
    (by a fragment, so its controls rerun only that), and nothing is computed until its toggle is on."""
    box = st.expander("Attack it", icon=":material/bolt:", key="attack_open", on_change="rerun")
    if box.open:
        with box:
            _attack(models, digit, label)


@st.fragment
def _attack(models: dict[str, Classifier], digit: np.ndarray, label: int) -> None:
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
    cols[0].image(grey_to_rgb(digit), caption="the digit", width=140, output_format="PNG")
    cols[1].image(signed_image(attack.perturbation, eps or None), width=140, output_format="PNG",
                  caption=f"+ the change: red brighter, blue darker, ±{eps:.2f} at most")
    cols[2].image(grey_to_rgb(np.rint(attack.adversarial * 255).astype(np.uint8)), width=140, output_format="PNG",
                  caption=f"= the digit attacked on the {attack.source}")
    st.dataframe(attack.answers_frame(), hide_index=True, key="attack_answers")
    st.markdown("**Does the attack carry over?**")
    st.dataframe(attack.transfer_frame(), key="attack_transfer")
    st.caption(f"Each row: the same kind of attack built on one model, shown to every model. On the diagonal the "
               f"attacker knew the model it fools (white box); elsewhere the attack was borrowed (transfer). "
               f"“Fooled”: the model no longer answers {label}.")
