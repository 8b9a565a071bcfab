"""Every page of the app run headless with ``streamlit.testing.v1.AppTest``.

The drawing canvas is a custom component that AppTest cannot drive, so ``streamlit_drawable_canvas`` is
replaced by a stand-in module whose ``st_canvas`` returns a prepared drawing (the page imports the module and
calls ``streamlit_drawable_canvas.st_canvas`` for exactly this reason).
"""

from __future__ import annotations

import io
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.logic import checkpoints
from models.artifacts import eval_path, history_path
from models.registry import BY_KEY
from models.samples import load_digit_sample, pet_examples
from tests.app_helpers import draw_on_canvas, image_captions, stroke_canvas
from tests.conftest import ROOT, require
from uploads import InvalidImageError, load_photo

TIMEOUT = 120  # the first run of a page loads models and scores the sample set on a busy 2-core machine


class FakeCanvas:
    """Stands in for the canvas component: records each call and returns the current drawing."""

    def __init__(self) -> None:
        self.drawing: np.ndarray | None = None
        self.calls: list[dict[str, Any]] = []

    def st_canvas(self, **kwargs: Any) -> types.SimpleNamespace:
        self.calls.append(kwargs)
        assert kwargs["return_image_data"] is True  # otherwise image_bytes raises in the real component
        # The real component's image_bytes: the PNG the browser sent (None before anything is drawn).
        png = None if self.drawing is None else png_bytes(self.drawing)
        return types.SimpleNamespace(image_bytes=png, json_data=None)


@pytest.fixture
def canvas(monkeypatch) -> FakeCanvas:
    fake = FakeCanvas()
    module = types.ModuleType("streamlit_drawable_canvas")
    module.st_canvas = fake.st_canvas
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", module)
    return fake


@pytest.fixture
def pet_checkpoint() -> Path:
    paths = [checkpoints.checkpoint_path(spec) for spec in checkpoints.PET_MODELS]
    require(all(p.exists() for p in paths), f"photo checkpoints {paths} not all trained yet")
    return checkpoints.checkpoint_path(BY_KEY["pet_cnn"])


@pytest.fixture
def digits_only_dir(tmp_path: Path, monkeypatch) -> Path:
    """A checkpoint folder holding the digit models but no cats-vs-dogs model."""
    source = checkpoints.checkpoint_dir()
    for spec in checkpoints.DIGIT_MODELS:
        (tmp_path / spec.filename).symlink_to(source / spec.filename)
        # Its saved full-test-set evaluation and training history go with it, as in checkpoints/.
        for extra in (eval_path(spec.filename).name, history_path(spec.filename).name):
            (tmp_path / extra).symlink_to(source / extra)
    monkeypatch.setenv(checkpoints.CHECKPOINT_ENV, str(tmp_path))
    return tmp_path


def page(module: str) -> AppTest:
    return AppTest.from_string(f"from app.{module} import render\nrender()\n", default_timeout=TIMEOUT)


def png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def load_error(data: bytes) -> str:
    """The user-facing message load_photo gives for these bytes (the pages must show exactly this)."""
    with pytest.raises(InvalidImageError) as caught:
        load_photo(data)
    return str(caught.value)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


