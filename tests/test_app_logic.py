"""The app's logic modules (app/logic): plain Python, no Streamlit, tested directly."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import altair as alt
import numpy as np
import pytest

from app.logic import (
    activations,
    charts,
    checkpoints,
    digits,
    galleries,
    images,
    latency,
    pets,
    reports,
    tables,
    weights,
)
from models.checkpoint import sha256_of
from models.registry import MODELS
from models.samples import pet_examples
from tests.app_helpers import draw_on_canvas, stroke_canvas
from tests.conftest import ROOT, require
from uploads import load_photo

LOGIC_DIR = ROOT / "app" / "logic"


# --- no Streamlit in the logic -------------------------------------------------------------------------
def test_logic_modules_never_import_streamlit() -> None:
    modules = sorted(p.stem for p in LOGIC_DIR.glob("*.py") if p.stem != "__init__")
    assert {"checkpoints", "digits", "activations", "pets", "tables", "reports", "galleries", "latency", "weights",
            "charts", "images"} <= set(modules)
    for path in LOGIC_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "streamlit" for n in names), f"{path.name} imports streamlit"
    code = "import sys\n" + "".join(f"import app.logic.{m}\n" for m in modules)
    code += "bad = [m for m in sys.modules if m.split('.')[0] in ('streamlit', 'torchvision')]\nprint(bad)\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --- checkpoints ------------------------------------------------------------------------------------------
def test_every_committed_digit_model_loads() -> None:
    for spec in checkpoints.DIGIT_MODELS:
        loaded = checkpoints.load_model(spec, ROOT / "checkpoints" / spec.filename)
        assert loaded.ok and loaded.error is None
        assert loaded.classifier.class_names == [str(d) for d in range(10)]


def test_missing_and_broken_checkpoints_become_messages(tmp_path: Path) -> None:
    missing = checkpoints.load_model(checkpoints.PET_MODEL, tmp_path / "pet_cnn.safetensors")
    assert not missing.ok and missing.classifier is None
    assert "is missing" in missing.problem() and "python -m training.train pet_cnn" in missing.problem()
    broken_path = tmp_path / "digit_cnn.safetensors"
    broken_path.write_bytes(b"not a checkpoint at all")
    broken = checkpoints.load_model(checkpoints.DIGIT_MODELS[2], broken_path)
    assert not broken.ok and "could not be loaded" in broken.problem()
    assert "python -m training.train digit_cnn" in broken.problem()


def test_checkpoint_dir_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv(checkpoints.CHECKPOINT_ENV, raising=False)
    assert checkpoints.checkpoint_path(checkpoints.PET_MODEL) == ROOT / "checkpoints" / "pet_cnn.safetensors"
    monkeypatch.setenv(checkpoints.CHECKPOINT_ENV, str(tmp_path))
    assert checkpoints.checkpoint_path(checkpoints.DIGIT_MODELS[0]) == tmp_path / "numpy_mlp.safetensors"
    assert checkpoints.checkpoint_stamp(tmp_path / "nothing") == -1.0


# --- digit predictions ----------------------------------------------------------------------------------
def test_empty_canvas_gives_no_prediction(digit_classifiers) -> None:
    assert digits.predict_drawing(digit_classifiers, None) is None
    assert digits.predict_drawing(digit_classifiers, np.zeros((280, 280, 4), np.uint8)) is None


def test_drawing_prediction_matches_each_model(digit_classifiers, digit_sample) -> None:
    images_, labels = digit_sample
    index = int(np.flatnonzero(labels == 7)[0])
    result = digits.predict_drawing(digit_classifiers, draw_on_canvas(images_[index]))
    assert result is not None and result.steps is not None
    assert [p.name for p in result.predictions] == [c.name for c in digit_classifiers.values()]
    for p, clf in zip(result.predictions, digit_classifiers.values()):
        # The probabilities shown are the models' own predict_proba on the same 28 x 28 input.
        np.testing.assert_allclose(p.probabilities, clf.predict_proba(result.digit)[0], atol=1e-5)
        assert p.digit == int(p.probabilities.argmax()) and 0 < p.confidence <= 1
        assert "logits" in p.activations
    assert result.predictions[-1].digit == 7  # the CNN reads the re-drawn 7
    cnn_acts = result.predictions[-1].activations
    assert [a.shape for a in cnn_acts.values()] == [(1, 32, 14, 14), (1, 64, 7, 7), (1, 128, 3, 3), (1, 11)]
    mlp_acts = result.predictions[0].activations
    # Every model's last layer has an eleventh output, "not a digit"; the probabilities cover the ten digits.
    hidden = digit_classifiers["numpy_mlp"].model.config.sizes[1:-1]
    assert [a.shape for a in mlp_acts.values()] == [*[(1, n) for n in hidden], (1, 11)]
    assert result.predictions[0].probabilities.shape == (10,) and result.predictions[0].is_digit


def test_server_side_time_is_measured_and_recorded(digit_classifiers) -> None:
    canvas = stroke_canvas([(150, 40), (145, 140), (140, 240)], 20)
    result = digits.predict_drawing(digit_classifiers, canvas)
    assert np.isfinite(result.milliseconds) and result.milliseconds > 0  # its budget is checked by benchmarks


def test_sample_and_photo_inputs(digit_classifiers, digit_sample) -> None:
    images_, labels = digit_sample
    result = digits.predict_digit(digit_classifiers, images_[0])
    assert result.steps is None and result.predictions[-1].digit == labels[0]
    # A dark digit on light paper (a photo) is inverted and read like the drawing.
    paper = np.repeat(255 - np.kron(images_[0], np.ones((8, 8), np.uint8))[:, :, None], 3, axis=2)
    photo = digits.predict_photo_digit(digit_classifiers, paper)
    assert photo is not None and photo.predictions[-1].digit == labels[0]
    assert digits.predict_photo_digit(digit_classifiers, np.full((100, 100, 3), 240, np.uint8)) is None


def test_verdict_says_when_models_disagree() -> None:
    def pred(name: str, digit: int) -> digits.DigitPrediction:
        probs = np.full(10, 0.01)
        probs[digit] = 0.91
        return digits.DigitPrediction(name, probs, OrderedDict())

    same = digits.DigitResult(np.zeros((28, 28), np.uint8), [pred("A", 3), pred("B", 3)], 1.0)
    assert same.agree and same.verdict() == "All 2 models say 3."
    split = digits.DigitResult(np.zeros((28, 28), np.uint8), [pred("A", 3), pred("B", 8)], 1.0)
    assert not split.agree and split.verdict() == "The models disagree: A says 3, B says 8."


def test_confidence_text() -> None:
    assert digits.confidence_text(0.874) == "87% sure"
    assert digits.confidence_text(0.9949) == "99% sure"
    assert digits.confidence_text(0.9996) == "over 99% sure"


def test_preprocessing_step_pictures(digit_classifiers) -> None:
    canvas = stroke_canvas([(150, 40), (140, 240)], 20)
    steps = digits.predict_drawing(digit_classifiers, canvas).steps
    boxed = digits.crop_box_image(steps)
    assert boxed.shape == (280, 280, 3)
    top, bottom, left, right = steps.box
    assert tuple(boxed[top, left + 1]) == (255, 140, 0)  # the orange frame sits on the ink's box
    square = digits.scaled_step_image(steps)
    assert square.shape[0] == square.shape[1] and square.shape[2] == 3  # thin "1" kept thin in a square


# --- activation grids -----------------------------------------------------------------------------------
def test_unit_grids_are_wide_rectangles() -> None:
    assert activations.unit_grid_shape(512) == (16, 32)
    assert activations.unit_grid_shape(256) == (16, 16)
    assert activations.layer_values(np.arange(512.0)).shape == (16, 32)
    rows, cols = activations.unit_grid_shape(100)
    assert rows * cols >= 100


def test_feature_maps_are_tiled_with_gaps() -> None:
    maps = np.random.default_rng(0).random((32, 14, 14)).astype(np.float32)
    tiled = activations.layer_values(maps)
    assert tiled.shape == (4 * 15 - 1, 8 * 15 - 1)  # 4 x 8 tiles of 14 px, 1 px gaps
    np.testing.assert_array_equal(tiled[:14, 15:29], maps[1])
    assert np.isnan(tiled[14, :]).all()  # the gap row


def test_one_colour_scale_per_layer() -> None:
    values = np.zeros((4, 2, 2), np.float32)
    values[0, 0, 0] = 2.0
    values[3, 1, 1] = 1.0
    grid = activations.layer_grid("block1", values, min_side=1)
    assert grid.vmax == 2.0 and grid.label == "block1 · 4 × 2 × 2"
    img = grid.image  # 2 x 2 tiles with a 1 px grey gap -> 5 x 5
    assert img.shape == (5, 5, 3)
    top = images.apply_colormap(np.array(1.0))
    half = images.apply_colormap(np.array(0.5))
    bottom = images.apply_colormap(np.array(0.0))
    assert tuple(img[0, 0]) == tuple(top)  # the layer maximum is the brightest colour
    assert tuple(img[4, 4]) == tuple(half)  # 1.0 in another map is half-way on the same scale
    assert tuple(img[0, 1]) == tuple(bottom)
    assert tuple(img[2, 0]) == tuple(images.PAD_COLOUR)
    # All-silent layers are drawn dark, not divided by zero.
    silent = activations.layer_grid("hidden1", np.zeros(16, np.float32), min_side=1)
    assert (silent.image == bottom).all()


def test_activation_grids_skip_logits(digit_classifiers) -> None:
    acts = digit_classifiers["digit_cnn"].activations(np.zeros((1, 28, 28), np.uint8))
    grids = activations.activation_grids(acts)
    assert [g.name for g in grids] == ["block1", "block2", "block3"]
    assert all(g.image.dtype == np.uint8 and g.image.ndim == 3 and min(g.image.shape[:2]) >= 150 for g in grids)


def test_colormap_and_enlarge() -> None:
    ramp = images.apply_colormap(np.linspace(0, 1, 5))
    assert ramp.shape == (5, 3) and ramp.dtype == np.uint8
    assert tuple(ramp[0]) == (68, 1, 84) and tuple(ramp[-1]) == (253, 231, 36)  # viridis ends
    luminance = ramp @ np.array([0.299, 0.587, 0.114])
    assert np.all(np.diff(luminance) > 0)  # brighter means more active
    assert images.enlarge(np.zeros((28, 28, 3), np.uint8), 280).shape == (280, 280, 3)
    assert images.grid_shape(128) == (8, 16) and images.grid_shape(1) == (1, 1)


# --- cats vs dogs ---------------------------------------------------------------------------------------
def test_gradcam_overlay_blends_by_heat() -> None:
    photo = np.full((10, 20, 3), 100, np.uint8)
    cold = pets.gradcam_overlay(photo, np.zeros((10, 20), np.float32))
    np.testing.assert_array_equal(cold, photo)  # no heat: the photo untouched
    cam = np.zeros((10, 20), np.float32)
    cam[:, 10:] = 1.0
    hot = pets.gradcam_overlay(photo, cam)
    assert (hot[:, :10] == 100).all() and not (hot[:, 10:] == 100).all()
    assert hot[0, 15, 0] > hot[0, 15, 2]  # the hottest colour is red
    with pytest.raises(ValueError):
        pets.gradcam_overlay(photo, np.zeros((5, 5), np.float32))


@pytest.fixture(scope="module")
def pet_clf():
    path = checkpoints.checkpoint_path(checkpoints.PET_MODEL)
    require(path.exists(), f"pet checkpoint {path} not trained yet (python -m training.train pet_cnn)")
    return checkpoints.load_model(checkpoints.PET_MODEL, path).classifier


def test_analyse_photo(pet_clf) -> None:
    path, label = pet_examples()[0]
    photo = load_photo(path.read_bytes())
    result = pets.analyse_photo(pet_clf, photo)
    assert result.class_names == ["cat", "dog"] and np.isclose(result.probabilities.sum(), 1)
    np.testing.assert_allclose(result.probabilities, pet_clf.predict_proba([photo])[0], atol=1e-5)
    assert result.label == label and result.is_known and 0.5 <= result.confidence <= 1
    assert result.overlay.shape == photo.shape and result.cam.shape == photo.shape[:2]
    full_shapes = [a.shape[1:] for k, a in pet_clf.activations([photo]).items() if k != "logits"]
    assert [g.shape for g in result.grids] == full_shapes  # labelled with the full layer shape
    assert all(g.image.dtype == np.uint8 for g in result.grids)


# --- comparison -----------------------------------------------------------------------------------------
def test_model_table(digit_classifiers) -> None:
    latencies = {key: 1.234 for key in digit_classifiers}
    table = tables.model_table(digit_classifiers, latencies)
    assert list(table["Model"]) == ["NumPy MLP", "PyTorch MLP", "Digit CNN"]
    for column in ("Parameters", "Checkpoint (MB)", "Accuracy (%)", "Training time (min)", "Latency (ms)",
                   "Architecture"):
        assert column in table.columns
    for (_, row), clf in zip(table.iterrows(), digit_classifiers.values()):
        d = clf.describe()
        assert row["Parameters"] == d["parameters"]
        assert row["Accuracy (%)"] == round(100 * d["metrics"]["test_acc"], 2) and row["Measured on"] == "test"
        assert row["Checkpoint (MB)"] == round(Path(d["checkpoint"]["path"]).stat().st_size / 1e6, 2)
        assert row["Latency (ms)"] == 1.23
    assert tables.accuracy_of({"metrics": {"val_acc": 0.5}}) == (0.5, "validation")
    assert tables.accuracy_of({"metrics": {}}) == (None, "")


def test_latency_is_measured(digit_classifiers, digit_sample) -> None:
    ms = latency.measure_latency(digit_classifiers["digit_cnn"], digit_sample[0][:5], repeats=5)
    assert 0 < ms < 1000


def test_sample_evaluation_mistakes_and_disagreements(digit_classifiers, digit_sample) -> None:
    images_, labels = digit_sample
    predictions = galleries.sample_predictions(digit_classifiers, images_)
    reports = galleries.sample_reports(predictions, labels)
    for name, report in reports.items():
        matrix = np.asarray(report["confusion_matrix"])
        assert matrix.sum() == 500 and report["accuracy"] == pytest.approx(np.mean(predictions[name] == labels))
        assert report["accuracy"] > 0.97
    wrong = galleries.mistakes(predictions, labels)
    for name, indices in wrong.items():
        assert len(indices) == 500 - np.asarray(reports[name]["confusion_matrix"]).trace()
        assert all(predictions[name][i] != labels[i] for i in indices)
    split = galleries.disagreements(predictions)
    assert all(len({int(p[i]) for p in predictions.values()}) > 1 for i in split)
    agreed = np.setdiff1d(np.arange(500), split)
    assert all(len({int(p[i]) for p in predictions.values()}) == 1 for i in agreed)
    fake = {"A": np.array([1, 2]), "B": np.array([1, 3])}
    assert list(galleries.disagreements(fake)) == [1]
    assert galleries.mistake_caption(1, fake, np.array([1, 3]), "A") == "a 3, read as 2"
    assert galleries.mistake_caption(1, fake, np.array([1, 3])) == "3: 2 / 3"


def test_training_history(tmp_path: Path) -> None:
    history = reports.load_history(ROOT / "checkpoints" / "digit_cnn.safetensors")
    raw = json.loads((ROOT / "checkpoints" / "digit_cnn.history.json").read_text())["epochs"]
    assert history is not None and history["epoch"].max() == len(raw)
    first_val = history[(history.epoch == 1) & (history.split == "validation") & (history.metric == "accuracy")]
    assert first_val["value"].item() == pytest.approx(raw[0]["val_acc"])
    assert reports.load_history(tmp_path / "none.safetensors") is None
    (tmp_path / "bad.history.json").write_text("{not json")
    assert reports.load_history(tmp_path / "bad.safetensors") is None


def test_committed_eval_reports_match_the_committed_checkpoints() -> None:
    """Every committed checkpoint has a saved full-test-set evaluation made from exactly its bytes.

    Fails after a retrain until ``python -m training.evaluate checkpoints/<file> --save`` is run again.
    """
    sizes = {"digits": 10_000, "pets": 1_748}  # the test sets: MNIST's, and the cats-vs-dogs test split
    for spec in MODELS:
        path = checkpoints.checkpoint_path(spec)
        clf = checkpoints.load_model(spec, path).classifier
        assert clf is not None, spec.filename
        report = reports.load_eval_report(path, sha256_of(path), clf.class_names)
        assert report.ok, report.message()
        assert report.data is not None and report.data["n"] == sizes[spec.task]
        right = np.trace(np.asarray(report.data["confusion_matrix"]))
        assert right == round(report.data["accuracy"] * report.data["n"])
        assert list(report.data["per_class_accuracy"]) == clf.class_names
        assert report.data["dataset"].endswith("test set")
        accuracy, split = tables.accuracy_of(clf.describe())
        if split == "test":  # what training measured on the same set (the pet CLI measures val only)
            assert report.data["accuracy"] == pytest.approx(accuracy, abs=1e-4)


def test_eval_report_missing_stale_or_broken(tmp_path: Path) -> None:
    source = ROOT / "checkpoints" / "digit_cnn.eval.json"
    saved = json.loads(source.read_text())
    digits_ = [str(d) for d in range(10)]
    checkpoint = tmp_path / "digit_cnn.safetensors"  # the report is looked up beside it; the file itself is not read

    missing = reports.load_eval_report(checkpoint, saved["sha256"], digits_)
    assert not missing.ok and "No saved evaluation" in missing.problem
    assert f"python -m training.evaluate {checkpoint} --save" in missing.message()

    (tmp_path / "digit_cnn.eval.json").write_text(source.read_text())
    fresh = reports.load_eval_report(checkpoint, saved["sha256"], digits_)
    assert fresh.ok and fresh.problem is None and fresh.data["accuracy"] == saved["accuracy"]

    stale = reports.load_eval_report(checkpoint, "0" * 64, digits_)  # the checkpoint was retrained since
    assert not stale.ok and "older version" in stale.message()

    wrong_classes = reports.load_eval_report(checkpoint, saved["sha256"], ["cat", "dog"])
    assert not wrong_classes.ok and "does not fit" in wrong_classes.problem

    for broken in ("{not json", "[]", json.dumps({**saved, "confusion_matrix": "x"}), json.dumps({"n": 1})):
        (tmp_path / "digit_cnn.eval.json").write_text(broken)
        report = reports.load_eval_report(checkpoint, saved["sha256"], digits_)
        assert not report.ok and "could not be read" in report.problem, broken

    committed = reports.load_eval_report(ROOT / "checkpoints" / "pet_cnn.safetensors", "0" * 64, ["cat", "dog"])
    assert committed.command == "python -m training.evaluate checkpoints/pet_cnn.safetensors --save"


def test_common_mistakes() -> None:
    names = ["a", "b", "c"]
    first = {"confusion_matrix": [[9, 2, 0], [0, 8, 1], [5, 0, 7]]}
    second = {"confusion_matrix": [[9, 1, 0], [0, 9, 0], [1, 0, 7]]}
    assert reports.common_mistakes({"x": first, "y": second}, names, 2) == [("c", "a", 6), ("a", "b", 3)]
    assert reports.common_mistakes({"x": {"confusion_matrix": np.eye(3, dtype=int)}}, names) == []


def test_first_layer_weights(digit_classifiers) -> None:
    numpy_w = weights.first_layer_weights(digit_classifiers["numpy_mlp"])
    first = digit_classifiers["numpy_mlp"].model.config.sizes[1]
    assert numpy_w.shape == (first, 28, 28)
    np.testing.assert_array_equal(numpy_w[5].ravel(), digit_classifiers["numpy_mlp"].model.weights[0][:, 5])
    assert weights.first_layer_weights(digit_classifiers["torch_mlp"]).shape == (first, 28, 28)
    assert weights.first_layer_weights(digit_classifiers["digit_cnn"]).shape == (32, 3, 3)
    pictures = weights.weight_images(numpy_w, 8)
    assert len(pictures) == 8 and all(p.dtype == np.uint8 and p.shape[2] == 3 for p in pictures)
    rgb = weights.weight_images(np.random.default_rng(0).normal(size=(4, 3, 3, 3)), 4)
    assert len(rgb) == 4 and rgb[0].shape[2] == 3


def test_pet_first_layer_filters_are_rgb(pet_clf) -> None:
    # one 3x3 RGB filter per channel of the first block, however wide the shipped network is
    assert weights.first_layer_weights(pet_clf).shape == (pet_clf.model.config.channels[0], 3, 3, 3)


# --- charts ---------------------------------------------------------------------------------------------
def test_charts_build(digit_classifiers, digit_sample) -> None:
    images_, labels = digit_sample
    result = digits.predict_digit(digit_classifiers, images_[0])
    chart = charts.probability_chart({p.name: p.probabilities for p in result.predictions})
    spec = chart.to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 30 and {r["model"] for r in rows} == {"NumPy MLP", "PyTorch MLP", "Digit CNN"}
    # The draw page's ready spec: the same chart without its data, which the page passes beside it
    ready = charts.probability_spec(tuple(p.name for p in result.predictions))
    assert ready == {k: v for k, v in spec.items() if k not in ("data", "datasets")}
    frame = charts.probability_frame({p.name: p.probabilities for p in result.predictions})
    assert frame.to_dict("records") == rows
    predictions = galleries.sample_predictions(digit_classifiers, images_)
    sample_reports = galleries.sample_reports(predictions, labels)
    confusion = charts.confusion_chart(np.asarray(sample_reports["Digit CNN"]["confusion_matrix"]),
                                       [str(d) for d in range(10)], "t")
    assert isinstance(confusion, alt.LayerChart)
    assert len(next(iter(confusion.to_dict()["datasets"].values()))) == 100
    charts.per_class_chart(sample_reports).to_dict()
    pets_spec = charts.per_class_chart({"pet": {"per_class_accuracy": {"cat": 0.95, "dog": 0.94}}}, "class").to_dict()
    assert pets_spec["encoding"]["x"]["title"] == "class"
    assert [r["class"] for r in next(iter(pets_spec["datasets"].values()))] == ["cat", "dog"]
    history = reports.load_history(ROOT / "checkpoints" / "torch_mlp.safetensors")
    assert history is not None
    for metric in ("loss", "accuracy"):
        charts.history_chart(history, metric, metric).to_dict()
    charts.class_probability_chart(["cat", "dog"], np.array([0.3, 0.7])).to_dict()
