"""README is a page, not a diary, and every figure it states is generated or checked here.

The models and speed tables are made by ``benchmarks.readme`` from the committed reports; every other number in
README's prose is looked up below in the file that sets it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import yaml

from benchmarks import readme
from benchmarks.capacity import CLASS_SIZES
from benchmarks.load import USERS
from models import load_classifier
from models.registry import models_for
from models.samples import load_digit_sample, load_train_subset, pet_examples
from uploads.limits import Budget

ROOT = Path(__file__).resolve().parent.parent
TEXT = (ROOT / "README.md").read_text()


def prose() -> str:
    """README without its code blocks and generated blocks: the text whose numbers are checked one by one."""
    text = re.sub(r"```.*?```", "", TEXT, flags=re.S)
    for name in readme.BLOCKS:
        text = readme.block_pattern(name).sub("", text)
    return text


def test_readme_fits_on_a_page() -> None:
    assert len(TEXT.splitlines()) <= 220


def test_generated_tables_match_the_committed_reports() -> None:
    assert readme.render(TEXT) == TEXT, "README's tables are stale: run python -m benchmarks.readme"


def test_readme_names_exactly_two_commands_for_a_fresh_clone() -> None:
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", TEXT, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["./app.sh", "./test.sh"]
    assert all((ROOT / c).is_file() for c in commands)


def test_every_number_in_the_prose_is_checked() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    replicas = re.search(r"APP_REPLICAS:-(\d+)", compose["services"]["app"]["deploy"]["replicas"]).group(1)
    proxy_port = re.search(r"PROXY_PORT:-(\d+)", compose["services"]["proxy"]["ports"][0]).group(1)
    python = re.search(r"python(3\.\d+)", (ROOT / "scripts" / "setup.sh").read_text()).group(1)
    budget = Budget()
    sample_digits, train_digits = len(load_digit_sample()[1]), len(load_train_subset()[1])
    checked = {
        python: "the Python setup.sh asks for",
        f"{budget.seconds:g}": "seconds of CPU per decode", f"{budget.megabytes:g}": "megabytes per decode",
        f"{sample_digits}": "bundled MNIST test digits", f"{train_digits:,}": "bundled training digits",
        f"{len(pet_examples())}": "bundled photos", replicas: "compose replicas", proxy_port: "compose port",
        "8501": "Streamlit's port (app.sh, Dockerfile)", f"{USERS}": "users in the load test",
        "101": "Caltech-101, a name", "10,000": "MNIST's test set", "1,748": "the cats-vs-dogs test split",
    }
    photo = {m.key: load_classifier(ROOT / "checkpoints" / m.filename) for m in models_for("pets")}
    checked |= {str(clf.input_size): "a photo model's input side" for clf in photo.values()}
    checked[f"{photo['pet_mlp'].model.config.sizes[0]:,}"] = "the numbers the Pet MLP reads"
    checked[str(len(photo["pet_small_cnn"].model.config.channels))] = "the Small Pet CNN's conv blocks"
    checked |= {str(n): "a class size in the capacity benchmark" for n in CLASS_SIZES}
    assert "8501" in (ROOT / "Dockerfile").read_text() and "8501" in (ROOT / "app.sh").read_text()
    numbers = set(re.findall(r"(?<![\w./-])\d[\d,.]*\d|(?<![\w./-])\d(?![\w])", prose()))
    unchecked = {n.rstrip(".,") for n in numbers} - set(checked)
    assert not unchecked, f"numbers in README that no test checks: {sorted(unchecked)}"


def test_the_test_set_sizes_it_names_are_the_reports() -> None:
    import json

    sizes = {json.loads(p.read_text())["n"] for p in (ROOT / "checkpoints").glob("*.eval.json")}
    assert sizes == {10_000, 1_748}
    assert np.all([f"{n:,}" in TEXT for n in sizes])


def test_a_fine_tuned_model_shows_both_trainings() -> None:
    scratch = {"epochs": 36, "wall_time_s": 4380.0, "started_from": None}
    assert readme.training_cell(scratch) == "36 epochs, 73 min"
    tuned = {"epochs": 8, "wall_time_s": 1620.0, "started_from": {"epochs": 36, "wall_time_s": 4380.0}}
    assert readme.training_cell(tuned) == "36 + 8 epochs, 73 + 27 min"
