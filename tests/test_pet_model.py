"""The Pet CNN: the photo contract, Grad-CAM, speed, and the committed model's accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from models import load_classifier
from models.artifacts import eval_path
from models.checkpoint import load_checkpoint, save_checkpoint
from models.preprocessing import resize_photo
from models.samples import pet_examples
from tests.conftest import PET_CHECKPOINT
from uploads import load_photo

VAL_TARGET = 0.90
TEST_FLOOR = 0.97  # issue 10 aimed at 97.5% on test; the shipped model (98.00% since issue 26) must not fall below this


def photos() -> list[np.ndarray]:
    return [load_photo(path.read_bytes()) for path, _ in pet_examples()]


def test_contract_shapes_and_probabilities(pet_classifier) -> None:
    clf = pet_classifier
    assert clf.class_names == ["cat", "dog"] and isinstance(clf.name, str) and clf.name
    info = clf.describe()
    assert info["parameters"] > 0 and info["metrics"]["val_acc"] >= VAL_TARGET and info["training"]["wall_time_s"] > 0
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((200, 200), (97, 311), (480, 64), (1, 1))]
    p = clf.predict_proba(images)
    assert p.shape == (4, 2) and np.allclose(p.sum(1), 1) and (p >= 0).all()
    stacked = np.stack([images[0], images[0]])
    np.testing.assert_allclose(clf.predict_proba(stacked), clf.predict_proba([images[0]] * 2), rtol=1e-4, atol=1e-5)
    # One (H, W, 3) array is one photo. Alone or in a batch of 4, float32 sums may be ordered differently
    # (other kernels per batch size, thread count and instruction set): equal to float32 precision, not bits.
    np.testing.assert_allclose(clf.predict_proba(images[0]), p[:1], rtol=1e-4, atol=1e-5)


def test_uint8_and_float_photos_give_the_same_probabilities(pet_classifier) -> None:
    images = photos()[:3]
    np.testing.assert_allclose(pet_classifier.predict_proba([i.astype(np.float32) / 255 for i in images]),
                               pet_classifier.predict_proba(images), rtol=1e-4, atol=1e-6)


def test_training_and_app_decode_the_same_bytes_to_the_same_array(pet_classifier) -> None:
    from app.shared import photo_or_error
    from training.pet_data import decode

    side = pet_classifier.model.config.image_size
    for path, _ in pet_examples():
        in_app = photo_or_error(path.read_bytes())  # what the cats page hands the model
        np.testing.assert_array_equal(decode(str(path), side), resize_photo(in_app, side))


def test_inference_is_deterministic(pet_classifier) -> None:
    photo = photos()[0]
    a1, a2 = pet_classifier.activations([photo]), pet_classifier.activations([photo])
    for key in a1:
        np.testing.assert_array_equal(a1[key], a2[key])
    np.testing.assert_array_equal(pet_classifier.gradcam(photo), pet_classifier.gradcam(photo))


def test_activations_cover_every_conv_block(pet_classifier) -> None:
    acts = pet_classifier.activations(photos()[:2])
    blocks = [k for k in acts if k.startswith("block")]
    assert len(blocks) == len(pet_classifier.model.config.channels)
    for key, channels in zip(blocks, pet_classifier.model.config.channels):
        assert acts[key].ndim == 4 and acts[key].shape[:2] == (2, channels)


@pytest.mark.parametrize("shape", [(200, 200, 3), (97, 311, 3), (480, 64, 3), (33, 45), (60, 80, 4), (2, 2, 3)])
def test_gradcam_shape_and_range(pet_classifier, shape) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    for target in (None, 0, 1):
        cam = pet_classifier.gradcam(image, target=target)
        assert cam.shape == shape[:2] and cam.dtype == np.float32
        assert cam.min() >= 0 and cam.max() <= 1


def test_gradcam_rejects_a_bad_target(pet_classifier) -> None:
    with pytest.raises(ValueError, match="target"):
        pet_classifier.gradcam(photos()[0], target=2)


def test_gradcam_follows_the_target_class(pet_classifier) -> None:
    photo = photos()[0]
    cams = [pet_classifier.gradcam(photo, target=t) for t in (0, 1)]
    assert not np.allclose(cams[0], cams[1]), "cat and dog evidence should not be the same map"
    assert max(c.max() for c in cams) == pytest.approx(1.0)


def test_greyscale_and_rgba_are_converted(pet_classifier) -> None:
    photo = photos()[0]
    grey = np.asarray(Image.fromarray(photo).convert("L"))
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    p = pet_classifier.predict_proba([grey, grey[:, :, None], rgba, photo])
    np.testing.assert_allclose(p[0], p[1])
    np.testing.assert_allclose(p[2], p[3], atol=1e-6)  # opaque alpha changes nothing


def test_any_aspect_ratio_is_stretched_like_training(pet_classifier) -> None:
    photo = photos()[0]
    wide = np.asarray(Image.fromarray(photo).resize((400, 150)))
    side = pet_classifier.model.config.image_size
    assert resize_photo(wide, side).shape == (side, side, 3)
    assert pet_classifier.predict_proba([wide]).shape == (1, 2)


def test_checkpoint_round_trip(tmp_path, pet_classifier) -> None:
    tensors, meta = load_checkpoint(PET_CHECKPOINT)
    copy = load_classifier(save_checkpoint(tmp_path / "pet.safetensors", tensors, meta))
    images = photos()[:3]
    np.testing.assert_array_equal(copy.predict_proba(images), pet_classifier.predict_proba(images))
    np.testing.assert_array_equal(copy.gradcam(images[0]), pet_classifier.gradcam(images[0]))


def test_accuracy_on_bundled_examples(pet_classifier) -> None:
    examples = pet_examples()
    assert len(examples) == 5
    labels = np.array([pet_classifier.class_names.index(c) for _, c in examples])
    accuracy = (pet_classifier.predict(photos()) == labels).mean()
    assert accuracy >= 0.8, f"{accuracy:.2f} on the bundled photos"


@pytest.fixture(scope="module")
def held_out(pet_classifier, data_dir) -> dict[str, np.ndarray]:
    """Photos no training, epoch choice, temperature or threshold saw: the cats-vs-dogs test split and the
    non-pet categories kept for test, with the model's outputs on them."""
    from training.evaluate import load_eval_set, logits_of, unknown_sets

    _, known, labels = load_eval_set(pet_classifier, data_dir, sample=False, split="test")
    unknown = np.concatenate(list(unknown_sets(pet_classifier, data_dir, "test")[2].values()))
    # One forward pass per photo; probabilities and "neither" scores both come from the logits
    known_logits = logits_of(pet_classifier, known, 200, show_progress=False)
    unknown_logits = logits_of(pet_classifier, unknown, 200, show_progress=False)
    return {"labels": labels, "probs": pet_classifier.proba_of(known_logits),
            "known_scores": pet_classifier.unknown_score_of(known_logits),
            "unknown_scores": pet_classifier.unknown_score_of(unknown_logits)}