# --- draw page ------------------------------------------------------------------------------------------
@pytest.mark.slow  # ~5 s: the whole app through app/navigation.py, loading every model first
def test_main_opens_on_the_draw_page_with_a_prompt(canvas: FakeCanvas) -> None:
    at = AppTest.from_file(str(ROOT / "app" / "navigation.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "Draw a digit"
    assert len(at.metric) == 0  # an empty canvas shows a prompt, not a prediction
    assert "Draw a digit from 0 to 9" in texts(at.info)
    assert len(at.success) == 0 and len(at.warning) == 0  # no verdict either
    assert canvas.calls and canvas.calls[-1]["width"] == 280 and canvas.calls[-1]["stroke_color"] == "#FFFFFF"


def test_drawing_a_one_shows_every_model(canvas: FakeCanvas) -> None:
    canvas.drawing = stroke_canvas([(150, 40), (146, 140), (142, 240)], 20)
    at = page("draw_page").run()
    assert not at.exception
    shown = metrics(at)
    assert list(shown) == ["NumPy MLP", "PyTorch MLP", "Digit CNN"]
    assert shown == {"NumPy MLP": "1", "PyTorch MLP": "1", "Digit CNN": "1"}
    assert all(m.delta.endswith("% sure") and "100%" not in m.delta for m in at.metric)
    assert texts(at.success) == "All 3 models say 1." and len(at.warning) == 0
    assert "Server time for preprocessing and all 3 models" in texts(at.caption)
    assert at.subheader.values == ["What the models see"]
    # "Inside the networks" is computed only once opened, and activations only for the open tab's model.
    assert [e.label for e in at.expander][-2:] == ["Inside the networks", "Attack it"]
    assert len(at.tabs) == 0 and not [c for c in image_captions(at) if ": why " in c]
    at.session_state["inside_open"] = True
    at.run()
    assert not at.exception and len(at.tabs) == 3  # one tab of activation grids per model
    assert len([c for c in image_captions(at) if ": why " in c]) == 3
    assert [c.split(" · ")[0] for c in image_captions(at) if "yellow =" in c] == ["hidden1", "hidden2"]


def test_pen_width_and_clear_button(canvas: FakeCanvas) -> None:
    canvas.drawing = stroke_canvas([(150, 40), (142, 240)], 20)
    at = page("draw_page").run()
    at.slider(key="stroke_width").set_value(30).run()
    assert canvas.calls[-1]["stroke_width"] == 30
    key_before = canvas.calls[-1]["key"]
    canvas.drawing = None  # a fresh canvas has no drawing
    at.button(key="clear_canvas").click().run()
    assert not at.exception
    assert canvas.calls[-1]["key"] != key_before  # a new key mounts an empty canvas
    assert len(at.metric) == 0 and "Draw a digit from 0 to 9" in texts(at.info)


def test_verdict_for_a_digit_and_for_a_cross(canvas: FakeCanvas) -> None:
    """A re-drawn MNIST 1: every model reads it and the page confirms they agree. A big X is no digit: every
    model has a "not a digit" output, and each says so in plain words instead of a confident digit."""
    images, labels, _ = load_digit_sample()
    canvas.drawing = draw_on_canvas(images[5])
    at = page("draw_page").run()
    assert set(metrics(at).values()) == {str(labels[5])}
    assert f"All 3 models say {labels[5]}." in texts(at.success)
    canvas.drawing = stroke_canvas([(60, 60), (220, 220), (60, 220), (220, 60)], 30)
    at = page("draw_page").run()
    assert not at.exception and not at.success
    refusal = next(str(w.value) for w in at.warning if "doesn't look like a digit" in str(w.value))
    assert refusal.startswith("This doesn't look like a digit to any of the models")
    assert set(metrics(at).values()) == {"?"}


def test_pick_a_sample_digit(canvas: FakeCanvas, digit_classifiers) -> None:
    images, labels, _ = load_digit_sample()
    at = page("draw_page").run()
    at.radio(key="digit_source").set_value("Pick a real MNIST digit").run()
    at.number_input(key="sample_index").set_value(123).run()
    assert not at.exception
    expected = {clf.name: str(int(clf.predict(images[123])[0])) for clf in digit_classifiers.values()}
    assert metrics(at) == expected
    assert f"a {labels[123]}." in texts(at.caption)
    at.button(key="random_sample").click().run()
    assert not at.exception and len(at.metric) == 3


def test_upload_a_handwritten_digit(canvas: FakeCanvas) -> None:
    images, labels, _ = load_digit_sample()
    index = int(np.flatnonzero(labels == 3)[0])
    paper = 255 - np.kron(images[index], np.ones((10, 10), np.uint8))  # dark ink on white paper
    at = page("draw_page").run()
    at.radio(key="digit_source").set_value("Upload a picture").run()
    assert "Upload a picture of a single handwritten digit" in texts(at.info)
    at.file_uploader(key="digit_upload").upload("three.jpg", png_bytes(np.stack([paper] * 3, -1), "JPEG"),
                                                "image/jpeg").run()
    assert not at.exception
    assert metrics(at)["Digit CNN"] == "3"


def test_bad_and_blank_digit_uploads_show_messages(canvas: FakeCanvas) -> None:
    at = page("draw_page").run()
    at.radio(key="digit_source").set_value("Upload a picture").run()
    junk = b"\x89PNG but then nothing an image decoder can use" * 3
    at.file_uploader(key="digit_upload").upload("notes.png", junk, "image/png").run()
    assert not at.exception and len(at.metric) == 0
    assert texts(at.error) == f"Could not use this file: {load_error(junk)}"
    at.file_uploader(key="digit_upload").set_value(("blank.png", png_bytes(np.full((50, 50), 250, np.uint8)),
                                                    "image/png")).run()
    assert not at.exception and "looks blank" in texts(at.warning)


def test_missing_digit_checkpoint_keeps_the_others(canvas: FakeCanvas, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "digit_cnn.safetensors").symlink_to(checkpoints.checkpoint_dir() / "digit_cnn.safetensors")
    monkeypatch.setenv(checkpoints.CHECKPOINT_ENV, str(tmp_path))
    canvas.drawing = stroke_canvas([(150, 40), (142, 240)], 20)
    at = page("draw_page").run()
    assert not at.exception
    errors = texts(at.warning)  # a missing model is a warning: the page keeps working
    assert "python -m training.train numpy_mlp" in errors and "python -m training.train torch_mlp" in errors
    assert list(metrics(at)) == ["Digit CNN"]


# --- cats page ------------------------------------------------------------------------------------------
def expected_answers(photo: np.ndarray) -> dict[str, str]:
    """What each photo model answers for ``photo``, by display name: "cat", "dog" or "Neither?"."""
    from app.logic.pets import answer_of

    answers = {}
    for spec in checkpoints.PET_MODELS:
        clf = checkpoints.load_model(spec).classifier
        answer = answer_of(clf, photo, photo)
        answers[clf.name] = answer.label if answer.is_known else "Neither?"
    return answers


def test_pets_page_names_the_training_set_size(pet_checkpoint: Path) -> None:
    from app.pets_page import _intro
    from models import load_classifier

    clf = load_classifier(pet_checkpoint)
    images = clf.describe()["training"]["train_images"]
    at = page("pets_page").run()
    assert not at.exception
    assert f"3 networks trained on the same {images:,} photos" in at.caption[0].value
    clf.meta = {**clf.meta, "training": {}}  # an older checkpoint that does not record it
    assert _intro({"x": clf}).startswith("1 networks trained on the same photos of cats and dogs")


def test_pets_page_example_photo(pet_checkpoint: Path) -> None:
    """Three answers side by side for the first example; the two CNNs read every bundled photo right
    (tests/test_photo_models.py), the MLP answers what it answers on its own."""
    at = page("pets_page").run()
    assert not at.exception
    (first, label), (last, other) = pet_examples()[0], pet_examples()[-1]
    shown = metrics(at)
    assert list(shown) == ["Pet MLP", "Small Pet CNN", "Pet CNN"], shown
    assert shown == expected_answers(load_photo(first.read_bytes())) and shown["Pet CNN"] == label
    assert at.subheader.values == ["What each model sees", "Inside each network"]
    assert "32 × 32 for the MLP" in texts(at.caption) and "Grad-CAM colours" in texts(at.caption)
    assert "Saliency" in texts(at.caption) and len(at.tabs) == 3
    assert "Server time for all 3 models" in texts(at.caption)
    at.selectbox(key="pet_example").select_index(len(pet_examples()) - 1).run()
    assert not at.exception and metrics(at) == expected_answers(load_photo(last.read_bytes()))
    assert metrics(at)["Small Pet CNN"] == metrics(at)["Pet CNN"] == other


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP", "GIF"])
def test_pets_page_uploads(pet_checkpoint: Path, fmt: str) -> None:
    photo = np.asarray(Image.open(pet_examples()[0][0]).convert("RGB"))
    at = page("pets_page").run()
    at.radio(key="pet_source").set_value("Upload a photo").run()
    assert len(at.metric) == 0 and "Upload a photo of a cat or a dog" in texts(at.info)
    at.file_uploader(key="pet_upload").upload(f"pet.{fmt.lower()}", png_bytes(photo, fmt), "image/*").run()
    assert not at.exception
    assert metrics(at)["Pet CNN"] == pet_examples()[0][1]  # the photo's own label, in any format
    assert len(at.metric) == 3


def test_pets_page_says_neither_for_a_photo_of_something_else(pet_checkpoint: Path, not_pet_photo: Path) -> None:
    """A held-out photo of another kind of thing (no training or threshold saw its category): the Pet CNN says
    "Neither?" instead of a confident cat or dog, and the page explains the third output; a cat photo after it
    gets "cat" from both CNNs."""
    from models import load_classifier

    clf = load_classifier(pet_checkpoint)
    photo = load_photo(not_pet_photo.read_bytes())
    assert clf.unknown_score([photo])[0] > clf.unknown_threshold, not_pet_photo  # the model refuses it
    at = page("pets_page").run()
    at.radio(key="pet_source").set_value("Upload a photo").run()
    at.file_uploader(key="pet_upload").upload(not_pet_photo.name, not_pet_photo.read_bytes(), "image/jpeg").run()
    assert not at.exception and metrics(at) == expected_answers(photo) and metrics(at)[clf.name] == "Neither?"
    assert "third output, “neither”" in texts(at.caption)
    assert "This looks like neither a cat nor a dog to the " in texts(at.warning) and clf.name in texts(at.warning)
    cat = next(path for path, label in pet_examples() if label == "cat")
    at.file_uploader(key="pet_upload").set_value((cat.name, cat.read_bytes(), "image/jpeg")).run()
    assert metrics(at)["Small Pet CNN"] == metrics(at)[clf.name] == "cat"


def test_pets_page_bad_file_then_recovers(pet_checkpoint: Path) -> None:
    at = page("pets_page").run()
    at.radio(key="pet_source").set_value("Upload a photo").run()
    at.file_uploader(key="pet_upload").upload("cat.jpg", b"<html><body>not a cat</body></html>", "image/jpeg").run()
    assert not at.exception and len(at.metric) == 0
    assert texts(at.error) == f"Could not use this file: {load_error(b'<html><body>not a cat</body></html>')}"
    good = pet_examples()[0][0].read_bytes()
    at.file_uploader(key="pet_upload").set_value(("cat.jpg", good, "image/jpeg")).run()
    assert not at.exception and len(at.error) == 0 and len(at.metric) == 3


def test_missing_pet_checkpoints_show_the_training_commands(canvas: FakeCanvas, digits_only_dir: Path) -> None:
    at = page("pets_page").run()
    assert not at.exception and len(at.metric) == 0
    for spec in checkpoints.PET_MODELS:
        assert f"python -m training.train {spec.key}" in texts(at.warning)
    canvas.drawing = stroke_canvas([(150, 40), (142, 240)], 20)
    draw = page("draw_page").run()  # the digit pages keep working
    assert not draw.exception and len(draw.metric) == 3


def test_one_missing_photo_model_leaves_the_others(tmp_path: Path, monkeypatch) -> None:
    """Without the Pet MLP's checkpoint the page names its training command and shows the two CNNs."""
    source = checkpoints.checkpoint_dir()
    for spec in checkpoints.PET_MODELS[1:]:
        for name in (spec.filename, eval_path(spec.filename).name):
            (tmp_path / name).symlink_to(source / name)
    monkeypatch.setenv(checkpoints.CHECKPOINT_ENV, str(tmp_path))
    at = page("pets_page").run()
    assert not at.exception and f"python -m training.train {checkpoints.PET_MODELS[0].key}" in texts(at.warning)
    assert list(metrics(at)) == ["Small Pet CNN", "Pet CNN"] and "Both models say" in texts(at.success)
