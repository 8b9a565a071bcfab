"""The benchmark script runs end to end (quick mode, into a temporary folder) and records what README quotes.

Checks the structure of results.json / results.md, that every figure was measured (a finite number above
zero) and is internally consistent (the throughput is the batch over its latency), and that each speed is
reported against its budget. No test here judges a speed: a budget missed on a busy machine is the report's
finding, not a failure.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

import benchmarks.run as bench
from benchmarks import capacity, latency, report
from benchmarks.browser import CHROMIUM
from benchmarks.latency import BUDGETS_MS, WHAT
from models.checkpoint import read_manifest
from tests.conftest import ROOT, require
from tests.figures import assert_measured

pytestmark = pytest.mark.timeout(1200)  # the quick run below takes a minute alone, many on a loaded machine
COMMITTED_RESULTS = [ROOT / "benchmarks" / "results.json", ROOT / "benchmarks" / "results.md"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, str, str]:
    out = tmp_path_factory.mktemp("bench")
    before = [p.stat().st_mtime_ns for p in COMMITTED_RESULTS]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p.stat().st_mtime_ns for p in COMMITTED_RESULTS] == before, "--out was ignored: committed files written"
    return json.loads((out / "results.json").read_text()), (out / "results.md").read_text(), result.stdout


@pytest.mark.slow  # the quick benchmark run: a minute
def test_structure(quick_run):
    results, _, _ = quick_run
    assert set(results) >= {"quick", "inference_threads", "machine", "inference", "training", "memory", "speeds"}
    assert results["quick"] is True and results["inference_threads"] >= 1
    m = results["machine"]
    assert m["cpu"] and m["cores"] >= 1 and m["torch_threads"] >= 1
    assert {"python", "numpy", "torch", "pillow"} <= set(m["versions"])


@pytest.mark.slow  # the quick benchmark run: a minute
def test_every_committed_checkpoint_is_timed(quick_run):
    results, _, _ = quick_run
    rows = {row["model"]: row for row in results["inference"]}
    committed = {name.removesuffix(".safetensors") for name in read_manifest(ROOT / "checkpoints")}
    assert committed <= set(rows)
    for model_type in committed:
        row = rows[model_type]
        assert "missing" not in row, row
        for key in ("single_ms", "single_min_ms", "batch_ms", "batch_min_ms", "throughput_per_s"):
            assert_measured(row[key])
        assert row["batch"] == 256 and row["parameters"] > 0
        assert row["throughput_per_s"] == pytest.approx(256 / (row["batch_ms"] / 1000), rel=1e-9)


@pytest.mark.slow  # the quick benchmark run: a minute
def test_numpy_and_pytorch_training_times_are_compared(quick_run):
    """The issue's bar (NumPy within 1.5x of PyTorch) is reported by the benchmark, not asserted here."""
    t = quick_run[0]["training"]
    assert t["architecture"].startswith("MLP 784-512-256-10") and t["batch_size"] == 128
    assert_measured(t["numpy_s_per_10k"])
    assert_measured(t["torch_s_per_10k"])
    assert t["ratio_numpy_over_torch"] == pytest.approx(t["numpy_s_per_10k"] / t["torch_s_per_10k"])
    assert t["limit"] == 1.5 and t["within_limit"] == (t["ratio_numpy_over_torch"] <= 1.5)


@pytest.mark.slow  # the quick benchmark run: a minute
def test_memory_with_all_models(quick_run):
    mem = quick_run[0]["memory"]
    committed = {name.removesuffix(".safetensors") for name in read_manifest(ROOT / "checkpoints")}
    assert set(mem["models"]) == committed
    assert 0 < mem["rss_imports_mb"] <= mem["rss_all_models_mb"] <= mem["peak_rss_mb"]


@pytest.mark.slow  # the quick benchmark run: a minute
def test_every_speed_is_measured_against_its_budget(quick_run):
    speeds = quick_run[0]["speeds"]
    require(CHROMIUM.exists(), f"{CHROMIUM} not installed: the browser figures are not measured")
    assert set(speeds) == set(WHAT)
    for name, figure in speeds.items():
        for key in ("median_ms", "p90_ms", "max_ms"):
            assert_measured(figure[key])
        assert figure["runs"] >= 1
        if name in BUDGETS_MS:
            assert figure["budget_ms"] == BUDGETS_MS[name]
            assert figure["within_budget"] == (figure["median_ms"] <= figure["budget_ms"])


@pytest.mark.slow  # the quick benchmark run: a minute
def test_markdown_and_console_table(quick_run):
    results, md, stdout = quick_run
    for text in (md, stdout):
        assert "| model | parameters | 1 input (ms) | batch of 256 (ms) | throughput (items/s) |" in text
        assert "Ratio NumPy / PyTorch" in text and "MB RSS" in text
        for row in results["inference"]:
            assert row.get("name", row["model"]) in text
        for figure in results["speeds"].values():
            assert figure["what"] in text
    assert f"{results['training']['ratio_numpy_over_torch']:.2f}x" in md


