"""The three photo models (Pet MLP, Small Pet CNN, Pet CNN) through the classifier contract: shapes and
probabilities, exact float input, the MLP's input gradient against finite differences, Grad-CAM, the stored
temperature and "neither" threshold, and issue 25's figures on the 1,748 test photos (against each committed
report). The Pet CNN's own details are in tests/test_pet_model.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.artifacts import eval_path
from models.calibration import expected_calibration_error
from models.samples import pet_examples
from tests.conftest import PET_CHECKPOINTS
from uploads import load_photo

# Issue 25's bars on the test photos: accuracy at least, ECE after the temperature at most, training minutes at most
TARGETS = {"pet_mlp": (0.65, 0.03, 15), "pet_small_cnn": (0.85, 0.02, 30), "pet_cnn": (0.9725, 0.015, None)}
SIDES = {"pet_mlp": 32, "pet_small_cnn": 64, "pet_cnn": 128}
MODELS = list(PET_CHECKPOINTS)


def photos() -> list[np.ndarray]:
    return [load_photo(path.read_bytes()) for path, _ in pet_examples()]


def test_the_table_lists_the_three_photo_models() -> None:
    assert MODELS == list(TARGETS) == list(SIDES)


@pytest.mark.parametrize("key", MODELS)
def test_contract(key: str, photo_classifiers) -> None:
    clf = photo_classifiers[key]
    assert clf.class_names == ["cat", "dog"] and clf.input_size == SIDES[key]
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((200, 200), (97, 311), (480, 64), (1, 1))]
    p = clf.predict_proba(images)
    assert p.shape == (4, 2) and np.allclose(p.sum(1), 1) and (p >= 0).all()
    np.testing.assert_array_equal(p, clf.predict_proba(images))  # deterministic
    acts = clf.activations(images)
    assert len(acts) >= 3 and all(a.shape[0] == 4 for a in acts.values())
    assert acts["logits"].shape == (4, 3)  # cat, dog and the "neither" output
    scores = clf.unknown_score(images)
    assert scores.shape == (4,) and np.isfinite(scores).all() and np.isfinite(clf.unknown_threshold)


@pytest.mark.parametrize("key", MODELS)
def test_uint8_and_float_photos_agree(key: str, photo_classifiers) -> None:
    clf, images = photo_classifiers[key], photos()[:3]
    np.testing.assert_allclose(clf.predict_proba([i.astype(np.float32) / 255 for i in images]),
                               clf.predict_proba(images), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("key", MODELS)
def test_temperature_and_threshold_were_fitted_on_validation(key: str, photo_classifiers) -> None:
    info = photo_classifiers[key].describe()
    cal, unknown = info["calibration"], info["unknown"]
    assert cal["temperature"] > 0 and "validation" in cal["fitted_on"]
    # The threshold refuses about 1% of the validation cats and dogs, and the score tells other things apart
    # far better than chance on validation (the MLP least: it sees 3,072 numbers, not shapes).
    assert "validation" in unknown["chosen_on"] and unknown["val_known_refused"] == pytest.approx(0.01, abs=0.005)
    assert unknown["val_auroc"] > 0.8 and unknown["val_unknown_caught"] > 0.25


def test_the_mlp_input_gradient_matches_autograd_and_finite_differences(photo_classifiers) -> None:
    """d log p(target) / d pixel from the hand-written backward pass (through the network, the temperature and
    the per-channel standardisation, in row-column-channel order) against torch autograd of the same sum in
    float64, and against central differences of the model's own probabilities along random directions."""
    import torch

    clf = photo_classifiers["pet_mlp"]
    rng = np.random.default_rng(3)
    x = rng.uniform(0.1, 0.9, (3, 32, 32, 3)).astype(np.float32)
    target = np.array([0, 1, 0])
    grad = clf.input_gradient(x, target)
    assert grad.shape == x.shape and np.isfinite(grad).all()

    pixels = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    norm = clf.meta["normalization"]
    h = ((pixels - torch.tensor(norm["mean"])) / torch.tensor(norm["std"])).reshape(3, -1)
    for layer, (w, b) in enumerate(zip(clf.model.weights, clf.model.biases)):
        h = h @ torch.tensor(w, dtype=torch.float64) + torch.tensor(b, dtype=torch.float64)
        h = torch.relu(h) if layer < len(clf.model.weights) - 1 else h
    log_p = torch.log_softmax(h[:, :2] / clf.temperature, dim=1)[torch.arange(3), torch.from_numpy(target)]
    log_p.sum().backward()
    np.testing.assert_allclose(grad, pixels.grad.numpy(), rtol=1e-3, atol=1e-4 * np.abs(grad).max())

    direction = rng.standard_normal(x.shape).astype(np.float32)
    direction /= np.abs(direction).max()
    eps = 1e-3  # a float32 network: smaller steps drown in rounding, larger ones cross more ReLU kinks

    def log_prob(z: np.ndarray) -> np.ndarray:
        return np.log(clf.predict_proba(z)[np.arange(3), target])

    numeric = (log_prob(x + eps * direction) - log_prob(x - eps * direction)) / (2 * eps)
    analytic = (grad * direction).reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(analytic, numeric, atol=0.01 * np.abs(analytic).max())


