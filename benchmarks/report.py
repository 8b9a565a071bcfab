"""The benchmark report: ``results.md``, written from the figures ``python -m benchmarks`` measured."""

from __future__ import annotations

from typing import Any

from benchmarks.capacity import CLASS_SIZES, PERIOD_S


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
        lines += ["", "## A classroom on one server", "", *capacity_table(results["capacity"], before), "",
                  "Server CPU time (user + system, the decoding workers included) and resident memory are read from "
                  "/proc around each request, which simulated visitors send over Streamlit's own websocket protocol "
                  "(benchmarks/capacity.py); the machine is the one above"
                  + (f", and the figures before were measured on {before['cpu']}" if before and "cpu" in before
                     else "") + "."]
    return "\n".join(lines) + "\n"


# The classroom (2 cores): measure -> (needed, aim); lower is better for each.
TARGETS = {"stroke_cpu_ms": (40, 15), "first_visitor_cpu_s": (0.5, 0.2), "p95_ms_at_30": (1000, 500),
           "session_mb": (10, 5), "stroke_to_answers_ms": (300, 250)}  # fmt: skip


def _at(figures: dict[str, Any], students: int) -> dict[str, Any] | None:
    return next((row for row in figures.get("load", []) if row["students"] == students), None)


def _rows(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, figure as text, target key) for the table below; "–" where the run has no such figure."""
    lab, load = figures.get("lab_cpu_ms", {}), {row["students"]: row for row in figures.get("load", [])}

    def show(value: Any, fmt: str) -> str:
        return "–" if value is None else fmt.format(value)

    rows = [("server CPU per stroke, steady state", show(figures.get("stroke_cpu_ms"), "{:,.0f} ms"), "stroke_cpu_ms"),
            ("server CPU, the first visitor after start", show(figures.get("first_visitor_cpu_s"), "{:.2f} s"),
             "first_visitor_cpu_s"),
            ("server CPU, each later new visitor", show(figures.get("new_visitor_cpu_ms"), "{:,.0f} ms"), ""),
            ("server CPU per photo upload (3 photo models)", show(figures.get("upload_cpu_ms"), "{:,.0f} ms"), "")]
    rows += [(f"server CPU per lab action: {a}", show(lab.get(a), "{:,.0f} ms"), "") for a in ("bend", "saliency",
                                                                                                "attack")]
    rows += [("server memory per extra session (drew, then uploaded a photo; ±0.5 MB)",
              show(figures.get("session_mb"), "{:.1f} MB"), "session_mb"),
             ("a 2-core server: strokes per second", show(figures.get("capacity", {}).get("strokes_per_s"),
                                                          "{:,.1f}"), "")]
    for n in CLASS_SIZES:
        row = load.get(n)
        latency = "–" if row is None else f"{row['p50_ms']:,} / {row['p95_ms']:,} ms"
        served = "–" if row is None else f"{row['strokes_per_s']:.1f}; {row['wrong_or_lost'] + row['sessions_failed']}"
        rows.append((f"{n} students, a stroke every 3 s each: stroke → answers p50 / p95", latency,
                     "p95_ms_at_30" if n == 30 else ""))
        rows.append((f"{n} students: strokes answered per s (asked {n / PERIOD_S:.0f}); wrong or lost", served, ""))
    rows.append(("pen-up → answers on screen, one visitor (Chromium, median)",
                 show(figures.get("stroke_to_answers_ms"), "{:,.0f} ms"), "stroke_to_answers_ms"))
    return rows


def capacity_table(now: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    """Markdown rows: each figure before (another checkout's run, named by its commit) and now, with the targets."""
    then = _rows(before or {})
    lines = [f"| measure | before ({(before or {}).get('commit', 'n/a')[:7]}) | now | needed | aim |",
             "|---|---:|---:|---:|---:|"]
    units = {"stroke_cpu_ms": " ms", "first_visitor_cpu_s": " s", "p95_ms_at_30": " ms", "session_mb": " MB",
             "stroke_to_answers_ms": " ms"}
    for (what, old, _), (_, new, key) in zip(then, _rows(now)):
        needed, aim = (f"≤ {v:g}{units[key]}" for v in TARGETS[key]) if key else ("", "")
        lines.append(f"| {what} | {old} | {new} | {needed} | {aim} |")
    return lines
