"""The compare page's logic (app/logic): the model table, latency, the sample evaluation, saved evaluation reports,
training histories, first-layer weights, and the charts drawn from them. Plain Python, no Streamlit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.logic import charts, checkpoints, galleries, latency, reports, tables, weights
from models.checkpoint import sha256_of
from models.registry import MODELS
from tests.conftest import ROOT


# --- the table, the sample and the reports --------------------------------------------------------------
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


class Recorder:
    """A stand-in classifier that keeps the inputs of each call."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def predict_proba(self, inputs: list[int]) -> None:
        self.calls.append(list(inputs))


def test_latency_is_the_median_of_timed_single_predictions() -> None:
    model = Recorder()
    # Start and end of each of the 3 timed calls, in seconds: 500, 250 and 750 ms.
    clock = iter([0.0, 0.5, 1.0, 1.25, 2.0, 2.75]).__next__
    assert latency.measure_latency(model, [7, 8], repeats=3, clock=clock) == 500
    assert model.calls == [[7], [7], [8], [7]]  # a warm-up, then one input per call, cycling through them


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


# --- charts ---------------------------------------------------------------------------------------------
def rows(spec: dict) -> list[dict]:
    """The data rows of a chart's Vega-Lite spec (Altair keeps one dataset per chart)."""
    (data,) = spec["datasets"].values()
    return data


def test_probability_chart_draws_each_model_s_probability_for_each_digit() -> None:
    probabilities = {"A": np.arange(10) / 45, "B": np.eye(10)[3]}  # A rises from 0 to 0.2; B is sure of 3
    spec = charts.probability_chart(probabilities).to_dict()
    assert rows(spec) == [{"digit": str(d), "model": name, "probability": float(p[d])}
                          for name, p in probabilities.items() for d in range(10)]
    enc = spec["encoding"]
    assert spec["mark"] == {"type": "bar"} and spec["height"] == 260
    assert (enc["x"]["field"], enc["x"]["type"], enc["x"]["title"]) == ("digit", "nominal", "digit")
    assert enc["xOffset"] == {"field": "model", "sort": ["A", "B"], "type": "nominal"}  # bars in the models' order
    assert (enc["color"]["field"], enc["color"]["sort"]) == ("model", ["A", "B"])
    assert enc["y"] == {"axis": {"format": "%"}, "field": "probability", "scale": {"domain": [0, 1]},
                        "title": "probability", "type": "quantitative"}
    # The draw page's ready spec: the same chart without its data, which the page passes beside it.
    ready = charts.probability_spec(("A", "B"))
    assert ready == {k: v for k, v in spec.items() if k not in ("data", "datasets")}
    assert charts.probability_frame(probabilities).to_pylist() == rows(spec)


def test_confusion_chart_counts_each_cell() -> None:
    matrix = np.array([[5, 1], [0, 8]])  # rows: true class, columns: predicted
    spec = charts.confusion_chart(matrix, ["cat", "dog"], "Mistakes").to_dict()
    assert [(r["true"], r["predicted"], r["count"]) for r in rows(spec)] == [
        ("cat", "cat", 5), ("cat", "dog", 1), ("dog", "cat", 0), ("dog", "dog", 8)]
    cells, text = spec["layer"]
    assert cells["title"] == "Mistakes" and cells["mark"] == {"type": "rect"}
    assert cells["encoding"]["color"]["scale"] == {"scheme": "blues", "type": "symlog", "domain": [0, 8]}
    assert (cells["encoding"]["x"]["field"], cells["encoding"]["y"]["field"]) == ("predicted", "true")
    assert text["encoding"]["text"]["condition"]["test"] == "(datum.count > 0)"  # empty cells stay blank
    # White text beyond 60% of the colour scale: log1p(count) > 0.6 log1p(8), i.e. counts over expm1(1.318) = 2.7
    assert text["encoding"]["color"]["condition"] == {"test": "(datum.count > 2)", "value": "white"}
    big = charts.confusion_chart(np.array([[624, 250], [261, 613]]), ["cat", "dog"], "MLP").to_dict()
    assert big["layer"][1]["encoding"]["color"]["condition"]["test"] == "(datum.count > 46)"  # 250 is dark enough


def test_per_class_chart_zooms_to_the_lowest_accuracy() -> None:
    reports_ = {"m1": {"per_class_accuracy": {"0": 0.95, "1": 0.82}}, "m2": {"per_class_accuracy": {"0": 0.99}}}
    spec = charts.per_class_chart(reports_).to_dict()
    assert [(r["model"], r["class"], r["accuracy"]) for r in rows(spec)] == [
        ("m1", "0", 0.95), ("m1", "1", 0.82), ("m2", "0", 0.99)]
    assert spec["encoding"]["y"]["scale"] == {"domain": [0.8, 1]}  # 0.82 rounded down to a twentieth
    assert spec["encoding"]["x"]["title"] == "digit" and spec["encoding"]["xOffset"]["sort"] == ["m1", "m2"]
    pets = charts.per_class_chart({"pet": {"per_class_accuracy": {"cat": 0.95, "dog": 0.94}}}, "class").to_dict()
    assert pets["encoding"]["x"]["title"] == "class" and [r["class"] for r in rows(pets)] == ["cat", "dog"]
    assert pets["encoding"]["y"]["scale"] == {"domain": [0.9, 1]}  # never above 0.9