@pytest.mark.slow  # the quick benchmark run: a minute
def test_the_classroom_figures_are_measured_and_reported(quick_run):
    results, md, _ = quick_run
    c = results["capacity"]
    for figure in (c["stroke_cpu_ms"], c["first_visitor_cpu_s"], c["new_visitor_cpu_ms"], c["upload_cpu_ms"],
                   *c["lab_cpu_ms"].values(), c["capacity"]["strokes_per_s"]):
        assert_measured(figure)
    assert set(c["lab_cpu_ms"]) == {"bend", "saliency", "attack"} and math.isfinite(c["session_mb"])
    (row,) = c["load"]  # --quick: one class of 10
    assert row["students"] == 10 and row["strokes"] == 10 * 4 and row["p50_ms"] <= row["p95_ms"]  # 4 turns each
    assert row["wrong_or_lost"] == 0 and row["sessions_failed"] == 0  # every student got its own digit's answers
    assert "## A classroom on one server" in md and f"| {c['stroke_cpu_ms']:,.0f} ms |" in md


def test_the_classroom_table_sets_each_figure_beside_its_target():
    now = {"stroke_cpu_ms": 21.4, "first_visitor_cpu_s": 0.134, "session_mb": 0.61,
           "load": [{"students": 30, "p50_ms": 60, "p95_ms": 1234, "strokes_per_s": 9.9, "wrong_or_lost": 1,
                     "sessions_failed": 1}]}
    lines = report.capacity_table(now, {"commit": "1fce1407ab", "stroke_cpu_ms": 467.0, "first_visitor_cpu_s": 5.03})
    assert lines[0] == "| measure | before (1fce140) | now | needed | aim |"
    assert "| server CPU per stroke, steady state | 467 ms | 21 ms | ≤ 40 ms | ≤ 15 ms |" in lines
    assert "| server CPU, the first visitor after start | 5.03 s | 0.13 s | ≤ 0.5 s | ≤ 0.2 s |" in lines
    assert ("| server memory per extra session (drew, then uploaded a photo; ±0.5 MB) | – | 0.6 MB | ≤ 10 MB "
            "| ≤ 5 MB |") in lines
    assert ("| 30 students, a stroke every 3 s each: stroke → answers p50 / p95 | – | 60 / 1,234 ms | ≤ 1000 ms "
            "| ≤ 500 ms |") in lines
    assert "| 30 students: strokes answered per s (asked 10); wrong or lost | – | 9.9; 2 |  |  |" in lines
    assert capacity.capacity_of({"stroke_cpu_ms": 25.0}) == {"strokes_per_s": 80.0, "students_one_stroke_every_3s": 240}


@pytest.mark.slow  # the quick benchmark run: a minute
def test_markdown_reports_a_missed_budget_and_a_missing_figure(quick_run):
    slow = {"what": "server: slow", "median_ms": 80.0, "p90_ms": 90.0, "max_ms": 99.0, "runs": 5,
            "budget_ms": 50.0, "within_budget": False}
    absent = {"what": "browser: absent", "budget_ms": 300.0, "note": "no browser here"}
    md = bench.markdown({**quick_run[0], "speeds": {"digits_server": slow, "stroke_to_answers": absent}})
    assert "| server: slow | 80.0 | 90.0 | 5 | 50.0 | **OVER** |" in md
    assert "| browser: absent | - | - | - | 300.0 | not measured: no browser here |" in md


def test_collectors_shapes_are_digits_the_cnn_reads_right():
    """benchmarks.collect draws these for the held-out "visitors' drawings": bent at random they must still be
    the digits they are labelled, or the fine-tuning figure would measure the shapes, not the models."""
    import numpy as np

    from benchmarks.collect import SHAPES, bend
    from models.loader import load_classifier
    from models.preprocessing import preprocess_drawing
    from training.strokes import CANVAS, stroke_canvas

    assert sorted(SHAPES) == list(range(10))
    rng = np.random.default_rng(0)
    labels = np.array([d for d in range(10) for _ in SHAPES[d] for _ in range(5)])
    strokes = [bend(shape, rng) for d in range(10) for shape in SHAPES[d] for _ in range(5)]
    assert all(0 < u < 1 and 0 < v < 1 for stroke in strokes for u, v in stroke)  # kept on the canvas
    digits = np.stack([preprocess_drawing(stroke_canvas([(u * CANVAS, v * CANVAS) for u, v in s])) for s in strokes])
    cnn = load_classifier(ROOT / "checkpoints" / "digit_cnn.safetensors")
    assert (cnn.predict_proba(digits).argmax(1) == labels).mean() >= 0.95


def test_a_figure_summarises_the_times_it_is_given() -> None:
    """Median, p90 (linear interpolation), max and the budget's verdict, on known times (no clock)."""
    assert latency.figure("digits_server", [4.0, 1.0, 3.0, 2.0, 10.0]) == {
        "what": WHAT["digits_server"], "median_ms": 3.0, "p90_ms": 7.6, "max_ms": 10.0, "runs": 5,
        "budget_ms": BUDGETS_MS["digits_server"], "within_budget": True,
    }
    assert latency.figure("digits_server", [900.0])["within_budget"] is False


def test_timed_reports_the_median_and_the_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latency, "timed_ms", lambda fn, repeats, warmup: [3.0, 1.0, 2.0])
    assert bench.timed(lambda: None, repeats=3) == {"median_s": 0.002, "min_s": 0.001, "repeats": 3}
