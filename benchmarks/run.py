"""The benchmark driver: inference latency, training speed ratio, app memory, the speeds a user feels (server and
browser) against their budgets, and a classroom's cost to the server (benchmarks/capacity.py, beside the figures
of the commit before it was made cheap: capacity_before.json); ``--docs`` regenerates docs/ instead.

Timing rules: every measurement is warmed up first, then repeated; we report the median (robust to the
odd descheduling on a shared machine) and the minimum. Inference runs with the server's torch thread
setting (models.runtime.configure_torch_threads) unless --threads says otherwise. The training comparison
and the memory figure run in child processes: the thread caps for NumPy's BLAS must be set before NumPy
is imported, and a fresh process is the only honest RSS measure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import capacity, docs, latency  # noqa: E402
from benchmarks.browser import CHROMIUM  # noqa: E402
from benchmarks.machine import machine  # noqa: E402
from benchmarks.report import markdown  # noqa: E402
from benchmarks.training_ratio import training_ratio_child  # noqa: E402
from models.registry import BY_KEY, KEYS  # noqa: E402
from models.runtime import configure_torch_threads  # noqa: E402

CHECKPOINTS = ROOT / "checkpoints"
MODELS = KEYS  # every model in models.registry
BATCH = 256
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median and minimum wall time (seconds) of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    times = [ms / 1000 for ms in latency.timed_ms(fn, repeats, warmup)]
    return {"median_s": statistics.median(times), "min_s": min(times), "repeats": repeats}


# --- inference ----------------------------------------------------------------------------------------
def model_inputs(model_type: str) -> list[np.ndarray]:
    """Real inputs: the bundled MNIST digits, or the bundled pet photos decoded as the app decodes them."""
    if BY_KEY[model_type].task == "pets":
        from models.samples import pet_examples
        from uploads import load_photo

        return [load_photo(p.read_bytes()) for p, _ in pet_examples()]
    from models.samples import load_digit_sample

    return list(load_digit_sample()[0])


def bench_inference(quick: bool) -> list[dict[str, Any]]:
    from models import load_classifier

    rows = []
    for model_type in MODELS:
        path = CHECKPOINTS / BY_KEY[model_type].filename
        if not path.exists():
            rows.append({"model": model_type, "missing": f"{path.relative_to(ROOT)} not found"})
            continue
        model = load_classifier(path)
        inputs = model_inputs(model_type)
        batch = [inputs[i % len(inputs)] for i in range(BATCH)]
        photos = BY_KEY[model_type].task == "pets"
        if not photos:
            batch = np.stack(batch)  # digit classifiers take (N, 28, 28)
        one = [inputs[0]] if photos else inputs[0]
        single = timed(lambda m=model, x=one: m.predict_proba(x), repeats=20 if quick else 200, warmup=3)
        many = timed(lambda m=model, x=batch: m.predict_proba(x), repeats=3 if quick else 15, warmup=1)
        rows.append(
            {
                "model": model_type,
                "name": model.name,
                "parameters": model.num_parameters(),
                "single_ms": single["median_s"] * 1e3,
                "single_min_ms": single["min_s"] * 1e3,
                "batch": BATCH,
                "batch_ms": many["median_s"] * 1e3,
                "batch_min_ms": many["min_s"] * 1e3,
                "throughput_per_s": BATCH / many["median_s"],
            }
        )
    return rows


def run_child(args: list[str], threads: int) -> dict[str, Any]:
    env = {**os.environ, **{k: str(threads) for k in THREAD_ENV}, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- memory -------------------------------------------------------------------------------------------
def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc/self/status."""
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def memory_child() -> dict[str, Any]:
    """RSS of a process like the app's: streamlit and torch imported, every model loaded and used once."""
    import streamlit  # noqa: F401 - part of the app's footprint
    import torch  # noqa: F401

    from models import load_classifier
    from uploads import load_photo  # noqa: F401

    base, _ = rss_mb()
    loaded = []
    for model_type in MODELS:
        path = CHECKPOINTS / BY_KEY[model_type].filename
        if path.exists():
            model = load_classifier(path)
            one = model_inputs(model_type)[:1]
            model.predict_proba(one if BY_KEY[model_type].task == "pets" else np.stack(one))
            loaded.append(model_type)
    rss, peak = rss_mb()
    return {
        "models": loaded,
        "rss_imports_mb": base,
        "rss_all_models_mb": rss,
        "peak_rss_mb": peak,
        "models_mb": rss - base,
    }


