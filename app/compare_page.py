"""Page 3, "Compare the models": the digit models or the photo models side by side. One table; each model on its
full test set, its robustness (digits) and its honesty, from the saved reports (app/compare_reports.py); the
pictures behind the numbers (app/compare_galleries.py); training curves; first-layer weights."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import compare_galleries, compare_reports
from app.logic import latency, reports, tables, weights
from app.logic.charts import history_chart
from app.logic.checkpoints import checkpoint_path
from app.shared import available_models, saved_report
from models.classifiers import Classifier
from models.registry import TASKS, ModelInfo, models_for
from models.samples import load_digit_sample, pet_examples
from uploads import load_photo

TASK_NAMES = {"digits": "Digits", "pets": "Cats and dogs"}  # one per models.registry.TASKS


@st.cache_data(ttl=300, show_spinner="Measuring latency on this machine…")
def _latency(_clf: Classifier, task: str, stamp: str) -> float:
    """Median ms per single prediction, re-measured every 5 minutes (``stamp`` keys the cache per checkpoint)."""
    if task == "digits":
        inputs = list(load_digit_sample()[0][:15])
    else:
        inputs = [load_photo(path.read_bytes()) for path, _ in pet_examples()]
    return latency.measure_latency(_clf, inputs, repeats=15 if len(inputs) > 10 else 5)


def _lesson(task: str, table: pd.DataFrame) -> str:
    """What the table teaches, in a sentence or two, with the figures of the models shown."""
    if task == "digits":
        return ("Parameters are the numbers a network learns. More parameters do not always mean better: the Digit "
                "CNN has fewer than the MLPs but reads digits best, because its filters look at small patches "
                "wherever they are.")
    rows = {r["Model"]: r for r in table.to_dict("records")}
    names = [spec.name for spec in models_for("pets")]
    if not all(n in rows and rows[n]["Accuracy (%)"] is not None for n in names):
        return "Parameters are the numbers a network learns; accuracy is measured on the same test photos for all."
    mlp, small, deep = (rows[n] for n in names)
    return (f"The {mlp['Model']} learns {mlp['Parameters'] / small['Parameters']:.0f} times as many numbers as the "
            f"{small['Model']} ({mlp['Parameters']:,} against {small['Parameters']:,}) and is still right on only "
            f"{mlp['Accuracy (%)']:.2f}% of the test photos against {small['Accuracy (%)']:.2f}%: a convolution "
            f"reuses one small filter everywhere in the photo, so a cat's ear is found wherever it is. The "
            f"{deep['Model']} adds depth, BatchNorm and strong augmentation, and reaches {deep['Accuracy (%)']:.2f}%.")


def _curves(loaded: dict[ModelInfo, Classifier]) -> None:
    st.header("Training curves")
    st.caption("Loss (lower is better) and accuracy per pass over the training data, on the training data and on "
               "held-out validation data. Curves that drift apart would mean the model memorises.")
    for spec, clf in loaded.items():
        history = reports.load_history(checkpoint_path(spec))
        if history is None or history.empty:
            st.info(f"No training history found for the {clf.name}.")
            continue
        left, right = st.columns(2)
        left.altair_chart(history_chart(history, "loss", f"{clf.name}: loss"), key=f"loss_{spec.key}")
        right.altair_chart(history_chart(history, "accuracy", f"{clf.name}: accuracy"), key=f"acc_{spec.key}")


def _first_layers(task: str, loaded: dict[ModelInfo, Classifier]) -> None:
    st.header("What the first layer learned")
    pixels = "28 × 28 input pixels (red = this pixel's ink excites the unit, blue = it inhibits it)" \
        if task == "digits" else "photo's pixels, in the colours that excite it (mid-grey = no effect)"
    st.caption(f"MLPs: each square is one hidden unit's weights over the {pixels}. CNNs: each square is one small "
               "filter slid over the image.")
    for clf in loaded.values():
        first = weights.first_layer_weights(clf)
        kind = "filters" if first.shape[1] < 10 else "hidden units"
        st.markdown(f"**{clf.name}** · first {min(32, len(first))} of {len(first)} {kind}, "
                    f"{' × '.join(map(str, first.shape[1:]))} each")
        st.image(weights.weight_images(first, 32), width=56)


def render() -> None:
    """The page, for the task chosen at the top: table, full test set, honesty, pictures, curves, weights."""
    st.title("Compare the models")
    st.caption("Same task, different networks: how big, how fast, how accurate, and where each one goes wrong.")
    task = st.radio("Task", TASKS, format_func=TASK_NAMES.get, horizontal=True, key="compare_task",
                    label_visibility="collapsed")
    loaded = available_models(models_for(task))
    if not loaded:
        return
    stamps = {spec: str(checkpoint_path(spec).stat().st_mtime) for spec in loaded}
    latencies = {spec.key: _latency(clf, task, stamps[spec]) for spec, clf in loaded.items()}
    saved = {spec: saved_report(spec, clf) for spec, clf in loaded.items()}
    measured = {spec.key: r.accuracy for spec, r in saved.items() if r.accuracy}
    table = tables.model_table({spec.key: clf for spec, clf in loaded.items()}, latencies, measured)
    st.dataframe(
        table,
        hide_index=True,
        key="model_table",
        column_config={
            "Parameters": st.column_config.NumberColumn(format="localized"),
            "Latency (ms)": st.column_config.NumberColumn(help="Median time for one prediction on this server, now"),
            "Accuracy (%)": st.column_config.NumberColumn(help="On the held-out test (or validation) set"),
        },
    )
    st.caption(_lesson(task, table))
    compare_reports.full_test_sets(task, loaded, saved)
    if task == "digits":
        compare_reports.robustness(loaded)
    compare_reports.honest_answers(task, loaded, saved)
    if task == "digits":
        models = {spec.key: clf for spec, clf in loaded.items()}
        compare_galleries.digit_galleries(models, "|".join(stamps.values()))
    else:
        compare_galleries.photo_galleries(loaded, saved)
    _curves(loaded)
    _first_layers(task, loaded)
