"""Learning from visitors' drawings: ``--extra-data`` on the digit CLIs and on ``training.evaluate``.

A small feedback store in tmp_path (SQLite) holds bundled MNIST test digits as "drawings" and some noise
labelled "not a digit". The split is checked to be fixed and disjoint, the same from the database and from
its exports, and never trained on; evaluate reports accuracy on the held-out slice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from feedback import NOT_A_DIGIT, FeedbackStore, RateLimiter
from models.samples import load_digit_sample
from tests.conftest import DIGIT_CHECKPOINTS
from tests.test_feedback_store import NO_LIMIT, STROKES
from tests.test_training import stops
from training import evaluate, feedback
from training import train as train_cli
from training.digit_data import extra_data, held_out
from training.train import build_parser

DIGITS = slice(None, None, 12)  # 42 of the 500 bundled digits, every class
NOISE = 8


@pytest.fixture(scope="module")
def drawings() -> tuple[np.ndarray, np.ndarray]:
    images, labels, _ = load_digit_sample()
    noise = np.random.default_rng(0).integers(0, 256, (NOISE, 28, 28), dtype=np.uint8)
    return (np.concatenate([images[DIGITS], noise]),
            np.concatenate([labels[DIGITS], np.full(NOISE, NOT_A_DIGIT)]))


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, drawings: tuple[np.ndarray, np.ndarray]) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'feedback.sqlite3'}"
    with FeedbackStore(url, limiter=RateLimiter(**NO_LIMIT)) as store:
        for image, label in zip(*drawings):
            store.add(image, STROKES, int(label), {}, session_id="visitor")
    return url


def as_set(images: np.ndarray) -> set[bytes]:
    return {image.tobytes() for image in images}


def test_held_out_slice_is_fixed_and_disjoint(url: str, drawings: tuple[np.ndarray, np.ndarray]) -> None:
    first, again = extra_data(url), extra_data(url)
    for a, b in zip((*first.train, *first.held_out), (*again.train, *again.held_out)):
        np.testing.assert_array_equal(a, b)
    train, held = as_set(first.train[0]), as_set(first.held_out[0])
    assert not train & held and train | held == as_set(drawings[0])
    # About one in five, with digits and "not a digit" on both sides (these drawings happen to split so).
    assert 0.1 < len(held) / len(drawings[0]) < 0.3
    assert {NOT_A_DIGIT} < set(first.held_out[1]) and {NOT_A_DIGIT} < set(first.train[1])
    # Decided by each drawing alone, so a new drawing never moves an old one across the split.
    np.testing.assert_array_equal(held_out(drawings[0][::-1]), held_out(drawings[0])[::-1])


def test_exports_split_like_the_database(url: str, tmp_path: Path) -> None:
    for fmt in ("idx", "imagefolder"):  # both into one folder: IDX for the digits, PNGs for "not a digit"
        assert feedback.main(["export", "--format", fmt, "--out", str(tmp_path), "--db-url", url]) == 0
    from_db, from_export = extra_data(url), extra_data(str(tmp_path))
    for part in ("train", "held_out"):
        db_x, db_y = getattr(from_db, part)
        ex_x, ex_y = getattr(from_export, part)
        assert sorted(zip(map(bytes, db_x), db_y.tolist())) == sorted(zip(map(bytes, ex_x), ex_y.tolist()))


# With unknowns: MNIST re-drawn and the not-a-digit drawings are made (seconds, on a cold cache).
@pytest.mark.parametrize("unknowns", [pytest.param(True, marks=pytest.mark.slow), False])
def test_training_mixes_in_only_the_training_slice(url: str, data_dir: Path, unknowns: bool) -> None:
    from training.digit_data import data_from_args

    flag = "--unknowns" if unknowns else "--no-unknowns"
    args = build_parser("digit_cnn").parse_args(["digit_cnn", "--limit", "64", flag, "--extra-data", url,
                                                 "--data-dir", str(data_dir)])
    data, split = data_from_args(args), extra_data(url)
    seen = as_set(data.train[0])
    assert not seen & as_set(split.held_out[0])
    kept = split.train[1] != NOT_A_DIGIT if not unknowns else slice(None)
    assert as_set(split.train[0][kept]) <= seen
    assert (NOT_A_DIGIT in set(data.train[1])) == unknowns
    assert data.extra == {"source": url, "train_items": int(np.size(split.train[1][kept])),
                          "held_out_items": len(split.held_out[1])}


def test_dry_run_records_the_extra_data(url: str, tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "digit_cnn.safetensors"
    # A narrow CNN (what is tested is the record, not the model), in this process.
    train_cli.main(["digit_cnn", "--dry-run", "--no-progress", "--no-unknowns", "--channels", "4", "8", "8",
                    "--extra-data", url, "--out", str(out), "--data-dir", str(data_dir)])
    from models import load_classifier

    split = extra_data(url)  # --no-unknowns: only its drawings labelled 0-9 were trained on
    assert load_classifier(out).describe()["training"]["extra_data"] == {
        "source": url, "train_items": int((split.train[1] != NOT_A_DIGIT).sum()),
        "held_out_items": len(split.held_out[1])}


def test_evaluate_reports_the_held_out_slice(url: str, tmp_path: Path, capsys) -> None:
    report = tmp_path / "report.json"
    evaluate.main([str(DIGIT_CHECKPOINTS["digit_cnn"]), "--extra-data", url, "--no-progress", "--json", str(report)])
    held = extra_data(url).held_out[1]
    out = json.loads(report.read_text())
    assert "held-out" in out["dataset"] and out["n"] == int((held != NOT_A_DIGIT).sum())
    assert out["accuracy"] > 0.8  # the shipped CNN on MNIST test digits
    assert out["unknown"]["n_unknown"] == {"held-out drawings labelled not a digit": int((held == NOT_A_DIGIT).sum())}
    assert "accuracy" in capsys.readouterr().out


def test_a_store_without_drawings_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert stops(evaluate.main, [str(DIGIT_CHECKPOINTS["digit_cnn"]), "--extra-data", str(tmp_path)]) == 2
    assert "no drawings" in capsys.readouterr().err
