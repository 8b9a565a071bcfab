"""Checkpoint fuzzing: random edits of the committed checkpoints' headers give a loaded model or a
CheckpointError, never another exception, never cost more than ~200 MB, and never construct more torch
modules than the unedited checkpoint does (the work is counted, not timed).

Each edit takes a real header (the NumPy MLP's, the digit CNN's, the cats-vs-dogs CNN's) and changes one
thing: a value of the metadata or of an array's description replaced by something of another type, a
huge or negative number, NaN, deep nesting; a key dropped or added; or raw bytes of the header text
flipped, inserted or cut. The arrays' bytes stay as they were, and no manifest lists the file, so every
check of the loader is exercised. The fuzzing runs in a fresh process, whose peak memory is measured and
whose CPU time is capped by a limit (a runaway load kills it).

Also here: the shape expectations the loader compares files with match the real models.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.checkpoint import CheckpointError
from models.cnn import CNNConfig
from models.loader import build_network
from models.model_checks import numpy_mlp_shapes, torch_shapes
from models.numpy_mlp import MLPConfig, NumpyMLP
from models.registry import BY_KEY
from tests.conftest import DIGIT_CHECKPOINTS, PET_CHECKPOINT, PET_CHECKPOINTS, ROOT

CASES = {"numpy_mlp": 250, "digit_cnn": 120, "pet_small_cnn": 50, "pet_cnn": 50}  # edits per checkpoint
MAX_GROWTH_MB = 200
CPU_LIMIT_S = 300  # RLIMIT_CPU of the fuzzing process: a backstop, several times what it needs


# --- the expectations match the models ----------------------------------------------------------------
@pytest.mark.parametrize("sizes", [(784, 512, 256, 10), (3, 5), (10, 1, 1, 7)])
def test_numpy_mlp_layout_matches_the_model(sizes):
    config = MLPConfig(sizes=sizes)
    assert numpy_mlp_shapes(config) == {k: v.shape for k, v in NumpyMLP(config).state_dict().items()}


@pytest.mark.parametrize(
    ("model_type", "config"),
    [("torch_mlp", MLPConfig(sizes=(784, 64, 10))), ("digit_cnn", CNNConfig()),
     ("pet_cnn", CNNConfig(in_channels=3, image_size=64, channels=(8, 16), convs_per_block=2, stem_stride=2,
                           head="gap", num_classes=3))],
)
def test_meta_build_matches_a_real_build(model_type, config):
    real = {k: tuple(v.shape) for k, v in build_network(BY_KEY[model_type], config).state_dict().items()}
    assert torch_shapes(lambda: build_network(BY_KEY[model_type], config), len(real)) == real


def test_a_config_asking_for_more_modules_than_arrays_stops_early():
    config = CNNConfig(channels=(4, 4, 4), convs_per_block=100_000)
    assert torch_shapes(lambda: build_network(BY_KEY["digit_cnn"], config), 4) is None


# --- the fuzzer (runs in a child process) -------------------------------------------------------------
ODD_VALUES: list[Any] = [
    0, -1, 1, 3, 2**31, 2**63, 10**6, 400_000, 20_000, 10**30, 0.5, -0.0, 1e308, float("inf"), float("nan"),
    "", "x", "1e999", "F32", "BF16", True, False, None, [], {}, [0, 0, 0], [-5], [1.5, 2.5], ["a", "b"],
    {"a": 1}, "nn-playground/1", "numpy_mlp", "torch_mlp", "digit_cnn", "pet_cnn", "gap", "flatten",
]


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a JSON document, as key/index paths (the root is ())."""
    found = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*path, i))
    return found


def _odd_value(rng: random.Random, old: Any) -> Any:
    choice = rng.random()
    if choice < 0.15 and isinstance(old, (int, float)) and not isinstance(old, bool):
        return type(old)(old * rng.choice([2, 10, 1000, -1]) + rng.choice([0, 1]))  # plausible but wrong
    if choice < 0.2:  # nested lists: 20 deep, or 50,000 (written by _dumps)
        return json.loads("[" * 20 + "]" * 20) if rng.random() < 0.5 else ["DEEP", 50_000]
    return rng.choice(ODD_VALUES)


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def _dumps(doc: Any) -> str:
    """JSON text; ("DEEP", n) stands for n nested lists (too deep for json.dumps to write)."""
    text = json.dumps(doc, allow_nan=True)
    return text.replace('["DEEP", 50000]', "[" * 50_000 + "]" * 50_000)