@pytest.mark.parametrize("key", ["pet_small_cnn", "pet_cnn"])
def test_the_cnns_gradcam(key: str, photo_classifiers) -> None:
    clf = photo_classifiers[key]
    for shape in ((200, 200, 3), (97, 311, 3), (33, 45)):
        cam = clf.gradcam(np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8))
        assert cam.shape == shape[:2] and cam.dtype == np.float32 and 0 <= cam.min() and cam.max() <= 1
    photo = photos()[0]
    assert not np.allclose(clf.gradcam(photo, target=0), clf.gradcam(photo, target=1))


@pytest.mark.parametrize("key", ["pet_small_cnn", "pet_cnn"])
def test_the_cnns_read_the_bundled_photos_right(key: str, photo_classifiers) -> None:
    clf = photo_classifiers[key]
    labels = [clf.class_names.index(c) for _, c in pet_examples()]
    assert list(clf.predict(photos())) == labels


@pytest.mark.parametrize("key", ["pet_mlp", "pet_small_cnn"])  # the Pet CNN's time is issue 15's
def test_training_time_on_two_cores(key: str, photo_classifiers) -> None:
    training = photo_classifiers[key].describe()["training"]
    assert training["wall_time_s"] <= TARGETS[key][2] * 60 and "2 threads" in training["device"]


@pytest.mark.slow
@pytest.mark.parametrize("key", ["pet_mlp", "pet_small_cnn"])  # the Pet CNN's: tests/test_pet_model.py
def test_test_accuracy_and_calibration(key: str, photo_classifiers, data_dir) -> None:
    """On the 1,748 test photos, measured here independently of training.evaluate: accuracy and ECE after the
    temperature within issue 25's bars, and the committed report says the same."""
    from training.evaluate import load_eval_set, logits_of

    clf = photo_classifiers[key]
    _, images, labels = load_eval_set(clf, data_dir, sample=False, split="test")
    probs = clf.proba_of(logits_of(clf, images, 250, show_progress=False))
    accuracy, floor_acc, top_ece = (probs.argmax(1) == labels).mean(), *TARGETS[key][:2]
    assert len(labels) == 1748 and accuracy >= floor_acc
    assert expected_calibration_error(probs, labels) <= top_ece
    saved = json.loads(eval_path(PET_CHECKPOINTS[key]).read_text())
    assert saved["accuracy"] == pytest.approx(accuracy, abs=1e-3)
    assert len(saved["mistakes"]) == round((1 - accuracy) * len(labels))


