"""README's figures, made from the files that measured them, so that README cannot drift from them.

README.md holds generated blocks between ``<!-- begin NAME -->`` and ``<!-- end NAME -->``: the models table
(from each checkpoint, its metadata and its ``.eval.json``) and the speed table (from
``benchmarks/results.json``). ``python -m benchmarks.readme`` rewrites them; ``tests/test_readme.py`` fails
when a block is not what this module makes from the files committed beside it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models import load_classifier  # noqa: E402
from models.artifacts import eval_path  # noqa: E402
from models.registry import MODELS  # noqa: E402

README = ROOT / "README.md"
CHECKPOINTS = ROOT / "checkpoints"
RESULTS = ROOT / "benchmarks" / "results.json"
UNKNOWN_WORDS = {"digits": "not a digit", "pets": "neither"}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def training_cell(training: dict) -> str:
    """"36 epochs, 73 min", or for a model fine-tuned from another checkpoint "36 + 8 epochs, 73 + 27 min"."""
    first = training.get("started_from")
    if not first:
        return f"{training['epochs']} epochs, {_minutes(training['wall_time_s'])}"
    return (f"{first['epochs']} + {training['epochs']} epochs, "
            f"{first['wall_time_s'] / 60:.0f} + {_minutes(training['wall_time_s'])}")


def models_table() -> str:
    """One row per model of the registry: what it is, its size, its test figures and its training time."""
    rows = [
        "| key | model | architecture | parameters | checkpoint | test accuracy | \"unknown\": caught / refused"
        " | ECE | training |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for info in MODELS:
        path = CHECKPOINTS / info.filename
        described = load_classifier(path).describe()
        report = json.loads(eval_path(path).read_text())
        unknown, training = report["unknown"], described["training"]
        rows.append(
            f"| `{info.key}` | {info.name} | {described['architecture']} | {described['parameters']:,} "
            f"| {path.stat().st_size / 1e6:.1f} MB | **{report['accuracy']:.2%}** of {report['n']:,} "
            f"| {unknown['unknown_caught']:.1%} / {unknown['known_refused']:.2%} "
            f"| {report['calibration']['ece_after']:.2%} "
            f"| {training_cell(training)} |"
        )
    return "\n".join(rows)


def speed_table() -> str:
    """What a visitor waits for, from the last ``python -m benchmarks`` run, with its machine."""
    results = json.loads(RESULTS.read_text())
    machine = results["machine"]
    rows = ["| what | median | p90 | budget |", "|---|---:|---:|---:|"]
    for speed in results["speeds"].values():
        budget = f"{speed['budget_ms']:g} ms" if "budget_ms" in speed else "–"
        rows.append(f"| {speed['what']} | {speed['median_ms']:.1f} ms | {speed['p90_ms']:.1f} ms | {budget} |")
    memory = results["memory"]
    rows += ["", f"Measured on {machine['cpu']} ({machine['cores']} cores) on {machine['measured_at'][:10]}; the app "
             f"process with every model loaded: {memory['rss_all_models_mb']:.0f} MB."]
    if "capacity" in results:  # what a classroom costs the server (benchmarks/capacity.py)
        c, load = results["capacity"], {row["students"]: row for row in results["capacity"]["load"]}
        rows += ["", "| a classroom on this server | measured |", "|---|---:|",
                 f"| server CPU per stroke / per new visitor | {c['stroke_cpu_ms']:.0f} ms / "
                 f"{c['new_visitor_cpu_ms']:.0f} ms |",
                 f"| server memory per extra session | {c['session_mb']:.1f} MB |"]
        sizes, p95s = " / ".join(map(str, load)), " / ".join(f"{row['p95_ms']:,}" for row in load.values())
        rows.append(f"| {sizes} students, a stroke every 3 s each: stroke → answers, p95 | {p95s} ms |")
    return "\n".join(rows)


BLOCKS: dict[str, Callable[[], str]] = {"models": models_table, "speed": speed_table}


def block_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- begin {name} -->\n)(.*?)(\n<!-- end {name} -->)", re.S)


def render(text: str) -> str:
    """``text`` with every generated block replaced by what the files say now."""
    for name, make in BLOCKS.items():
        found = block_pattern(name).search(text)
        if found is None:
            raise ValueError(f"README.md has no block {name!r}")
        start, end = found.span(2)
        text = text[:start] + make() + text[end:]
    return text


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.readme", description=__doc__)
    p.add_argument("--check", action="store_true", help="only say whether README.md is up to date (exit 1 if not)")
    args = p.parse_args(argv)
    text = README.read_text()
    new = render(text)
    if args.check:
        sys.exit(0 if new == text else 1)
    README.write_text(new)


if __name__ == "__main__":
    main()
