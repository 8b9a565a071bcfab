"""Page 3, "Compare the models": one table; each model on its full test set (from the saved evaluation and
robustness reports); galleries of mistakes among 500 real test digits scored live; training curves; first-layer
weights."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.logic import galleries, latency, reports, tables, weights
from app.logic.charts import (
    confusion_chart,
    history_chart,
    per_class_chart,
    reliability_chart,
    robustness_chart,
    roc_chart,
)
from app.logic.checkpoints import DIGIT_MODELS, PET_MODEL, checkpoint_path
from app.logic.images import grey_to_rgb
from app.logic.tables import honesty_table
from app.shared import available_models, saved_report
from models.classifiers import DIGIT_CLASSES, Classifier
from models.registry import MODELS, ModelInfo
from models.samples import load_digit_sample, pet_examples
from uploads import load_photo

MAX_SHOWN = 16  # sample pictures per gallery: enough to see patterns, few enough for a phone
# Curves of a robustness report (training/robustness.py) -> (chart title, x axis title).
ROBUSTNESS_CURVES = {
    "rotation": ("Rotated", "degrees, counter-clockwise"), "shift": ("Shifted", "pixels to the right"),
    "thickness": ("Thicker or thinner strokes", "pixels added per side"), "noise": ("Noisy", "noise σ (0..1 scale)"),
    "fgsm": ("Attacked: FGSM", "ε (0..1 scale)"), "pgd": ("Attacked: PGD, 10 steps", "ε (0..1 scale)"),
}


@st.cache_data(ttl=300, show_spinner="Measuring latency on this machine…")
def _latency(_clf: Classifier, key: str, stamp: str) -> float:
    """Median ms per single prediction, re-measured every 5 minutes (``stamp`` keys the cache per checkpoint)."""
    if key in {spec.key for spec in DIGIT_MODELS}:
        inputs = list(load_digit_sample()[0][:15])
    else:
        inputs = [load_photo(path.read_bytes()) for path, _ in pet_examples()]
    return latency.measure_latency(_clf, inputs, repeats=15 if len(inputs) > 10 else 5)


@st.cache_data(show_spinner="Scoring the 500 sample digits…")
def _sample_predictions(_models: dict[str, Classifier], stamp: str) -> dict[str, np.ndarray]:
    images, _, _ = load_digit_sample()
    return galleries.sample_predictions(_models, images)


def _gallery(images: np.ndarray, indices: np.ndarray, captions: list[str]) -> None:
    if len(indices) == 0:
        st.write("None: every answer is right.")
        return
    shown = indices[:MAX_SHOWN]
    st.image([grey_to_rgb(images[i], 84) for i in shown], caption=captions[: len(shown)], width=84)
    if len(indices) > MAX_SHOWN:
        st.caption(f"…and {len(indices) - MAX_SHOWN} more.")


def _saved_reports(loaded: dict[ModelInfo, Classifier]) -> dict[ModelInfo, reports.EvalReport]:
    return {spec: saved_report(spec, clf) for spec, clf in loaded.items()}


def _common_mistakes_text(full: dict[str, dict]) -> str:
    """A caption sentence naming the most common mistakes of all models together (empty when there are none)."""
    top = reports.common_mistakes(full, DIGIT_CLASSES)
    if not top:
        return ""
    return " Most common mistakes, all models together: " + ", ".join(
        f"{t} read as {p} ({n} times)" for t, p, n in top) + "."


def _full_test_sets(loaded: dict[ModelInfo, Classifier], saved: dict[ModelInfo, reports.EvalReport]) -> None:
    """Confusion matrices and per-class accuracy on the full test sets, from the reports saved by the CLI."""
    st.header("On the full test sets")
    st.caption("Measured once per checkpoint by the evaluation command, on pictures no model saw in training "
               "or tuning: the 10,000 MNIST test digits, and the 1,748 cats-vs-dogs test photos.")
    digit_reports = {loaded[spec].name: saved[spec].data for spec in DIGIT_MODELS if spec in saved and saved[spec].ok}
    if any(spec in saved for spec in DIGIT_MODELS):
        st.subheader("Digits")
    for spec in DIGIT_MODELS:
        if spec in saved and not saved[spec].ok:
            st.info(f"{loaded[spec].name}: {saved[spec].message()}", icon=":material/info:")
    if digit_reports:
        for column, (name, report) in zip(st.columns(len(digit_reports)), digit_reports.items()):
            column.altair_chart(
                confusion_chart(np.asarray(report["confusion_matrix"]), DIGIT_CLASSES,
                                f"{name}: {report['accuracy']:.2%} of {report['n']:,} right"),
                key=f"full_confusion_{name}",
            )
        st.caption(
            "Confusion matrices: rows are the true digit, columns the model's answer. The dark diagonal counts "
            "right answers; every number off it is a mistake (row 4, column 9: fours read as nines)."
            + _common_mistakes_text(digit_reports)
        )
        st.altair_chart(per_class_chart(digit_reports), key="full_per_class")
        st.caption("Share of each digit read correctly, per model. The axis does not start at 0, so the small "
                   "differences show: look for the digits every model finds hardest.")
    pet = saved.get(PET_MODEL)
    if pet is None:
        return  # the missing pet model is already named in a warning at the top of the page
    st.subheader("Cats vs dogs")
    if not pet.ok:
        st.info(f"{loaded[PET_MODEL].name}: {pet.message()}", icon=":material/info:")
        return
    report = pet.data
    assert report is not None  # pet.ok
    names = loaded[PET_MODEL].class_names
    left, right = st.columns(2)
    left.altair_chart(
        confusion_chart(np.asarray(report["confusion_matrix"]), names,
                        f"{loaded[PET_MODEL].name}: {report['accuracy']:.2%} of {report['n']:,} right"),
        key="full_confusion_pets",
    )
    right.altair_chart(per_class_chart({loaded[PET_MODEL].name: report}, "class"), key="full_per_class_pets")
    st.caption("Left: rows are the true animal, columns the network's answer; the two off-diagonal cells are "
               "cats taken for dogs and dogs taken for cats. Right: the share of cats and of dogs it gets right.")


def _robustness(loaded: dict[ModelInfo, Classifier]) -> None:
    """Accuracy of each digit model as its test digits are bent or attacked, from the saved robustness reports."""
    saved = {spec: reports.load_robustness_report(checkpoint_path(spec), clf.describe()["checkpoint"].get("sha256", ""))
             for spec, clf in loaded.items() if spec in DIGIT_MODELS}
    if not saved:
        return
    st.subheader("Bent and attacked digits")
    ok = {loaded[spec].name: r.data["curves"] for spec, r in saved.items() if r.data is not None}
    if ok:
        for (name, (title, x_title)), column in zip(ROBUSTNESS_CURVES.items(), st.columns(2) * 3):
            curves = {model: c[name] for model, c in ok.items() if name in c}
            if curves:
                n = max(c["n"] for c in curves.values())
                column.altair_chart(robustness_chart(curves, x_title, f"{title} ({n:,} digits)"),
                                    key=f"robustness_{name}")
        st.caption("Accuracy on the MNIST test digits as they are bent (rotated about their centre of mass, shifted, "
                   "strokes thickened, noise added) or attacked (each model with its own gradients; ε is the largest "
                   "change per pixel), one line per model. Try the same on your own digit on the draw page.")
    missing = [spec for spec, r in saved.items() if r.data is None]
    if missing:
        st.caption(" ".join(saved[spec].problem or "" for spec in missing) + " Make them with `"
                   + reports.robustness_command([checkpoint_path(spec) for spec in missing]) + "`.")


def _honest_answers(loaded: dict[ModelInfo, Classifier], saved: dict[ModelInfo, reports.EvalReport]) -> None:
    """Calibration and known-vs-unknown figures per model, from the saved reports."""
    full = {loaded[spec].name: r.data for spec, r in saved.items() if r.ok and "calibration" in r.data}
    if not full:
        return
    st.header("Honest answers")
    st.caption(
        "A network that says “90% sure” should be right 9 times in 10, and one that has never seen a letter "
        "should not call it a digit. Both measured on held-out data: MNIST test digits re-drawn like canvas "
        "strokes against drawings of kinds no model saw (Greek and Tagalog letters, printed Js, stars, hearts, "
        "houses…), and cat and dog test photos against photos of 18 categories no model saw."
    )
    st.dataframe(honesty_table(full), hide_index=True, key="honesty_table", column_config={
        "ECE before (%)": st.column_config.NumberColumn(help="Expected calibration error on the test set, 15 bins, "
                                                          "straight from the network"),
        "ECE after (%)": st.column_config.NumberColumn(help="The same after dividing the logits by the temperature "
                                                         "fitted on validation data: the confidence the app shows"),
        "AUROC, unknown output": st.column_config.NumberColumn(
            help="Chance that an unknown input scores higher than a known one (1 = perfect, 0.5 = a coin toss), "
                 "with the 'not a digit' / 'neither' output the app uses"),
        "AUROC, 1 - max prob.": st.column_config.NumberColumn(help="The same with the usual baseline score"),
        "AUROC, energy": st.column_config.NumberColumn(help="The same with the energy score, -logsumexp(logits)"),
        "Unknown caught (%)": st.column_config.NumberColumn(help="Unknown inputs refused at the model's threshold"),
        "Known refused (%)": st.column_config.NumberColumn(help="Real digits or pet photos wrongly refused at it"),
    })
    rocs = {name: r["unknown"]["roc"] for name, r in full.items() if "roc" in r.get("unknown", {})}
    digit_rocs = {n: roc for n, roc in rocs.items() if full[n]["class_names"] == DIGIT_CLASSES}
    pet_rocs = {n: roc for n, roc in rocs.items() if n not in digit_rocs}
    columns = st.columns(2)
    for column, (group, title) in zip(columns, ((digit_rocs, "Not a digit?"), (pet_rocs, "Neither a cat nor a dog?"))):
        if group:
            column.altair_chart(roc_chart(group, title), key=f"roc_{title}")
    st.caption("Each curve shows what a threshold buys: moving it catches more unknown inputs (up) at the price "
               "of refusing more real ones (right). The app's thresholds sit where 0.5–0.7% of the validation digits "
               "and 1% of the validation pet photos are refused.")
    st.subheader("Calibration")
    for column, (name, report) in zip(st.columns(len(full)), full.items()):
        cal = report["calibration"]
        column.altair_chart(reliability_chart(cal, f"{name}: ECE {cal['ece_before']:.2%} → {cal['ece_after']:.2%}"),
                            key=f"reliability_{name}")
    st.caption("Reliability diagrams: answers grouped by how sure the model was (x), against how often they were "
               "right (y). On the dashed diagonal, confidence is honest; below it, the model is overconfident.")


def render() -> None:
    """The page: table, full-test-set evaluation, galleries of mistakes, training curves, first-layer weights."""
    st.title("Compare the models")
    st.caption("Same task, different networks: how big, how fast, how accurate, and where each one goes wrong.")
    loaded = available_models(MODELS)
    if not loaded:
        return
    stamps = {spec: str(checkpoint_path(spec).stat().st_mtime) for spec in loaded}
    latencies = {spec.key: _latency(clf, spec.key, stamps[spec]) for spec, clf in loaded.items()}
    saved = _saved_reports(loaded)
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
    st.caption(
        "Parameters are the numbers a network learns. More parameters do not always mean better: the Digit CNN has "
        "fewer than the MLPs but reads digits best, because its filters look at small patches wherever they are."
    )

    _full_test_sets(loaded, saved)
    _robustness(loaded)
    _honest_answers(loaded, saved)

    digits = {spec.key: clf for spec, clf in loaded.items() if spec in DIGIT_MODELS}
    if not digits:
        return
    images, labels, _ = load_digit_sample()
    predictions = _sample_predictions(digits, "|".join(stamps[s] for s in loaded if s in DIGIT_MODELS))
    sample_reports = galleries.sample_reports(predictions, labels)

    # Live, on the 500 bundled digits: not a second set of confusion matrices (the full test set above says
    # that better) but the pictures behind the numbers, which only a set we hold in memory can show.
    st.header("On 500 real test digits")
    scores = ", ".join(f"{name} {round(r['accuracy'] * r['n'])}" for name, r in sample_reports.items())
    st.caption(f"The 500 handwritten digits bundled with the app (50 of each), which no model saw in training, "
               f"scored live on this server. Right out of 500: {scores}.")
    st.subheader("Digits the models get wrong")
    wrong = galleries.mistakes(predictions, labels)
    for tab, (name, indices) in zip(st.tabs(list(wrong)), wrong.items()):
        with tab:
            _gallery(images, indices, [galleries.mistake_caption(i, predictions, labels, name) for i in indices])
    st.caption("Real test digits this model misreads, with the true digit and the model's answer.")
    st.subheader("Digits the models disagree on")
    split = galleries.disagreements(predictions)
    _gallery(images, split, [galleries.mistake_caption(i, predictions, labels) for i in split])
    st.caption(f"Where the networks do not all give the same answer. Under each picture: the true digit, then the "
               f"answers of the {' / '.join(predictions)}. Often sloppy or unusual handwriting.")

    st.header("Training curves")
    st.caption("Loss (lower is better) and accuracy per pass over the training data, on the training digits and "
               "on held-out validation digits. Curves that drift apart would mean the model memorises.")
    for spec, clf in loaded.items():
        history = reports.load_history(checkpoint_path(spec))
        if history is None or history.empty:
            st.info(f"No training history found for the {clf.name}.")
            continue
        left, right = st.columns(2)
        left.altair_chart(history_chart(history, "loss", f"{clf.name}: loss"), key=f"loss_{spec.key}")
        right.altair_chart(history_chart(history, "accuracy", f"{clf.name}: accuracy"), key=f"acc_{spec.key}")

    st.header("What the first layer learned")
    st.caption(
        "MLPs: each square is one hidden unit's weights over the 28 × 28 input pixels (red = this pixel's ink "
        "excites the unit, blue = it inhibits it). CNNs: each square is one small filter slid over the image."
    )
    for clf in loaded.values():
        first = weights.first_layer_weights(clf)
        kind = "filters" if first.shape[1] < 10 else "hidden units"
        st.markdown(f"**{clf.name}** · first {min(32, len(first))} of {len(first)} {kind}, "
                    f"{' × '.join(map(str, first.shape[1:]))} each")
        st.image(weights.weight_images(first, 32), width=56)