def mutated(data: bytes, rng: random.Random) -> bytes:
    """One random edit of a checkpoint's header (the arrays' bytes are kept)."""
    length = int.from_bytes(data[:8], "little")
    header, arrays = json.loads(data[8 : 8 + length]), data[8 + length :]
    meta = json.loads(header["__metadata__"]["meta"])
    kind = rng.choice(["meta", "meta", "meta", "drop", "add", "array", "header", "raw", "raw"])
    if kind in ("meta", "drop", "add"):
        path = rng.choice(_paths(meta))
        if kind == "meta":
            meta = _set(meta, path, _odd_value(rng, _get(meta, path)))
        elif kind == "drop" and path:
            parent = _get(meta, path[:-1])
            del parent[path[-1]]
        elif isinstance(target := _get(meta, path), dict):
            target[rng.choice(["extra", "layers", "head", "calibration"])] = _odd_value(rng, None)
    elif kind in ("array", "header"):
        doc = {k: v for k, v in header.items() if k != "__metadata__"} if kind == "array" else header
        path = rng.choice(_paths(doc)[1:])
        _set(doc, path, _odd_value(rng, _get(doc, path)))
        header = {**doc, "__metadata__": header["__metadata__"]} if kind == "array" else doc
    if kind != "header" and isinstance(header.get("__metadata__"), dict):
        header["__metadata__"]["meta"] = _dumps(meta)
    text = _dumps(header).encode()
    if kind == "raw":
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text))
            op = rng.choice(["flip", "insert", "cut"])
            if op == "flip":
                text = text[:at] + bytes([text[at] ^ (1 << rng.randrange(8))]) + text[at + 1 :]
            elif op == "insert":
                text = text[:at] + bytes([rng.choice(b'{}[]",:0123456789eE.-') ]) + text[at:]
            else:
                text = text[:at] + text[at + rng.randint(1, 8) :]
    prefix = len(text) if rng.random() > 0.05 else rng.choice([0, 7, len(text) + 1, 2**40, 2**64 - 1])
    return prefix.to_bytes(8, "little") + text + arrays


def _get(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def fuzz(sources: dict[str, int], seed: int = 0) -> dict[str, Any]:
    """Load ``count`` random edits of each source checkpoint; outcomes counted, anything else recorded, and
    per source the torch modules the unedited file constructs and the most any edit constructs."""
    import resource

    import torch

    from models import load_classifier

    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S))
    built = [0]
    init = torch.nn.Module.__init__

    def counting_init(self: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        built[0] += 1
        init(self, *args, **kwargs)

    torch.nn.Module.__init__ = counting_init
    honest = {}
    for source in sources:  # warm up (torch imported, each model loaded once) and count its modules
        built[0] = 0
        load_classifier(source)
        honest[Path(source).name] = built[0]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rng = random.Random(seed)
    outcomes = {"loaded": 0, "refused": 0}
    other, most = [], dict.fromkeys(honest, 0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.safetensors"
        for source, count in sources.items():
            data = Path(source).read_bytes()
            for i in range(count):
                path.write_bytes(mutated(data, rng))
                built[0] = 0
                try:
                    load_classifier(path)
                    outcomes["loaded"] += 1
                except CheckpointError:
                    outcomes["refused"] += 1
                except BaseException as e:  # noqa: BLE001 - exactly what the test looks for
                    other.append(f"{Path(source).name} #{i}: {type(e).__name__}: {str(e)[:200]}")
                most[Path(source).name] = max(most[Path(source).name], built[0])
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return {"outcomes": outcomes, "other": other, "growth_mb": growth, "honest_modules": honest, "most_modules": most}


@pytest.mark.slow
def test_fuzzed_headers_give_a_model_or_a_checkpoint_error():
    sources = {str(DIGIT_CHECKPOINTS["numpy_mlp"]): CASES["numpy_mlp"],
               str(DIGIT_CHECKPOINTS["digit_cnn"]): CASES["digit_cnn"],
               str(PET_CHECKPOINTS["pet_small_cnn"]): CASES["pet_small_cnn"]}  # a CNN without BatchNorm
    if PET_CHECKPOINT.exists():
        sources[str(PET_CHECKPOINT)] = CASES["pet_cnn"]
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from tests.test_checkpoint_fuzz import fuzz; "
            f"print(json.dumps(fuzz({sources!r})))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]  # -24 (SIGXCPU): the CPU limit stopped a runaway load
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["other"] == [], "\n".join(report["other"][:20])
    assert report["outcomes"]["refused"] > 0.5 * sum(sources.values())  # the edits really broke things
    assert report["outcomes"]["loaded"] > 0  # ... and some harmless ones loaded
    assert report["growth_mb"] < MAX_GROWTH_MB, report
    honest, most = report["honest_modules"], report["most_modules"]
    assert all(most[name] <= honest[name] for name in honest), report  # no edit made the loader build more


def test_mutations_are_reproducible():
    data = DIGIT_CHECKPOINTS["numpy_mlp"].read_bytes()
    first = [mutated(data, random.Random(7)) for _ in range(3)]
    assert first == [mutated(data, random.Random(7)) for _ in range(3)]
    assert np.mean([m != data for m in first]) > 0
