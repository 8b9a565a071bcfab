"""The benchmark report: ``results.md``, written from the figures ``python -m benchmarks`` measured."""

from __future__ import annotations

from typing import Any

from benchmarks.capacity import table


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
    if "capacity" in results:
        before = results.get("capacity_before")
        lines += ["", "## A classroom on one server", "", *table(results["capacity"], before), "",
                  "Server CPU time (user + system, the decoding workers included) and resident memory are read from "
                  "/proc around each request, which simulated visitors send over Streamlit's own websocket protocol "
                  "(benchmarks/capacity.py); the machine is the one above"
                  + (f", and the figures before were measured on {before['cpu']}" if before and "cpu" in before
                     else "") + "."]
    return "\n".join(lines) + "\n"
