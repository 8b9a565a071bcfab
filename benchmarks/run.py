"""The benchmark driver: inference latency, training speed ratio, app memory, and the speeds a user feels
(server and browser) against their budgets; ``--docs`` regenerates docs/ instead (benchmarks/docs.py).

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
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import docs, latency  # noqa: E402
from benchmarks.browser import CHROMIUM  # noqa: E402
from benchmarks.machine import machine  # noqa: E402
from models.runtime import configure_torch_threads  # noqa: E402

CHECKPOINTS = ROOT / "checkpoints"
MODELS = ("numpy_mlp", "torch_mlp", "digit_cnn", "pet_cnn")
BATCH = 256
RATIO_LIMIT = 1.5  # the NumPy MLP must train within 1.5x of PyTorch's time
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median and minimum wall time (seconds) of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    times = [ms / 1000 for ms in latency.timed_ms(fn, repeats, warmup)]
    return {"median_s": statistics.median(times), "min_s": min(times), "repeats": repeats}


# --- inference ----------------------------------------------------------------------------------------
def model_inputs(model_type: str) -> list[np.ndarray]:
    """Real inputs: the bundled MNIST digits, or the bundled pet photos decoded as the app decodes them."""
    if model_type == "pet_cnn":
        from models.samples import pet_examples
        from uploads import load_photo

        return [load_photo(p.read_bytes()) for p, _ in pet_examples()]
    from models.samples import load_digit_sample

    return list(load_digit_sample()[0])


def bench_inference(quick: bool) -> list[dict[str, Any]]:
    from models import load_classifier

    rows = []
    for model_type in MODELS:
        path = CHECKPOINTS / f"{model_type}.safetensors"
        if not path.exists():
            rows.append({"model": model_type, "missing": f"{path.relative_to(ROOT)} not found"})
            continue
        model = load_classifier(path)
        inputs = model_inputs(model_type)
        batch = [inputs[i % len(inputs)] for i in range(BATCH)]
        if model_type != "pet_cnn":
            batch = np.stack(batch)  # digit classifiers take (N, 28, 28)
        one = [inputs[0]] if model_type == "pet_cnn" else inputs[0]
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


# --- training: NumPy vs PyTorch MLP -------------------------------------------------------------------
def training_data(examples: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The first ``examples`` MNIST training digits, or the bundled sample tiled when MNIST is absent."""
    from models.datasets import resolve_data_dir

    data_dir = resolve_data_dir(None)
    if (data_dir / "MNIST" / "raw").is_dir():
        from models.datasets import load_mnist

        x, y = load_mnist(data_dir, train=True)
        source = f"MNIST training set ({data_dir})"
    else:
        from models.samples import load_digit_sample

        x, y, _ = load_digit_sample()
        source = "bundled 500-digit sample, tiled"
    reps = -(-examples // len(y))
    return np.concatenate([x] * reps)[:examples], np.concatenate([y] * reps)[:examples], source


def training_ratio_child(examples: int, rounds: int, batch_size: int) -> dict[str, Any]:
    """Runs in a child process whose BLAS/OpenMP thread caps were set before NumPy was imported."""
    import torch

    from models.numpy_mlp import Adam, MLPConfig, NumpyMLP
    from models.torch_mlp import TorchMLP
    from training import train_numpy_mlp
    from training.torch_loop import train_one_epoch as torch_epoch
    from training.train_digits_torch import make_prepare

    x, y, source = training_data(examples)
    config = MLPConfig()  # the committed models' architecture: 784-512-256-10, dropout 0.2
    numpy_times, torch_times = [], []
    for r in range(rounds):  # alternate the two so that load from other processes hits both alike
        model = NumpyMLP(config, seed=r)
        optimizer = Adam(model.parameters(), lr=1e-3)
        rng = np.random.default_rng(r)
        started = time.perf_counter()
        train_numpy_mlp.train_one_epoch(
            model, optimizer, x, y, batch_size=batch_size, rng=rng, max_shift=2, lr_at=lambda: 1e-3, show_progress=False
        )
        numpy_times.append(time.perf_counter() - started)

        torch.manual_seed(r)
        tmodel = TorchMLP(config)
        generator = torch.Generator().manual_seed(r)
        prepare = make_prepare("torch_mlp", 2, np.random.default_rng(r), generator)
        toptim = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
        started = time.perf_counter()
        torch_epoch(
            tmodel,
            x,
            y,
            order=np.random.default_rng(r).permutation(len(y)),
            prepare=prepare,
            optimizer=toptim,
            scheduler=None,
            batch_size=batch_size,
            generator=generator,
            show_progress=False,
        )
        torch_times.append(time.perf_counter() - started)
    per_10k = 10_000 / examples
    numpy_s, torch_s = min(numpy_times) * per_10k, min(torch_times) * per_10k
    return {
        "architecture": config.summary(),
        "batch_size": batch_size,
        "examples": examples,
        "rounds": rounds,
        "data": source,
        "threads": torch.get_num_threads(),
        "numpy_s_per_10k": numpy_s,
        "torch_s_per_10k": torch_s,
        "numpy_s_per_epoch_55k": numpy_s * 5.5,
        "torch_s_per_epoch_55k": torch_s * 5.5,
        "ratio_numpy_over_torch": numpy_s / torch_s,
        "within_limit": numpy_s / torch_s <= RATIO_LIMIT,
        "limit": RATIO_LIMIT,
    }


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
        path = CHECKPOINTS / f"{model_type}.safetensors"
        if path.exists():
            model = load_classifier(path)
            one = model_inputs(model_type)[:1]
            model.predict_proba(one if model_type == "pet_cnn" else np.stack(one))
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


# --- report -------------------------------------------------------------------------------------------
def markdown(results: dict[str, Any]) -> str:
    m, t, mem = results["machine"], results["training"], results["memory"]
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores available, torch {m['versions']['torch']} with "
        f"{results['inference_threads']} intra-op thread(s) for inference; Python {m['versions']['python']}, "
        f"NumPy {m['versions']['numpy']}. Load average at start: "
        + (", ".join(f"{v:.2f}" for v in m["load_average"]) if m["load_average"] else "n/a")
        + f". Mode: {'quick' if results['quick'] else 'full'}. Reproduce with `python -m benchmarks`.",
        "",
        "## Inference (median of repeated runs)",
        "",
        "| model | parameters | 1 input (ms) | batch of 256 (ms) | throughput (items/s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in results["inference"]:
        if "missing" in row:
            lines.append(f"| {row['model']} | - | - | - | {row['missing']} |")
        else:
            lines.append(
                f"| {row['name']} | {row['parameters']:,} | {row['single_ms']:.2f} | {row['batch_ms']:.1f} | "
                f"{row['throughput_per_s']:,.0f} |"
            )
    lines += [
        "",
        f"## Training: NumPy MLP vs PyTorch MLP ({t['architecture']}, batch {t['batch_size']}, "
        f"{t['threads']} thread(s))",
        "",
        "| implementation | s per 10,000 examples | s per 55,000-example epoch |",
        "|---|---:|---:|",
        f"| NumPy (hand-written backprop + Adam) | {t['numpy_s_per_10k']:.2f} | {t['numpy_s_per_epoch_55k']:.1f} |",
        f"| PyTorch (autograd + torch.optim.Adam) | {t['torch_s_per_10k']:.2f} | {t['torch_s_per_epoch_55k']:.1f} |",
        "",
        f"Ratio NumPy / PyTorch: **{t['ratio_numpy_over_torch']:.2f}x** (limit {t['limit']}x: "
        f"{'within' if t['within_limit'] else 'OVER'}); best of {t['rounds']} rounds on {t['examples']:,} "
        f"examples of the {t['data']}.",
        "",
        "## Memory",
        "",
        f"App-like process (streamlit + torch imported, models {', '.join(mem['models'])} loaded and run once): "
        f"**{mem['rss_all_models_mb']:.0f} MB RSS** ({mem['rss_imports_mb']:.0f} MB after imports, "
        f"+{mem['models_mb']:.0f} MB for the models; peak {mem['peak_rss_mb']:.0f} MB).",
        "",
        "## Speeds a user feels, against their budgets",
        "",
        "| what | median (ms) | p90 (ms) | runs | budget (ms) | |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for f in results["speeds"].values():
        budget = f.get("budget_ms") or "-"
        if "median_ms" not in f:
            lines.append(f"| {f['what']} | - | - | - | {budget} | not measured: {f['note']} |")
            continue
        verdict = {True: "within", False: "**OVER**"}.get(f.get("within_budget"), "")
        lines.append(f"| {f['what']} | {f['median_ms']:.1f} | {f['p90_ms']:.1f} | {f['runs']} | {budget} | {verdict} |")
    lines += [
        "",
        "Server figures time the app's own functions in this process; browser figures run a real server and "
        "headless Chromium, on the page's clock from mouse-up. A budget missed on a busy machine is reported "
        "here, not raised.",
    ]
    return "\n".join(lines) + "\n"


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

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report = markdown(results)
    (out / "results.md").write_text(report)
    print(report)
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return results


if __name__ == "__main__":
    main()