def test_history_chart_draws_one_metric() -> None:
    history = pd.DataFrame([{"epoch": e, "metric": m, "split": "training", "value": v}
                            for e, m, v in ((1, "loss", 0.5), (1, "accuracy", 0.9), (2, "loss", 0.25))])
    loss = charts.history_chart(history, "loss", "Loss").to_dict()
    assert [(r["epoch"], r["value"]) for r in rows(loss)] == [(1, 0.5), (2, 0.25)]
    assert loss["title"] == "Loss" and loss["mark"] == {"type": "line", "point": True}
    assert loss["encoding"]["y"]["scale"] == {"type": "log"} and loss["encoding"]["color"]["field"] == "split"
    accuracy = charts.history_chart(history, "accuracy", "Accuracy").to_dict()
    assert [r["value"] for r in rows(accuracy)] == [0.9] and accuracy["encoding"]["y"]["scale"] == {"zero": False}


def test_class_probability_chart() -> None:
    probabilities = {"A": np.array([0.25, 0.75]), "B": np.array([1.0, 0.0])}
    spec = charts.class_probability_chart(["cat", "dog"], probabilities).to_dict()
    assert rows(spec) == [{"class": "cat", "model": "A", "probability": 0.25},
                          {"class": "dog", "model": "A", "probability": 0.75},
                          {"class": "cat", "model": "B", "probability": 1.0},
                          {"class": "dog", "model": "B", "probability": 0.0}]
    assert spec["encoding"]["x"]["scale"] == {"domain": [0, 1]} and spec["encoding"]["y"]["field"] == "class"
    assert spec["encoding"]["yOffset"]["field"] == "model" and spec["encoding"]["color"]["sort"] == ["A", "B"]


def test_photos_every_model_gets_wrong() -> None:
    mistakes = {"A": [{"file": "dog/3.jpg"}, {"file": "cat/1.jpg"}, {"file": "cat/2.jpg"}],
                "B": [{"file": "cat/1.jpg"}, {"file": "dog/3.jpg"}],
                "C": [{"file": "dog/3.jpg"}, {"file": "cat/1.jpg"}]}
    assert galleries.wrong_for_every_model(mistakes) == ["dog/3.jpg", "cat/1.jpg"]  # in A's order
    assert galleries.wrong_for_every_model({**mistakes, "D": []}) == []
    assert galleries.wrong_for_every_model({}) == []


def test_photo_thumbnail(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (400, 200), (200, 30, 30)).save(tmp_path / "wide.jpg")
    thumb = galleries.photo_thumbnail(tmp_path / "wide.jpg", side=112)
    assert thumb is not None and thumb.shape == (56, 112, 3) and thumb.dtype == np.uint8
    assert galleries.photo_thumbnail(tmp_path / "missing.jpg") is None


def test_photo_mistakes_list_every_wrong_answer_most_confident_first(tmp_path: Path) -> None:
    from training.evaluate import photo_mistakes

    for cls in ("cat", "dog"):
        (tmp_path / "cats_vs_dogs" / "test" / cls).mkdir(parents=True)
        for i in range(2):
            (tmp_path / "cats_vs_dogs" / "test" / cls / f"{cls}.{i}.jpg").write_bytes(b"")
    clf = type("Clf", (), {"class_names": ["cat", "dog"]})()
    probabilities = np.array([[0.9, 0.1], [0.3, 0.7], [0.8, 0.2], [0.45, 0.55]])  # cat.0 cat.1 dog.0 dog.1
    found = photo_mistakes(clf, probabilities, np.array([0, 0, 1, 1]), tmp_path, "test")
    assert found == [{"file": "dog/dog.0.jpg", "label": "dog", "answer": "cat", "confidence": 0.8},
                     {"file": "cat/cat.1.jpg", "label": "cat", "answer": "dog", "confidence": 0.7}]


def test_outside_table_reads_the_reports_outside_section() -> None:
    outside = {"pets": {"n": 861, "accuracy": 0.9292, "ece": 0.0198, "refused": 0.0058},
               "everyday": {"n": {"all": 1661, "test": 330}, "caught": {"all": 0.562, "test": 0.6},
                            "auroc_outside_pets": {"unknown": 0.94443, "msp": 0.8, "energy": 0.9}}}
    table = tables.outside_table({"A": {"outside": outside}, "B": {"accuracy": 0.9}})  # B has no such section
    assert table.to_dict("records") == [{"Model": "A", "Accuracy (%)": 92.92, "ECE (%)": 1.98, "Pets refused (%)": 0.58,
                                         "Everyday caught (%)": 60.0, "AUROC, unknown output": 0.9444}]
    assert tables.outside_table({"B": {}}).empty
