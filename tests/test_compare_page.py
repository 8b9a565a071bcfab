"""The "Compare the models" page run headless with ``streamlit.testing.v1.AppTest``: the model table, the saved
full-test-set evaluations (missing, stale or fresh), the sample set, training curves and robustness curves."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app.logic import checkpoints
from models.artifacts import eval_path
from tests import test_app_pages
from tests.conftest import ROOT
from tests.test_app_pages import page, texts

# The page's fixtures, shared with tests/test_app_pages.py: the checkpoints without the pet model, and with it.
digits_only_dir, pet_checkpoint = test_app_pages.digits_only_dir, test_app_pages.pet_checkpoint


def chart_titles(at: AppTest) -> list[str]:
    """The title of every Altair chart on the page, in order ("" when untitled); AppTest has no typed
    accessor for charts, so they are read from the Vega-Lite spec Streamlit sends to the browser."""
    titles = []
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        # A layered chart (the confusion matrix: cells + counts) carries its title on its layers.
        layers = [spec, *spec.get("layer", [])]
        titles.append(next((str(layer["title"]) for layer in layers if "title" in layer), ""))
    return titles


def test_every_task_has_a_name_on_the_page() -> None:
    from app.compare_page import TASK_NAMES
    from models.registry import TASKS

    assert list(TASK_NAMES) == list(TASKS)


def test_compare_page(digits_only_dir: Path) -> None:
    at = page("compare_page").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["Model"]) == ["NumPy MLP", "PyTorch MLP", "Digit CNN"]
    assert (table["Latency (ms)"] > 0).all() and (table["Accuracy (%)"] > 98).all()
    assert at.header.values == ["On the full test set", "Honest answers", "On 500 real test digits",
                                "Training curves", "What the first layer learned"]
    assert len(at.info) == 0 and len(at.warning) == 0  # every digit report is there and fresh
    titles = chart_titles(at)
    saved = {spec.name: json.loads(eval_path(digits_only_dir / spec.filename).read_text())["accuracy"]
             for spec in checkpoints.DIGIT_MODELS}  # one matrix per model, titled with its saved full-test accuracy
    assert [t for t in titles if t.endswith(" right")] == [f"{name}: {acc:.2%} of 10,000 right"
                                                           for name, acc in saved.items()]
    captions = texts(at.caption)
    assert "10,000 MNIST test digits" in captions and "Most common mistakes" in captions
    assert "Right out of 500: NumPy MLP" in captions
    assert len(titles) == 3 + 1 + (1 + 3) + 3 * 2  # confusion ×3, per-class, ROC + reliability ×3, 2 curves each
    assert len(at.caption) >= 9  # every visual carries its caption
    assert len(at.tabs) == 3
    at.radio(key="compare_task").set_value("pets").run()  # the photo models are all missing here
    assert not at.exception and len(at.dataframe) == 0
    for spec in checkpoints.PET_MODELS:  # each missing model is named with its training command, not fatal
        assert f"python -m training.train {spec.key}" in texts(at.warning)


def test_compare_page_without_or_with_stale_reports(digits_only_dir: Path) -> None:
    cnn = json.loads((digits_only_dir / "digit_cnn.eval.json").read_text())
    (digits_only_dir / "numpy_mlp.eval.json").unlink()
    stale = json.loads((ROOT / "checkpoints" / "torch_mlp.eval.json").read_text())
    (digits_only_dir / "torch_mlp.eval.json").unlink()
    (digits_only_dir / "torch_mlp.eval.json").write_text(json.dumps({**stale, "sha256": "0" * 64}))
    at = page("compare_page").run()
    assert not at.exception
    infos = [str(i.value) for i in at.info]
    assert len(infos) == 2
    assert "No saved evaluation" in infos[0] and "numpy_mlp.safetensors --save" in infos[0]
    assert "older version" in infos[1] and "torch_mlp.safetensors --save" in infos[1]
    assert all("python -m training.evaluate" in i for i in infos)
    # The CNN's report is fine, so its matrix and the per-class chart still show; the rest of the page too.
    titles = chart_titles(at)
    # CNN matrix, per class, the ROC (CNN alone) and the CNN's reliability diagram, training curves
    assert len(titles) == 1 + 1 + (1 + 1) + 3 * 2
    assert [t for t in titles if t.endswith(" right")] == [f"Digit CNN: {cnn['accuracy']:.2%} of 10,000 right"]
    assert at.header.values[1:] == ["Honest answers", "On 500 real test digits", "Training curves",
                                    "What the first layer learned"]


def test_compare_page_with_every_model(pet_checkpoint: Path) -> None:
    at = page("compare_page").run()
    assert not at.exception
    assert list(at.dataframe[0].value["Model"]) == ["NumPy MLP", "PyTorch MLP", "Digit CNN"]
    assert len(at.warning) == 0 and len(at.info) == 0
    titles = chart_titles(at)
    # Confusion matrices and the per-class chart; the ROC chart and a reliability diagram per model; 6 robustness
    # curves; loss and accuracy curves per model.
    assert len(titles) == 3 + 1 + (1 + 3) + 6 + 3 * 2
    assert [t for t in titles if "digits)" in t] == [  # the committed robustness reports, full test set
        "Rotated (10,000 digits)", "Thicker or thinner strokes (10,000 digits)", "Attacked: FGSM (1,000 digits)",
        "Shifted (10,000 digits)", "Noisy (10,000 digits)", "Attacked: PGD, 10 steps (1,000 digits)"]


def test_compare_page_photo_models(pet_checkpoint: Path, data_dir: Path, monkeypatch) -> None:
    """The photo models the way the digit models are shown: table (with what it teaches, from the figures),
    confusion matrices, honesty, the test photos each gets wrong (from the saved reports), curves, weights."""
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(data_dir))
    at = page("compare_page")
    at.session_state["compare_task"] = "pets"
    at.run()
    assert not at.exception and len(at.warning) == 0 and len(at.info) == 0
    table = at.dataframe[0].value
    assert list(table["Model"]) == ["Pet MLP", "Small Pet CNN", "Pet CNN"]
    saved = {spec.name: json.loads(eval_path(checkpoints.checkpoint_path(spec)).read_text())
             for spec in checkpoints.PET_MODELS}
    assert list(table["Accuracy (%)"]) == [round(100 * r["accuracy"], 2) for r in saved.values()]
    mlp, small = table.iloc[0], table.iloc[1]
    assert mlp["Parameters"] > small["Parameters"] and mlp["Accuracy (%)"] < small["Accuracy (%)"]
    assert f"{mlp['Parameters'] / small['Parameters']:.0f} times as many numbers" in at.caption[1].value
    assert at.header.values == ["On the full test set", "Honest answers", "Photos the models get wrong",
                                "Training curves", "What the first layer learned"]
    titles = chart_titles(at)
    assert [t for t in titles if t.endswith(" right")] == [f"{name}: {r['accuracy']:.2%} of 1,748 right"
                                                           for name, r in saved.items()]
    assert len(titles) == 3 + 1 + (1 + 3) + 3 * 2  # confusion, per class, ROC + reliability, 2 curves each
    assert "cats taken for dogs" in texts(at.caption)
    wrong = ", ".join(f"{name} {len(r['mistakes'])}" for name, r in saved.items())
    assert f"Wrong: {wrong}." in texts(at.caption) and len(at.tabs) == 3
    outside = at.dataframe[2].value  # the table, honest answers, then the figures outside the data sets
    assert list(outside["Model"]) == list(saved) and "Outside the data sets" in at.subheader.values
    assert list(outside["Accuracy (%)"]) == [round(100 * r["outside"]["pets"]["accuracy"], 2) for r in saved.values()]
    assert at.markdown.values[0].startswith("**Pet MLP** · first 32 of 1024 hidden units, 32 × 32 × 3 each")
