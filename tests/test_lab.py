"""The draw page's lab (bend, attack, saliency, "Your MLP") and the compare page's robustness curves: the plain
functions of app/logic/lab.py and app/logic/reports.py, and the pages run headless with AppTest.

Sample 0 of the bundled digits is a 7 that every model reads right; FGSM at eps = 0.25 on the CNN fools the CNN.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from app import draw_page
from app.draw_lab import BEND_DEFAULTS
from app.logic import checkpoints
from app.logic.digits import predict_digit
from app.logic.lab import attack_digit, consensus, saliency_maps, signed_image
from app.logic.reports import load_robustness_report, robustness_command
from models import load_classifier
from models.artifacts import eval_path, history_path, robustness_path
from models.checkpoint import sha256_of
from models.perturb import Bend, bend
from models.samples import load_digit_sample
from tests.app_helpers import image_captions, stroke_canvas
from tests.conftest import DIGIT_CHECKPOINTS
from tests.test_app_pages import FakeCanvas, canvas, metrics, page, texts  # noqa: F401
from tests.test_compare_page import chart_titles

pytestmark = pytest.mark.usefixtures("canvas")  # the stand-in drawing canvas, for every page run here
SEVEN = 0  # index of a 7 in the bundled sample, read right by every model


@pytest.fixture(scope="module")
def seven() -> np.ndarray:
    images, labels, _ = load_digit_sample()
    assert labels[SEVEN] == 7
    return images[SEVEN]


def probabilities(at: AppTest) -> dict[str, np.ndarray]:
    """Model name -> the 10 probabilities drawn in the probability chart (the page's first chart)."""
    data = at.get("vega_lite_chart")[0].proto.data.data
    frame = pa.ipc.open_stream(data).read_pandas()
    return {name: group.sort_values("digit")["probability"].to_numpy() for name, group in frame.groupby("model")}


def sample_page(index: int = SEVEN) -> AppTest:
    at = page("draw_page").run()
    at.radio(key="digit_source").set_value("Pick a real MNIST digit").run()
    return at.number_input(key="sample_index").set_value(index).run()


# --- plain functions ------------------------------------------------------------------------------------
def test_bend_changes_what_the_models_read(digit_classifiers, seven: np.ndarray) -> None:
    clean = predict_digit(digit_classifiers, seven)
    assert all(np.array_equal(a.probabilities, b.probabilities)
               for a, b in zip(clean.predictions, predict_digit(digit_classifiers, seven, Bend()).predictions))
    for settings in (Bend(angle=180.0), Bend(erase=(4, 4, 20))):
        bent = predict_digit(digit_classifiers, seven, settings)
        assert np.array_equal(bent.digit, bend(seven, settings))  # the models read the bent digit
        assert max(np.abs(a.probabilities - b.probabilities).max()
                   for a, b in zip(clean.predictions, bent.predictions)) > 0.1


def test_attack_at_eps_zero_changes_nothing(digit_classifiers, seven: np.ndarray) -> None:
    attack = attack_digit(digit_classifiers, seven, "digit_cnn", "pgd", 0.0, 7)
    assert attack.source == "Digit CNN" and not attack.perturbation.any()
    for clf in digit_classifiers.values():
        np.testing.assert_allclose(attack.answers[clf.name], clf.predict_proba(seven[None])[0], atol=1e-6)
    assert all(v == 0.0 for row in attack.transfer.values() for v in row.values())
    assert not attack.answers_frame()["Fooled"].any()


def test_fgsm_at_a_quarter_fools_the_attacked_cnn(digit_classifiers, seven: np.ndarray) -> None:
    attack = attack_digit(digit_classifiers, seven, "digit_cnn", "fgsm", 0.25, 7)
    assert np.abs(attack.perturbation).max() <= 0.25 + 1e-6 and attack.adversarial.shape == (28, 28)
    answers = attack.answers_frame().set_index("Model")
    assert answers.loc["Digit CNN", "Fooled"] and answers.loc["Digit CNN", "Answer"] != 7
    assert attack.transfer["Digit CNN"]["Digit CNN"] == 1.0
    table = attack.transfer_frame()
    assert list(table.index) == [f"attack built on {clf.name}" for clf in digit_classifiers.values()]
    assert list(table.columns) == [clf.name for clf in digit_classifiers.values()]
    assert table.loc["attack built on Digit CNN", "Digit CNN"] == "fooled"


@pytest.mark.parametrize("method", ["gradient_x_input", "integrated_gradients"])
def test_saliency_maps_one_per_model(digit_classifiers, seven: np.ndarray, method: str) -> None:
    result = predict_digit(digit_classifiers, seven)
    assert consensus(result) == 7
    maps = saliency_maps(digit_classifiers, result, method)
    assert list(maps) == [clf.name for clf in digit_classifiers.values()]
    for values in maps.values():
        assert values.shape == (28, 28) and np.isfinite(values).all() and values.any()
        assert not values[seven == 0].any()  # both methods multiply by the input: black pixels get 0


def test_signed_image_colours() -> None:
    values = np.zeros((28, 28))
    blank = signed_image(values)
    assert (blank == blank[0, 0]).all() and blank.min() >= 240  # zero is (near) white, even all over
    values[0, 0], values[0, 1] = 1.0, -1.0
    image = signed_image(values, min_side=28)
    assert image.shape == (28, 28, 3)
    assert image[0, 0, 0] > image[0, 0, 2] and image[0, 1, 2] > image[0, 1, 0]  # red positive, blue negative


def robustness_json(path: Path, checkpoint: Path, model: str, sha256: str | None = None) -> None:
    """A small report in the layout training/robustness.py saves."""
    values = {"rotation": [-30, 0, 30], "shift": [0, 2, 4], "thickness": [-1, 0, 1], "noise": [0.0, 0.2, 0.4],
              "fgsm": [0.0, 0.1, 0.2], "pgd": [0.0, 0.1, 0.2]}
    curves = {name: {"x": name, "values": v, "accuracy": [0.9, 0.99, 0.8], "n": 100 if name in ("fgsm", "pgd") else 500}
              for name, v in values.items()}
    path.write_text(json.dumps({"model": model, "checkpoint": checkpoint.name,
                                "sha256": sha256 or sha256_of(checkpoint), "dataset": "bundled MNIST sample",
                                "n": 500, "clean_accuracy": 0.99, "curves": curves, "noise_seed": 0}))


def test_robustness_reports_are_checked(tmp_path: Path) -> None:
    checkpoint = tmp_path / "numpy_mlp.safetensors"
    checkpoint.symlink_to(DIGIT_CHECKPOINTS["numpy_mlp"])
    sha = sha256_of(checkpoint)
    missing = load_robustness_report(checkpoint, sha)
    assert not missing.ok and "No robustness report" in missing.message()
    # Named as the user would type it: the symlink resolves into the repository's checkpoints/.
    assert missing.command == "python -m training.robustness checkpoints/numpy_mlp.safetensors --save"
    robustness_json(robustness_path(checkpoint), checkpoint, "NumPy MLP")
    report = load_robustness_report(checkpoint, sha)
    assert report.ok and report.data["curves"]["rotation"]["values"] == [-30.0, 0.0, 30.0]
    assert "older version" in load_robustness_report(checkpoint, "0" * 64).problem
    robustness_path(checkpoint).write_text('{"curves": {"rotation": {"values": [1, 2], "accuracy": [1]}}}')
    assert "could not be read" in load_robustness_report(checkpoint, sha).problem
    assert robustness_command([checkpoint, tmp_path / "b.safetensors"]) == (
        f"python -m training.robustness checkpoints/numpy_mlp.safetensors {tmp_path / 'b.safetensors'} --save")


# --- draw page ------------------------------------------------------------------------------------------
def test_bend_controls_change_the_answers_and_reset() -> None:
    at = sample_page()
    assert not at.exception and not [s for s in at.slider if s.key in BEND_DEFAULTS]  # drawn only once opened
    at.session_state["bend_open"] = True
    at.run()
    assert {key: at.slider(key=key).value for key in BEND_DEFAULTS} == BEND_DEFAULTS
    clean = probabilities(at)
    assert list(clean) and "bent" not in texts(at.caption)
    at.slider(key="bend_angle").set_value(180).run()
    assert not at.exception
    turned = probabilities(at)
    assert any(np.abs(turned[name] - clean[name]).max() > 0.1 for name in clean)
    captions = image_captions(at)
    assert "The bent digit: what every model reads" in captions and "28 × 28 input, bent" in captions
    at.session_state["bend_open"] = False  # closed: no sliders sent, and the digit stays bent
    at.run()
    assert not [s for s in at.slider if s.key in BEND_DEFAULTS] and "28 × 28 input, bent" in image_captions(at)
    assert all(np.allclose(probabilities(at)[name], turned[name]) for name in clean)
    at.session_state["bend_open"] = True
    at.run()
    assert at.slider(key="bend_angle").value == 180  # opened again where it was left
    at.button(key="bend_reset").click().run()
    assert at.slider(key="bend_angle").value == 0
    assert all(np.allclose(probabilities(at)[name], clean[name]) for name in clean)
    assert at.slider(key="bend_erase_row").disabled  # no patch, no position
    at.slider(key="bend_erase").set_value(14).run()
    at.slider(key="bend_erase_row").set_value(7)
    at.slider(key="bend_erase_col").set_value(7).run()
    erased = probabilities(at)
    assert any(np.abs(erased[name] - clean[name]).max() > 0.1 for name in clean)
    for key, value in (("bend_dx", 8), ("bend_dy", -6), ("bend_scale", 0.5), ("bend_thickness", 3),
                       ("bend_noise", 0.5)):  # every other control changes what the models answer too
        at.button(key="bend_reset").click().run()
        at.slider(key=key).set_value(value).run()
        assert not at.exception
        assert any(np.abs(probabilities(at)[name] - clean[name]).max() > 1e-4 for name in clean), key


def test_a_bent_drawing_shows_a_fourth_step(request: pytest.FixtureRequest) -> None:
    fake: FakeCanvas = request.getfixturevalue("canvas")
    fake.drawing = stroke_canvas([(150, 40), (146, 140), (142, 240)], 20)
    at = page("draw_page").run()
    assert not [c for c in image_captions(at) if "4 · bent" in c]
    at.session_state["bend_open"] = True
    at.run()
    at.slider(key="bend_dx").set_value(5).run()
    (steps,) = [c for c in image_captions(at) if c.startswith("1 · your drawing")]  # one picture of the steps
    assert not at.exception and steps.endswith("→  4 · bent, as set under “Bend the digit”")
    assert fake.calls[-1]["key"] == "canvas_0" and fake.calls[-1]["return_image_data"] is True


def test_saliency_maps_are_shown_for_every_model() -> None:
    at = sample_page()
    assert not [c for c in image_captions(at) if ": why " in c]  # computed only once "Inside the networks" opens
    at.session_state["inside_open"] = True
    at.run()
    captions = image_captions(at)
    assert [c for c in captions if ": why " in c] == ["NumPy MLP: why 7", "PyTorch MLP: why 7", "Digit CNN: why 7"]
    assert "Red pixels push the model towards its answer, blue pixels push it away" in texts(at.caption)
    assert at.subheader.values == ["What the models see"]
    at.radio(key="saliency_method").set_value("integrated_gradients").run()
    assert not at.exception and len([c for c in image_captions(at) if ": why " in c]) == 3


def test_attack_is_on_demand_and_fools_the_attacked_model() -> None:
    at = sample_page()
    assert not [t for t in at.toggle if t.key == "attack_on"]  # nothing drawn until "Attack it" opens
    at.session_state["attack_open"] = True
    at.run()
    assert len(at.dataframe) == 0 and not at.toggle(key="attack_on").value  # nothing computed until asked
    at.toggle(key="attack_on").set_value(True).run()
    at.selectbox(key="attack_model").set_value("digit_cnn")
    at.radio(key="attack_method").set_value("fgsm")
    at.slider(key="attack_eps").set_value(0.25).run()
    assert not at.exception
    answers, transfer = (frame.value for frame in at.dataframe)
    answers = answers.set_index("Model")
    assert answers.loc["Digit CNN", "Fooled"] and answers.loc["Digit CNN", "Answer"] != 7
    assert transfer.loc["attack built on Digit CNN", "Digit CNN"] == "fooled"
    assert list(transfer.columns) == ["NumPy MLP", "PyTorch MLP", "Digit CNN"] and len(transfer) == 3
    captions = image_captions(at)
    assert "= the digit attacked on the Digit CNN" in captions
    assert metrics(at) == {"NumPy MLP": "7", "PyTorch MLP": "7", "Digit CNN": "7"}  # the answers above are unchanged
    at.slider(key="attack_eps").set_value(0.0).run()
    answers, transfer = (frame.value for frame in at.dataframe)
    assert not answers["Fooled"].any() and list(answers["Answer"]) == [7, 7, 7]
    assert (transfer == "still 7").all().all()


def test_your_mlp_joins_the_draw_page(monkeypatch) -> None:
    mine = load_classifier(DIGIT_CHECKPOINTS["numpy_mlp"])
    mine.name = "Your MLP"
    monkeypatch.setattr(draw_page, "your_mlp", lambda: mine)
    at = sample_page()
    assert not at.exception
    assert list(metrics(at)) == ["NumPy MLP", "PyTorch MLP", "Digit CNN", "Your MLP"]
    assert "Your MLP" in probabilities(at)
    at.session_state["attack_open"] = True
    at.run()
    at.toggle(key="attack_on").set_value(True).run()
    assert at.selectbox(key="attack_model").options == ["NumPy MLP", "PyTorch MLP", "Digit CNN", "Your MLP"]
    at.selectbox(key="attack_model").set_value("your_mlp").run()
    assert not at.exception and "= the digit attacked on the Your MLP" in image_captions(at)
    monkeypatch.setattr(draw_page, "your_mlp", lambda: None)
    assert list(metrics(sample_page())) == ["NumPy MLP", "PyTorch MLP", "Digit CNN"]


# --- compare page ---------------------------------------------------------------------------------------
def test_compare_page_robustness_curves_or_the_command(tmp_path: Path, monkeypatch) -> None:
    source = checkpoints.checkpoint_dir()
    for spec in checkpoints.DIGIT_MODELS:  # the digit models with their reports, no pet model, no robustness yet
        for name in (spec.filename, eval_path(spec.filename).name, history_path(spec.filename).name):
            (tmp_path / name).symlink_to(source / name)
    monkeypatch.setenv(checkpoints.CHECKPOINT_ENV, str(tmp_path))
    at = page("compare_page").run()
    assert not at.exception and "Bent and attacked digits" in at.subheader.values
    assert not [t for t in chart_titles(at) if "digits)" in t]
    command = "python -m training.robustness " + " ".join(
        f"checkpoints/{spec.filename}" for spec in checkpoints.DIGIT_MODELS) + " --save"  # symlinks, resolved
    assert command in texts(at.caption)

    for spec, model in (("numpy_mlp", "NumPy MLP"), ("digit_cnn", "Digit CNN")):
        checkpoint = tmp_path / f"{spec}.safetensors"
        robustness_json(robustness_path(checkpoint), checkpoint, model)
    at = page("compare_page").run()
    assert not at.exception
    titles = [t for t in chart_titles(at) if "digits)" in t]
    assert titles == ["Rotated (500 digits)", "Thicker or thinner strokes (500 digits)", "Attacked: FGSM (100 digits)",
                      "Shifted (500 digits)", "Noisy (500 digits)", "Attacked: PGD, 10 steps (100 digits)"]
    captions = texts(at.caption)
    assert "python -m training.robustness checkpoints/torch_mlp.safetensors --save" in captions
    assert "No robustness report for torch_mlp.safetensors yet." in captions
    pgd = next(c for c in at.get("vega_lite_chart") if "Attacked: PGD" in c.proto.spec)
    lines = pa.ipc.open_stream(pgd.proto.datasets[0].data.data).read_pandas()
    assert list(lines["model"].unique()) == ["NumPy MLP", "Digit CNN"]  # one line per model with a report
    assert list(lines["amount"]) == [0.0, 0.1, 0.2] * 2
