"""The app's logic modules (app/logic): plain Python, no Streamlit, tested directly."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from app.logic import (
    activations,
    checkpoints,
    digits,
    images,
    pets,
    weights,
)
from models.registry import BY_KEY
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
    missing = checkpoints.load_model(BY_KEY["pet_cnn"], tmp_path / "pet_cnn.safetensors")
    assert not missing.ok and missing.classifier is None
    assert "is missing" in missing.problem() and "python -m training.train pet_cnn" in missing.problem()
    broken_path = tmp_path / "digit_cnn.safetensors"
    broken_path.write_bytes(b"not a checkpoint at all")
    broken = checkpoints.load_model(checkpoints.DIGIT_MODELS[2], broken_path)
    assert not broken.ok and "could not be loaded" in broken.problem()
    assert "python -m training.train digit_cnn" in broken.problem()


def test_checkpoint_dir_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv(checkpoints.CHECKPOINT_ENV, raising=False)
    assert checkpoints.checkpoint_path(BY_KEY["pet_cnn"]) == ROOT / "checkpoints" / "pet_cnn.safetensors"
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


def test_server_side_time_is_measured_and_recorded(digit_classifiers, digit_sample) -> None:
    # Each input reads the clock when its work starts and once every model has answered: 0.25 s apart here.
    canvas = stroke_canvas([(150, 40), (145, 140), (140, 240)], 20)
    assert digits.predict_drawing(digit_classifiers, canvas, clock=iter([3.0, 3.25]).__next__).milliseconds == 250
    assert digits.predict_digit(digit_classifiers, digit_sample[0][0], clock=iter([1.0, 1.5]).__next__
                                ).milliseconds == 500
    photo = np.full((40, 30, 3), 255, np.uint8)
    photo[10:30, 14:17] = 0  # a dark 1 on white paper
    assert digits.predict_photo_digit(digit_classifiers, photo, clock=iter([0.0, 0.125]).__next__
                                      ).milliseconds == 125


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
    np.testing.assert_array_equal(tiled[45:, 105:], maps[31])  # the last tile, bottom right, with no gap after it


def test_pictures_side_by_side_share_one_size_with_clear_gaps() -> None:
    small = np.full((28, 28, 3), 200, np.uint8)  # enlarged x5, nearest neighbour
    big = np.zeros((280, 280, 3), np.uint8)
    big[:140, :140] = 255  # shrunk x2 with a box filter: the white quarter stays exactly white
    row = images.side_by_side([small, big], side=140, gap=10)
    assert row.shape == (140, 290, 4) and row.dtype == np.uint8
    assert (row[:, :140, :3] == 200).all() and (row[:, :140, 3] == 255).all()
    assert (row[:, 140:150, 3] == 0).all()  # the gap is transparent: the page shows through
    assert (row[:70, 150:220, :3] == 255).all() and (row[70:, 150:, :3] == 0).all()


def test_tiles_keep_every_pixel_and_leave_empty_cells_blank() -> None:
    one = np.arange(25, dtype=np.float32).reshape(1, 5, 5)
    np.testing.assert_array_equal(images.tile(one), one[0])  # one map: the whole map, nothing cut off
    five = np.ones((5, 2, 3), np.float32)  # 5 maps -> 2 rows of 4: three empty cells
    tiled = images.tile(five)
    assert tiled.shape == (2 * 3 - 1, 4 * 4 - 1)
    assert np.nansum(tiled) == five.sum() and np.isnan(tiled[3:, 4:]).all()


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
def photo_models() -> dict:
    paths = {spec.key: checkpoints.checkpoint_path(spec) for spec in checkpoints.PET_MODELS}
    require(all(p.exists() for p in paths.values()), f"photo checkpoints {paths} not all trained yet")
    return {key: checkpoints.load_model(spec, paths[key]).classifier
            for key, spec in zip(paths, checkpoints.PET_MODELS)}


@pytest.fixture(scope="module")
def pet_clf(photo_models):
    return photo_models["pet_cnn"]


def test_analyse_photo(photo_models) -> None:
    path, label = pet_examples()[0]
    photo = load_photo(path.read_bytes())
    result = pets.analyse_photo(photo_models, photo, clock=iter([10.0, 10.25]).__next__)
    assert result.milliseconds == pytest.approx(250.0)  # the injected clock's two readings
    assert [a.name for a in result.answers] == ["Pet MLP", "Small Pet CNN", "Pet CNN"]
    assert result.view.shape == photo.shape  # 200 x 200 is under VIEW_SIDE: shown as it is
    for answer, clf in zip(result.answers, photo_models.values()):
        assert answer.class_names == ["cat", "dog"] and np.isclose(answer.probabilities.sum(), 1)
        np.testing.assert_allclose(answer.probabilities, clf.predict_proba([photo])[0], atol=1e-5)
        assert answer.seen.shape == (clf.input_size, clf.input_size, 3) and answer.seen.dtype == np.uint8
        assert answer.heat.shape == photo.shape[:2] and 0 <= answer.heat.min() and answer.heat.max() <= 1
        assert answer.overlay.shape == photo.shape and 0.5 <= answer.confidence <= 1
        assert answer.method == ("saliency" if clf.meta["model_type"] == "pet_mlp" else "Grad-CAM")
        full_shapes = [a.shape[1:] for k, a in clf.activations([photo]).items() if k != "logits"]
        assert [g.shape for g in answer.grids] == full_shapes  # labelled with the full layer shape
        assert all(g.image.dtype == np.uint8 for g in answer.grids)
    assert result.answers[-1].label == label and result.answers[-1].is_known


def test_a_big_photo_is_shown_shrunk() -> None:
    photo = np.zeros((1200, 600, 3), np.uint8)
    assert pets.view_of(photo).shape == (pets.VIEW_SIDE, pets.VIEW_SIDE // 2, 3)
    assert pets.view_of(photo[:100, :50]).shape == (100, 50, 3)


def answer(name: str, label: int, unknown: float = -5.0) -> pets.PhotoAnswer:
    probabilities = np.array([0.9, 0.1]) if label == 0 else np.array([0.2, 0.8])
    empty = np.zeros((1, 1))
    return pets.PhotoAnswer(name, ["cat", "dog"], probabilities, empty, empty, empty, "Grad-CAM", [], unknown, 0.0)


def test_photo_verdicts() -> None:
    view = np.zeros((1, 1, 3), np.uint8)
    assert pets.PhotoResult(view, [answer("A", 0), answer("B", 0), answer("C", 0)], 1).verdict() == \
        "All 3 models say cat."
    assert pets.PhotoResult(view, [answer("A", 1), answer("B", 1)], 1).verdict() == "Both models say dog."
    split = pets.PhotoResult(view, [answer("A", 0), answer("B", 1)], 1)
    assert not split.agree and split.verdict() == "The models disagree: A says cat, B says dog."
    refused = pets.PhotoResult(view, [answer("A", 0), answer("B", 1), answer("C", 1, unknown=2.0)], 1)
    assert not refused.agree and refused.verdict() == \
        "This looks like neither a cat nor a dog to the C (the A says cat, the B says dog)."
    assert pets.PhotoResult(view, [answer("A", 0, 3.0), answer("B", 1, 3.0)], 1).verdict() == \
        "This looks like neither a cat nor a dog to both models."
    assert pets.PhotoResult(view, [answer("A", 0, 3.0)], 1).verdict() == \
        "This looks like neither a cat nor a dog to the A."
    assert pets.PhotoResult(view, [answer("A", 1)], 1).verdict() == "The A says dog."


def test_the_pet_mlp_first_layer_is_one_rgb_picture_per_unit(photo_models) -> None:
    clf = photo_models["pet_mlp"]
    assert weights.first_layer_weights(clf).shape == (clf.model.config.sizes[1], 32, 32, 3)


def test_pet_first_layer_filters_are_rgb(pet_clf) -> None:
    # one 3x3 RGB filter per channel of the first block, however wide the shipped network is
    assert weights.first_layer_weights(pet_clf).shape == (pet_clf.model.config.channels[0], 3, 3, 3)