@pytest.fixture(scope="module")
def outside(data_dir) -> dict:
    """The outside photos, decoded once for the three models: pets_outside_dev's with their labels and sources,
    and the everyday photos of the test categories."""
    from training.outside import outside_pets
    from training.pet_data import not_pet_files

    files, labels, sources = outside_pets(data_dir)
    everyday = not_pet_files(data_dir, "test", "not_pets_everyday")
    return {"pets": [load_photo(Path(f).read_bytes()) for f in files], "labels": labels, "sources": sources,
            "everyday": [load_photo(Path(f).read_bytes()) for f in everyday]}


@pytest.mark.slow
@pytest.mark.parametrize("key", MODELS)
def test_the_outside_figures_in_the_report(key: str, photo_classifiers, outside) -> None:
    """The committed report's figures on photos from outside Kaggle (pets_outside_dev: measuring only) and on the
    everyday photos, re-measured here from the files themselves through the public contract."""
    from models.calibration import expected_calibration_error as ece

    clf, labels, photos, everyday = photo_classifiers[key], outside["labels"], outside["pets"], outside["everyday"]
    assert len(photos) == 861 and set(outside["sources"]) == {"fyxx", "kaiyu", "nnna", "taisei", "ty70"}
    probs = np.concatenate([clf.predict_proba(photos[s : s + 200]) for s in range(0, len(photos), 200)])
    saved = json.loads(eval_path(PET_CHECKPOINTS[key]).read_text())["outside"]
    assert saved["pets"]["accuracy"] == pytest.approx((probs.argmax(1) == labels).mean(), abs=2e-3)
    assert saved["pets"]["ece"] == pytest.approx(ece(probs, labels), abs=2e-3)
    caught = np.concatenate([clf.unknown_score(everyday[s : s + 200]) for s in range(0, len(everyday), 200)])
    assert saved["everyday"]["n"]["test"] == len(everyday) == 330
    assert saved["everyday"]["caught"]["test"] == pytest.approx((caught > clf.unknown_threshold).mean(), abs=4e-3)


def test_squaring_a_photo_by_crop_or_letterbox() -> None:
    """evaluate --aspect: a wide or tall photo's centre square, or the photo on a grey square; stretch keeps it."""
    from training.outside import squared

    wide = np.arange(4 * 8 * 3, dtype=np.uint8).reshape(4, 8, 3)
    np.testing.assert_array_equal(squared(wide, "crop"), wide[:, 2:6])
    np.testing.assert_array_equal(squared(wide.transpose(1, 0, 2), "crop"), wide.transpose(1, 0, 2)[2:6])
    boxed = squared(wide, "letterbox")
    assert boxed.shape == (8, 8, 3)
    np.testing.assert_array_equal(boxed[2:6], wide)
    assert (boxed[:2] == 128).all() and (boxed[6:] == 128).all()
    assert squared(wide, "stretch") is wide


def test_flip_averaging_answers_with_the_mean_of_the_photo_and_its_mirror_image() -> None:
    """CNNConfig.flip_average: in eval mode the logits are the mean over the image and its mirror image (so a
    photo and its mirror image get the same answer); the layers are the image's own; training is unchanged."""
    import dataclasses

    import torch

    from models.cnn import CNN, CNNConfig

    config = CNNConfig(in_channels=3, image_size=32, channels=(4, 8), num_classes=3, head="gap", dropout=0.0)
    plain = CNN(config).eval()
    averaged = CNN(dataclasses.replace(config, flip_average=True)).eval()
    averaged.load_state_dict(plain.state_dict())
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        expected = (plain(x) + plain(x.flip(-1))) / 2
        logits, acts = averaged.forward_with_activations(x)
        torch.testing.assert_close(logits, expected)
        torch.testing.assert_close(averaged(x.flip(-1)), expected, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(plain(x), expected, atol=1e-3)
        torch.testing.assert_close(acts["block1"], plain.forward_with_activations(x)[1]["block1"])
        torch.testing.assert_close(averaged.train()(x), plain.train()(x))
    assert "mirror image" in averaged.config.summary() and "mirror" not in config.summary()