# --- the speeds a user feels, against their budgets ---------------------------------------------------
def browser_missing() -> str | None:
    """Why no browser can be driven here, or None."""
    try:
        import playwright  # noqa: F401 - a development requirement
    except ImportError:
        return "playwright is not installed"
    return None if CHROMIUM.exists() else f"{CHROMIUM} not found"


def speeds(quick: bool) -> dict[str, dict[str, Any]]:
    """Every figure with a budget (and the canvas component's own delay), or why one was not measured."""
    strokes, repeats = (3, 10) if quick else (10, 50)
    lab = latency.lab_server(repeats)
    if why := browser_missing():
        return {
            "digits_server": latency.digits_server(repeats),
            "photo_server": latency.photo_server(repeats),
            "stroke_to_answers": latency.not_measured("stroke_to_answers", why),
            **lab,
        }
    from benchmarks.server import running_app

    with running_app() as url:
        measured = latency.measure(url, strokes, repeats) | lab
    return {name: measured[name] for name in latency.WHAT}  # the figures, not every stroke


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer repeats and examples (about a minute); for tests")
    p.add_argument(
        "--docs",
        action="store_true",
        help="instead: regenerate docs/ (screenshots, latency.json, load_test.json) against a real server",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for results.json and results.md (default: benchmarks/), or for --docs (default: docs/)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for inference (default: the server setting, models.runtime)",
    )
    p.add_argument(
        "--train-threads",
        type=int,
        default=1,
        help="threads for BOTH NumPy's BLAS and torch in the training comparison (default 1)",
    )
    p.add_argument(
        "--train-examples", type=int, default=None, help="examples per timed epoch (default 20,000; --quick 5,000)"
    )
    p.add_argument("--child", choices=["training", "memory"], help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = build_parser().parse_args(argv)
    examples = args.train_examples or (5_000 if args.quick else 20_000)
    rounds = args.rounds or (2 if args.quick else 3)
    if args.child == "training":
        print(json.dumps(training_ratio_child(examples, rounds, batch_size=128)))
        return None
    if args.child == "memory":
        print(json.dumps(memory_child()))
        return None
    if args.docs:
        docs.main(args.out or docs.DOCS)
        return None
    out = args.out or Path(__file__).resolve().parent

    threads = configure_torch_threads(args.threads)
    results: dict[str, Any] = {"quick": args.quick, "inference_threads": threads, "machine": machine()}
    print(
        f"benchmarking on {results['machine']['cpu']} ({results['machine']['cores']} cores), "
        f"{threads} torch thread(s) for inference ...",
        flush=True,
    )
    results["inference"] = bench_inference(args.quick)
    train_args = ["--child", "training", "--train-examples", str(examples), "--rounds", str(rounds)]
    results["training"] = run_child(train_args, args.train_threads)
    results["memory"] = run_child(["--child", "memory"], threads)
    results["speeds"] = speeds(args.quick)
    results["capacity"] = capacity.measure(args.quick)
    results["capacity"]["stroke_to_answers_ms"] = results["speeds"]["stroke_to_answers"].get("median_ms")
    if capacity.BEFORE.exists():
        results["capacity_before"] = json.loads(capacity.BEFORE.read_text())

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report = markdown(results)
    (out / "results.md").write_text(report)
    print(report)
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return results


if __name__ == "__main__":
    main()