@pytest.mark.slow
def test_test_accuracy_and_calibration(pet_classifier, held_out) -> None:
    """Issue 10's figures on the 1,748 test photos: accuracy (target 97.5%; this floor is what the shipped model
    keeps), and the calibrated probabilities' expected calibration error (15 bins) at most 1.5%."""
    from models.calibration import expected_calibration_error

    labels, probs = held_out["labels"], held_out["probs"]
    assert len(labels) == 1748
    accuracy = (probs.argmax(1) == labels).mean()
    assert accuracy >= TEST_FLOOR
    # Measured again here, independently of training.evaluate: the committed report says the same
    saved = json.loads(eval_path(PET_CHECKPOINT).read_text())
    assert accuracy == pytest.approx(saved["accuracy"], abs=1e-3)
    assert len(saved["mistakes"]) == round((1 - accuracy) * len(labels))  # the photos the compare page shows
    assert expected_calibration_error(probs, labels) <= 0.015


@pytest.mark.slow
def test_neither_a_cat_nor_a_dog_on_held_out_photos(pet_classifier, held_out) -> None:
    """The "neither" score tells photos of other things (categories no training saw) from cat and dog photos:
    AUROC at least 0.93; at the stored threshold at least 80% of them caught, at most 3% of pets refused."""
    from models.metrics import auroc

    known, unknown = held_out["known_scores"], held_out["unknown_scores"]
    assert len(unknown) >= 500
    assert auroc(known, unknown) >= 0.93
    threshold = pet_classifier.unknown_threshold
    assert (unknown > threshold).mean() >= 0.80
    assert (known > threshold).mean() <= 0.03
