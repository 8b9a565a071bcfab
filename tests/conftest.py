"""Shared fixtures: the committed checkpoints, the bundled samples, and the full datasets when present.

Tests that need the full datasets skip when they are absent, except in CI (CI=true), where a missing
dataset is a failure: CI has ../shared/data and nothing there may be skipped silently.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import load_classifier  # noqa: E402
from models.classifiers import Classifier  # noqa: E402
from models.registry import BY_KEY, models_for  # noqa: E402
from models.samples import load_digit_sample  # noqa: E402

CHECKPOINTS = ROOT / "checkpoints"
DIGIT_CHECKPOINTS = {m.key: CHECKPOINTS / m.filename for m in models_for("digits")}
PET_CHECKPOINTS = {m.key: CHECKPOINTS / m.filename for m in models_for("pets")}
PET_CHECKPOINT = CHECKPOINTS / BY_KEY["pet_cnn"].filename  # the deep one, the photo model tested most
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip locally when something optional is missing; fail in CI, where everything must be there."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the full datasets ``data``, so ``-m "not data"`` runs without them."""
    for item in items:
        if "data_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.data)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder with MNIST/ and cats_vs_dogs/ ($PLAYGROUND_DATA_DIR or ./data)."""
    path = Path(os.environ.get("PLAYGROUND_DATA_DIR") or ROOT / "data")
    require((path / "MNIST" / "raw").is_dir(), f"full datasets not found in {path} (set PLAYGROUND_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def not_pet_photo(data_dir: Path) -> Path:
    """The held-out photo of something else (first by path of the not-pets test split) that the pets-page
    tests show: a category no training or threshold saw."""
    from training.pet_data import not_pet_files

    return Path(not_pet_files(data_dir, "test")[0])


@pytest.fixture(scope="session")
def digit_sample() -> tuple[np.ndarray, np.ndarray]:
    images, labels, _ = load_digit_sample()
    return images, labels


@pytest.fixture(scope="session")
def digit_classifiers() -> dict[str, Classifier]:
    return {key: load_classifier(path) for key, path in DIGIT_CHECKPOINTS.items()}


@pytest.fixture(scope="session")
def pet_classifier() -> Classifier:
    return load_classifier(PET_CHECKPOINT)


@pytest.fixture(scope="session")
def photo_classifiers() -> dict[str, Classifier]:
    """Every photo model, by key, in table order."""
    return {key: load_classifier(path) for key, path in PET_CHECKPOINTS.items()}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served by ``streamlit run`` on a free port, for the tests of one module (its base URL); its log
    must show no traceback when they are done."""
    from benchmarks.server import running_app

    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with running_app(log=log) as url:
        yield url
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
