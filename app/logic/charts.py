"""Altair charts for the pages (built here, drawn with ``st.altair_chart``; the draw page's probability chart
as a ready Vega-Lite spec), readable in light and dark themes.

Colours come from Streamlit's theme (the charts set none of their own) except the confusion matrix, whose
cell text switches between black and white with the cell colour.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import pyarrow as pa


def probability_frame(probabilities: Mapping[str, np.ndarray]) -> pa.Table:
    """probabilities: model name -> float (10,) -> one row per (model, digit): the probability chart's data.

    An Arrow table, the form Streamlit sends a chart's data in: built from three columns it costs a tenth of
    a pandas frame of 30 rows and its conversion, and the draw page redraws this chart on every stroke."""
    names = list(probabilities)
    return pa.table({
        "digit": [str(d) for name in names for d in range(len(probabilities[name]))],
        "model": [name for name in names for _ in range(len(probabilities[name]))],
        "probability": np.concatenate([np.asarray(probabilities[n], np.float64) for n in names]) if names else [],
    })  # fmt: skip


def probability_chart(probabilities: Mapping[str, np.ndarray]) -> alt.Chart:
    """Grouped bars: for each digit 0-9, one bar per model with its probability, so models compare at a glance.

    probabilities: model name -> float (10,). All zeros draws the empty frame shown before the first drawing.
    """
    order = list(probabilities)
    return (
        alt.Chart(probability_frame(probabilities).to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("digit:N", title="digit", axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("model:N", sort=order),
            y=alt.Y("probability:Q", title="probability", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color("model:N", sort=order, legend=alt.Legend(orient="top", title=None)),
            tooltip=["model", "digit", alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(height=260)
    )


def probability_spec(models: tuple[str, ...]) -> dict[str, Any]:
    """The probability chart for these models as a Vega-Lite spec without its data, for ``st.vega_lite_chart(
    probability_frame(...), spec)``. Built once per set of models, since Altair's checks take ~15 ms of Python
    per chart and the draw page redraws this chart on every stroke (see app/draw_page.py); each call gets its own
    copy (~0.03 ms), as Streamlit edits the spec it is given (a legend title None becomes " ")."""
    return copy.deepcopy(_probability_spec(models))


@functools.cache
def _probability_spec(models: tuple[str, ...]) -> dict[str, Any]:
    spec = probability_chart({name: np.zeros(10) for name in models}).to_dict()
    del spec["datasets"], spec["data"]
    return spec


def class_probability_chart(class_names: Sequence[str], probabilities: Mapping[str, np.ndarray]) -> alt.Chart:
    """Horizontal grouped bars (photo page): for each class, one bar per model with its probability.

    probabilities: model name -> float (n_classes,) in the order of ``class_names``.
    """
    order = list(probabilities)
    data = pd.DataFrame([{"class": c, "model": name, "probability": float(p[i])}
                         for name, p in probabilities.items() for i, c in enumerate(class_names)])
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("class:N", title=None, sort=list(class_names), axis=alt.Axis(labelFontSize=14)),
            yOffset=alt.YOffset("model:N", sort=order),
            x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color("model:N", sort=order, legend=alt.Legend(orient="top", title=None)),
            tooltip=["model", "class", alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(height=alt.Step(22))
    )


def confusion_chart(matrix: np.ndarray, class_names: Sequence[str], title: str) -> alt.LayerChart:
    """Heat map of a confusion matrix (rows: true class, columns: predicted), counts written in each cell."""
    m = np.asarray(matrix)
    data = pd.DataFrame(
        [
            {"true": class_names[t], "predicted": class_names[p], "count": int(m[t, p])}
            for t in range(m.shape[0])
            for p in range(m.shape[1])
        ]
    )
    # Log-ish colour so the few mistakes are visible next to the large diagonal counts, from 0 (not from the
    # smallest count: a 2 x 2 matrix of an average model has no light cell otherwise).
    top = max(1, int(m.max()))
    base = alt.Chart(data, title=title).encode(
        x=alt.X("predicted:N", sort=list(class_names), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("true:N", sort=list(class_names), axis=alt.Axis(labelOverlap=False)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(type="symlog", scheme="blues", domain=[0, top]), legend=None),
        tooltip=["true", "predicted", "count"],
    )
    # White text on the darker cells: over 60% of the way along the symlog scale, log1p(count) / log1p(top).
    threshold = int(np.expm1(0.6 * np.log1p(top)))
    text = base.mark_text(fontSize=10).encode(
        text=alt.condition(alt.datum.count > 0, "count:Q", alt.value("")),
        color=alt.condition(alt.datum.count > threshold, alt.value("white"), alt.value("black")),
    )
    return (cells + text).properties(height=280)


def per_class_chart(reports: Mapping[str, Mapping[str, object]], class_title: str = "digit") -> alt.Chart:
    """Grouped bars of per-class accuracy, one bar per model, on a zoomed axis where the differences live.

    class_title names the x axis ("digit", or "class" for cats and dogs).
    """
    data = pd.DataFrame(
        [
            {"model": name, "class": cls, "accuracy": float(acc)}
            for name, report in reports.items()
            for cls, acc in report["per_class_accuracy"].items()  # type: ignore[union-attr]
        ]
    )
    low = float(np.floor(min(0.9, data["accuracy"].min()) * 20) / 20)
    order = list(reports)
    return (
        alt.Chart(data)
        .mark_bar(clip=True)
        .encode(
            x=alt.X("class:N", title=class_title, sort=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("model:N", sort=order),
            y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[low, 1]), axis=alt.Axis(format="%")),
            color=alt.Color("model:N", sort=order, legend=alt.Legend(orient="top", title=None)),
            tooltip=["model", alt.Tooltip("class:N", title=class_title), alt.Tooltip("accuracy:Q", format=".1%")],
        )
        .properties(height=240)
    )


def history_chart(history: pd.DataFrame, metric: str, title: str) -> alt.Chart:
    """Training vs validation curve of one metric ("loss" or "accuracy") per epoch."""
    data = history[history["metric"] == metric]
    # Loss on a log axis: its fall after the first epoch stays visible instead of hugging zero.
    scale = alt.Scale(type="log") if metric == "loss" else alt.Scale(zero=False)
    return (
        alt.Chart(data, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("value:Q", title=metric, scale=scale),
            # Legend on the right: a top legend squeezes line charts to a sliver in Streamlit's layout.
            color=alt.Color("split:N", legend=alt.Legend(title=None)),
            tooltip=["epoch", "split", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=240)
    )


def reliability_chart(calibration: Mapping[str, object], title: str) -> alt.LayerChart:
    """Reliability diagram: per confidence bin, the share of right answers, before and after the temperature,
    against the diagonal of perfect calibration. calibration: an evaluation report's "calibration" section."""
    rows = []
    for stage, key in (("before", "reliability_before"), ("after", "reliability_after")):
        bins = calibration[key]  # type: ignore[index]
        for lower, conf, acc, n in zip(bins["lower"], bins["confidence"], bins["accuracy"], bins["count"]):
            if n:
                rows.append({"stage": f"{stage} calibration", "confidence": conf, "accuracy": acc, "answers": n,
                             "bin": f"{lower:.0%}–{lower + 1 / len(bins['lower']):.0%}"})
    data = pd.DataFrame(rows)
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 4], color="gray").encode(x="x:Q", y="y:Q")
    points = (
        alt.Chart(data, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("confidence:Q", title="confidence (mean of the bin)", scale=alt.Scale(domain=[0, 1]),
                    axis=alt.Axis(format="%")),
            y=alt.Y("accuracy:Q", title="share right", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color("stage:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["stage", "bin", "answers", alt.Tooltip("confidence:Q", format=".1%"),
                     alt.Tooltip("accuracy:Q", format=".1%")],
        )
    )
    return (diagonal + points).properties(height=260)


def roc_chart(rocs: Mapping[str, Mapping[str, Sequence[float]]], title: str) -> alt.Chart:
    """ROC curves of "unknown" scores: share of unknown inputs caught against share of known ones wrongly
    refused, one line per model. rocs: model name -> {"fpr": [...], "tpr": [...]}."""
    data = pd.DataFrame([{"model": name, "refused": f, "caught": t}
                         for name, roc in rocs.items() for f, t in zip(roc["fpr"], roc["tpr"])])
    return (
        alt.Chart(data, title=title)
        .mark_line()
        .encode(
            x=alt.X("refused:Q", title="known inputs wrongly refused", scale=alt.Scale(type="symlog", constant=0.01),
                    axis=alt.Axis(format="%")),
            y=alt.Y("caught:Q", title="unknown inputs caught", scale=alt.Scale(domain=[0, 1]),
                    axis=alt.Axis(format="%")),
            color=alt.Color("model:N", sort=list(rocs), legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["model", alt.Tooltip("refused:Q", format=".2%"), alt.Tooltip("caught:Q", format=".1%")],
        )
        .properties(height=260)
    )


def robustness_chart(curves: Mapping[str, Mapping[str, Sequence[float]]], x_title: str, title: str) -> alt.Chart:
    """Accuracy against how much the digits are bent or attacked, one line per model.
    curves: model name -> one curve of a robustness report, {"values": [...], "accuracy": [...]}."""
    data = pd.DataFrame([{"model": name, "amount": float(v), "accuracy": float(a)}
                         for name, c in curves.items() for v, a in zip(c["values"], c["accuracy"])])
    return (
        alt.Chart(data, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("amount:Q", title=x_title),
            y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color("model:N", sort=list(curves), legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["model", alt.Tooltip("amount:Q", title=x_title), alt.Tooltip("accuracy:Q", format=".1%")],
        )
        .properties(height=240)
    )
