"""Code style: ruff over the whole tree, and the pages' logic kept free of Streamlit."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


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
