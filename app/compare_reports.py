"""The compare page's sections drawn from the reports the CLIs saved beside each checkpoint: each model on its
full test set (confusion matrices, per-class accuracy), bent and attacked digits (robustness curves) and honest
answers (calibration, "I don't know"). Part of the compare page (app/compare_page.py); it imports no page."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.logic import reports
from app.logic.charts import confusion_chart, per_class_chart, reliability_chart, robustness_chart, roc_chart
from app.logic.checkpoints import checkpoint_path
from app.logic.tables import honesty_table, outside_table
from models.classifiers import Classifier
from models.registry import ModelInfo

# Curves of a robustness report (training/robustness.py) -> (chart title, x axis title).
ROBUSTNESS_CURVES = {
    "rotation": ("Rotated", "degrees, counter-clockwise"), "shift": ("Shifted", "pixels to the right"),
    "thickness": ("Thicker or thinner strokes", "pixels added per side"), "noise": ("Noisy", "noise σ (0..1 scale)"),
    "fgsm": ("Attacked: FGSM", "ε (0..1 scale)"), "pgd": ("Attacked: PGD, 10 steps", "ε (0..1 scale)"),
}
TEST_SETS = {"digits": "the 10,000 MNIST test digits", "pets": "the 1,748 cats-vs-dogs test photos"}
CONFUSION_HELP = {
    "digits": "Confusion matrices: rows are the true digit, columns the model's answer. The dark diagonal counts "
              "right answers; every number off it is a mistake (row 4, column 9: fours read as nines).",
    "pets": "Confusion matrices: rows are the true animal, columns the network's answer; the two off-diagonal cells "
            "are cats taken for dogs and dogs taken for cats.",
}


def _common_mistakes_text(full: dict[str, dict], class_names: list[str]) -> str:
    """A caption sentence naming the most common mistakes of all models together (empty when there are none)."""
    top = reports.common_mistakes(full, class_names)
    if not top:
        return ""
    return " Most common mistakes, all models together: " + ", ".join(
        f"{t} read as {p} ({n} times)" for t, p, n in top) + "."


def full_test_sets(task: str, loaded: dict[ModelInfo, Classifier], saved: dict[ModelInfo, reports.EvalReport]) -> None:
    """Confusion matrices and per-class accuracy on the full test set, from the reports saved by the CLI."""
    st.header("On the full test set")
    st.caption(f"Measured once per checkpoint by the evaluation command, on {TEST_SETS[task]}, which no model saw "
               "in training or tuning.")
    for spec, report in saved.items():
        if not report.ok:
            st.info(f"{loaded[spec].name}: {report.message()}", icon=":material/info:")
    full = {loaded[spec].name: r.data for spec, r in saved.items() if r.ok}
    if not full:
        return
    class_names = next(iter(loaded.values())).class_names
    for column, (name, report) in zip(st.columns(len(full)), full.items()):
        column.altair_chart(
            confusion_chart(np.asarray(report["confusion_matrix"]), class_names,
                            f"{name}: {report['accuracy']:.2%} of {report['n']:,} right"),
            key=f"full_confusion_{name}",
        )
    st.caption(CONFUSION_HELP[task] + (_common_mistakes_text(full, class_names) if task == "digits" else ""))
    st.altair_chart(per_class_chart(full, "digit" if task == "digits" else "class"), key="full_per_class")
    st.caption(f"Share of each {'digit' if task == 'digits' else 'animal'} read correctly, per model. The axis does "
               "not start at 0, so the differences show: look for the classes every model finds hardest.")


def robustness(loaded: dict[ModelInfo, Classifier]) -> None:
    """Accuracy of each digit model as its test digits are bent or attacked, from the saved robustness reports."""
    saved = {spec: reports.load_robustness_report(checkpoint_path(spec), clf.describe()["checkpoint"].get("sha256", ""))
             for spec, clf in loaded.items()}
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


HONESTY_HELP = {
    "digits": "MNIST test digits re-drawn like canvas strokes against drawings of kinds no model saw (Greek and "
              "Tagalog letters, printed Js, stars, hearts, houses…)",
    "pets": "cat and dog test photos against photos of 18 categories no model saw",
}


def honest_answers(task: str, loaded: dict[ModelInfo, Classifier], saved: dict[ModelInfo, reports.EvalReport]) -> None:
    """Calibration and known-vs-unknown figures per model, from the saved reports."""
    full = {loaded[spec].name: r.data for spec, r in saved.items() if r.ok and "calibration" in r.data}
    if not full:
        return
    unknown = "not a digit" if task == "digits" else "neither"
    st.header("Honest answers")
    st.caption(f"A network that says “90% sure” should be right 9 times in 10, and one that has never seen such a "
               f"thing should say “{unknown}”. Both measured on held-out data: {HONESTY_HELP[task]}.")
    st.dataframe(honesty_table(full), hide_index=True, key="honesty_table", column_config={
        "ECE before (%)": st.column_config.NumberColumn(help="Expected calibration error on the test set, 15 bins, "
                                                          "straight from the network"),
        "ECE after (%)": st.column_config.NumberColumn(help="The same after dividing the logits by the temperature "
                                                         "fitted on validation data: the confidence the app shows"),
        "AUROC, unknown output": st.column_config.NumberColumn(
            help=f"Chance that an unknown input scores higher than a known one (1 = perfect, 0.5 = a coin toss), "
                 f"with the '{unknown}' output the app uses"),
        "AUROC, 1 - max prob.": st.column_config.NumberColumn(help="The same with the usual baseline score"),
        "AUROC, energy": st.column_config.NumberColumn(help="The same with the energy score, -logsumexp(logits)"),
        "Unknown caught (%)": st.column_config.NumberColumn(help="Unknown inputs refused at the model's threshold"),
        "Known refused (%)": st.column_config.NumberColumn(help="Real inputs wrongly refused at it"),
    })
    rocs = {name: r["unknown"]["roc"] for name, r in full.items() if "roc" in r.get("unknown", {})}
    if rocs:
        st.altair_chart(roc_chart(rocs, "Not a digit?" if task == "digits" else "Neither a cat nor a dog?"),
                        key="roc_chart")
        share = "0.5–0.7% of the validation digits" if task == "digits" else "1% of the validation pet photos"
        st.caption("Each curve shows what a threshold buys: moving it catches more unknown inputs (up) at the price "
                   f"of refusing more real ones (right). The app's thresholds sit where {share} are refused.")
    if task == "pets":
        _outside(full)
    st.subheader("Calibration")
    for column, (name, report) in zip(st.columns(len(full)), full.items()):
        cal = report["calibration"]
        column.altair_chart(reliability_chart(cal, f"{name}: ECE {cal['ece_before']:.2%} → {cal['ece_after']:.2%}"),
                            key=f"reliability_{name}")
    st.caption("Reliability diagrams: answers grouped by how sure the model was (x), against how often they were "
               "right (y). On the dashed diagonal, confidence is honest; below it, the model is overconfident.")


def _outside(full: dict[str, dict]) -> None:
    """The photo models on photos from outside their data sets, from the saved reports (when they have it)."""
    table = outside_table(full)
    if table.empty:
        return
    st.subheader("Outside the data sets")
    st.dataframe(table, hide_index=True, key="outside_table")
    n = next(r["outside"] for r in full.values() if "outside" in r)
    everyday = n.get("everyday", {}).get("n", {}).get("test")
    st.caption(f"The same models on {n['pets']['n']} cat and dog photos from other sources than Kaggle (web and "
               "phone photos, kept for measuring only)" + (f" and {everyday} everyday photos of other things "
               "(sports, groceries, clothing) of kinds no model learnt from" if everyday else "") + ". Real photos "
               "are harder than the test set: this is where the networks' lessons meet the world.")
