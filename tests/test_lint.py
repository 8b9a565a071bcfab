"""Code style and layout: ruff over the whole tree, which package may import which, files of one job each
(none over MAX_LINES outside tests), and the model keys listed once (models/registry.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from models.registry import KEYS
from tests.conftest import ROOT

MAX_LINES = 300
# Each package may import only the packages below it: models <- uploads <- training, app <- benchmarks;
# feedback (the visitors' drawings) stands on its own.
MAY_NOT_IMPORT = {
    "models": {"uploads", "feedback", "training", "app", "benchmarks"},
    "uploads": {"feedback", "training", "app", "benchmarks"},
    "feedback": {"models", "uploads", "training", "app", "benchmarks"},
    "training": {"app", "benchmarks"},
    "app": {"training", "benchmarks"},
}


def python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]


def imported_packages(path: Path) -> set[str]:
    """The top-level names ``path`` imports anywhere, also inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_models_and_training_never_import_streamlit() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("models", "training")
        for p in (ROOT / folder).rglob("*.py")
        if "import streamlit" in p.read_text() or "from streamlit" in p.read_text()
    ]
    assert offenders == []


def test_app_never_imports_training() -> None:
    """The app runs on models/ alone: what it needs from training lives in models/."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "app").rglob("*.py")
        if any(line.lstrip().startswith(("import training", "from training")) for line in p.read_text().splitlines())
    ]
    assert offenders == []


def test_packages_import_only_what_they_stand_on() -> None:
    offenders = [f"{p.relative_to(ROOT)} imports {sorted(imported_packages(p) & banned)}"
                 for package, banned in MAY_NOT_IMPORT.items() for p in python_files(package)
                 if imported_packages(p) & banned]
    assert offenders == []


def test_no_file_is_over_max_lines_outside_tests() -> None:
    long = {str(p.relative_to(ROOT)): n for p in python_files(*MAY_NOT_IMPORT, "benchmarks")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_model_keys_are_listed_once() -> None:
    """No tuple, list, set or dict outside models/registry.py spells out two or more model keys."""
    offenders = []
    for p in python_files(*MAY_NOT_IMPORT, "benchmarks"):
        if p == ROOT / "models" / "registry.py":
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
            if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) and items:
                keys = {n.value for n in items if isinstance(n, ast.Constant) and n.value in KEYS}
                if len(keys) >= 2:
                    offenders.append(f"{p.relative_to(ROOT)}:{node.lineno} {sorted(keys)}")
    assert offenders == []


def test_only_the_outside_measurement_reads_the_outside_photos() -> None:
    """pets_outside_dev/ is for measuring only: outside tests, one module names it (training/outside.py), and no
    module a trainer can reach imports that one (training, thresholds and temperatures never see it)."""
    naming = {p.relative_to(ROOT).as_posix() for p in python_files("models", "uploads", "training", "app", "benchmarks")
              if "pets_outside_dev" in p.read_text()}
    assert naming == {"training/outside.py"}
    importers = {p.relative_to(ROOT).as_posix() for p in python_files("models", "uploads", "training", "app")
                 if "training.outside" in p.read_text()}
    assert importers == {"training/evaluate.py"}
