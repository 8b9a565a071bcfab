"""The benchmark script runs end to end (quick mode) and reports what README quotes from it.

Checks the structure of results.json / results.md, that the figures are internally consistent (the
throughput is the batch over its latency), and the issue's performance bar: the NumPy MLP trains within
1.5x of the PyTorch MLP's time at the same architecture, batch size and thread count.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from conftest import ROOT

import benchmarks.run as bench
from models.checkpoint import read_manifest


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, str, str]:
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), (out / "results.md").read_text(), result.stdout


def test_structure(quick_run):
    results, _, _ = quick_run
    assert set(results) >= {"quick", "inference_threads", "machine", "inference", "training", "memory", "browser"}
    assert results["quick"] is True and results["inference_threads"] >= 1
    m = results["machine"]
    assert m["cpu"] and m["cores"] >= 1 and m["torch_threads"] >= 1
    assert {"python", "numpy", "torch", "pillow"} <= set(m["versions"])


def test_every_committed_checkpoint_is_timed(quick_run):
    results, _, _ = quick_run
    rows = {row["model"]: row for row in results["inference"]}
    committed = {name.removesuffix(".safetensors") for name in read_manifest(ROOT / "checkpoints")}
    assert committed <= set(rows)
    for model_type in committed:
        row = rows[model_type]
        assert "missing" not in row, row
        for key in ("single_ms", "batch_ms", "throughput_per_s"):
            assert math.isfinite(row[key]) and row[key] > 0, (model_type, key, row[key])
        assert row["batch"] == 256 and row["parameters"] > 0
        assert row["throughput_per_s"] == pytest.approx(256 / (row["batch_ms"] / 1000), rel=1e-9)
        assert row["single_min_ms"] <= row["single_ms"] and row["batch_min_ms"] <= row["batch_ms"]


def test_numpy_mlp_trains_within_1_5x_of_pytorch(quick_run):
    t = quick_run[0]["training"]
    assert t["architecture"].startswith("MLP 784-512-256-10") and t["batch_size"] == 128
    assert t["numpy_s_per_10k"] > 0 and t["torch_s_per_10k"] > 0
    assert t["ratio_numpy_over_torch"] == pytest.approx(t["numpy_s_per_10k"] / t["torch_s_per_10k"])
    assert t["ratio_numpy_over_torch"] <= 1.5, f"NumPy MLP is {t['ratio_numpy_over_torch']:.2f}x slower than PyTorch"
    assert t["within_limit"] is True


def test_memory_with_all_models(quick_run):
    mem = quick_run[0]["memory"]
    committed = {name.removesuffix(".safetensors") for name in read_manifest(ROOT / "checkpoints")}
    assert set(mem["models"]) == committed
    assert 0 < mem["rss_imports_mb"] <= mem["rss_all_models_mb"] <= mem["peak_rss_mb"] < 8000


def test_markdown_and_console_table(quick_run):
    results, md, stdout = quick_run
    for text in (md, stdout):
        assert "| model | parameters | 1 input (ms) | batch of 256 (ms) | throughput (items/s) |" in text
        assert "Ratio NumPy / PyTorch" in text and "MB RSS" in text
        for row in results["inference"]:
            assert row.get("name", row["model"]) in text
    assert f"{results['training']['ratio_numpy_over_torch']:.2f}x" in md


def test_browser_latency_hook(tmp_path, monkeypatch):
    """docs/latency.json, when the browser test has written it, lands in results and in the table."""
    missing = tmp_path / "docs" / "latency.json"
    monkeypatch.setattr(bench, "BROWSER_LATENCY", missing)
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    assert bench.browser_latency()["available"] is False
    missing.parent.mkdir()
    missing.write_text(json.dumps({"draw_to_prediction_p50_ms": 412.0, "runs": 20}))
    browser = bench.browser_latency()
    assert browser["available"] is True and browser["draw_to_prediction_p50_ms"] == 412.0
    missing.write_text("{broken")
    assert bench.browser_latency()["available"] is False


def test_markdown_includes_browser_figures(quick_run):
    results = {**quick_run[0], "browser": {"available": True, "source": "docs/latency.json", "p50_ms": 321}}
    md = bench.markdown(results)
    assert "| p50_ms | 321 |" in md and "docs/latency.json" in md
