"""Checkpoints can be trusted: the manifest is enforced, and no file can make the loader run code.

Every test works on copies in a temporary folder (a committed checkpoint plus a MANIFEST.json written for
it), never on checkpoints/ itself. The malicious files carry a pickle whose unpickling would create a
marker file; a control test proves the payload really fires when unpickled, so "the marker does not
exist" means the loader refused to unpickle, not that the payload was a dud.
"""

from __future__ import annotations

import json
import pathlib
import pickle
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from models import load_classifier
from models.checkpoint import MANIFEST_NAME, CheckpointError, load_checkpoint, read_manifest, sha256_of
from tests.conftest import DIGIT_CHECKPOINTS

SOURCE = DIGIT_CHECKPOINTS["numpy_mlp"]  # the smallest committed checkpoint, and torch-free


@pytest.fixture
def trusted(tmp_path: Path) -> Path:
    """A committed checkpoint copied into tmp_path with a manifest listing it, as in checkpoints/."""
    path = tmp_path / SOURCE.name
    shutil.copyfile(SOURCE, path)
    entry = read_manifest(SOURCE.parent)[SOURCE.name]
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"format": "nn-playground/1", "files": {path.name: entry}}))
    return path


def rewrite(path: Path, change_tensors=None, change_meta=None, reseal: bool = True) -> None:
    """Rewrite a checkpoint with edited arrays or metadata; ``reseal`` updates the manifest's sha256 only, so
    the check under test (model type, classes or shapes) is the one that has to catch the edit."""
    tensors, meta = load_checkpoint(path, verify=False)
    if change_tensors:
        change_tensors(tensors)
    if change_meta:
        change_meta(meta)
    save_file(tensors, str(path), metadata={"format": "nn-playground/1", "meta": json.dumps(meta)})
    if reseal:
        manifest = path.parent / MANIFEST_NAME
        doc = json.loads(manifest.read_text())
        doc["files"][path.name]["sha256"] = sha256_of(path)
        manifest.write_text(json.dumps(doc))


def refused(path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_classifier(path)
    message = str(info.value)
    assert str(path) in message, f"the message does not name the file: {message}"
    return message


# --- the manifest -------------------------------------------------------------------------------------
def test_trusted_copy_loads_and_predicts(trusted, digit_sample):
    images, labels = digit_sample
    model = load_classifier(trusted)
    assert model.describe()["checkpoint"]["sha256"] == read_manifest(trusted.parent)[trusted.name]["sha256"]
    assert (model.predict(images[:100]) == labels[:100]).mean() > 0.9


@pytest.mark.parametrize("where", ["header", "middle", "last byte"])
def test_changed_bytes_refused(trusted, where):
    data = bytearray(trusted.read_bytes())
    at = {"header": 20, "middle": len(data) // 2, "last byte": len(data) - 1}[where]
    data[at] ^= 0x01
    trusted.write_bytes(bytes(data))
    message = refused(trusted)
    assert "sha256" in message and "refused" in message


def test_weights_swapped_for_other_valid_weights_refused(trusted):
    """A perfectly readable file with different numbers is still not the committed one."""
    rewrite(trusted, change_tensors=lambda t: t.update({"biases.2": t["biases.2"] + 1}), reseal=False)
    assert "sha256" in refused(trusted)


def test_model_type_changed_refused(trusted):
    rewrite(trusted, change_meta=lambda m: m.update(model_type="torch_mlp"))
    message = refused(trusted)
    assert "model_type does not match the manifest" in message and "torch_mlp" in message


def test_class_names_changed_refused(trusted):
    rewrite(trusted, change_meta=lambda m: m.update(class_names=[*"0123456789"[::-1]]))
    assert "class_names does not match the manifest" in refused(trusted)


def test_shapes_changed_refused(trusted):
    def shrink(tensors):
        tensors["weights.2"] = tensors["weights.2"][:, :9].copy()
        tensors["biases.2"] = tensors["biases.2"][:9].copy()

    rewrite(trusted, change_tensors=shrink)
    message = refused(trusted)
    assert "shapes does not match the manifest" in message and "[256, 9]" in message


def test_extra_tensor_refused(trusted):
    rewrite(trusted, change_tensors=lambda t: t.update(payload=np.zeros(3, np.float32)))
    assert "shapes does not match the manifest" in refused(trusted)


def test_unreadable_manifest_refused(trusted):
    (trusted.parent / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable manifest"):
        load_classifier(trusted)


def test_weights_not_fitting_config_refused(tmp_path):
    """Without a manifest entry, the config check still refuses arrays that do not fit the model."""
    path = tmp_path / "odd.safetensors"
    shutil.copyfile(SOURCE, path)
    rewrite(path, change_meta=lambda m: m["config"].update(sizes=[784, 100, 10]), reseal=False)
    assert "do not fit" in refused(path)


def test_unknown_model_type_refused(tmp_path):
    path = tmp_path / "odd.safetensors"
    shutil.copyfile(SOURCE, path)
    rewrite(path, change_meta=lambda m: m.update(model_type="shell_script"), reseal=False)
    assert "unknown model type" in refused(path)


def test_foreign_safetensors_refused(tmp_path):
    """A valid safetensors file from elsewhere (no project header) is not taken for a checkpoint."""
    path = tmp_path / "foreign.safetensors"
    save_file({"weight": np.ones((2, 2), np.float32)}, str(path))
    assert "not a checkpoint of this project" in refused(path)


@pytest.mark.parametrize("meta", ["not json", json.dumps({"model_type": "numpy_mlp"}), json.dumps([1, 2])])
def test_malformed_metadata_refused(tmp_path, meta):
    path = tmp_path / "bad.safetensors"
    save_file({"w": np.ones(2, np.float32)}, str(path), metadata={"format": "nn-playground/1", "meta": meta})
    assert "metadata is missing or malformed" in refused(path)


# --- broken files -------------------------------------------------------------------------------------
def test_missing_file_refused(tmp_path):
    assert "not found" in refused(tmp_path / "nowhere.safetensors")


def test_directory_refused(tmp_path):
    folder = tmp_path / "dir.safetensors"
    folder.mkdir()
    refused(folder)


@pytest.mark.parametrize("keep", [0, 7, 100, 0.5])
def test_truncated_file_refused(tmp_path, keep):
    path = tmp_path / "cut.safetensors"
    data = SOURCE.read_bytes()
    path.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    assert "not a readable checkpoint" in refused(path)


def test_random_bytes_refused(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    assert "not a readable checkpoint" in refused(path)


def test_header_claiming_huge_size_refused(tmp_path):
    """safetensors starts with the header length: a lying length must not make the loader allocate it."""
    path = tmp_path / "liar.safetensors"
    path.write_bytes((2**62).to_bytes(8, "little") + b'{"w":{}}')
    assert "not a readable checkpoint" in refused(path)


# --- malicious pickles --------------------------------------------------------------------------------
class Evil:
    """Unpickling this calls Path.touch(marker): harmless here, but it is arbitrary code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps({"weights.0": np.zeros((784, 512), np.float32), "payload": Evil(marker)})


def evil_torch_zip(path: Path, marker: Path) -> None:
    """A real torch.save file (zip with data.pkl) whose pickle carries the payload."""
    import torch

    torch.save({"layers.0.weight": torch.zeros(2, 2), "payload": Evil(marker)}, path)
    assert zipfile.is_zipfile(path)


def test_control_the_payload_really_fires(tmp_path):
    """Unpickling the evil bytes (in a child process) does create the marker: the payload is live."""
    marker = tmp_path / "control-marker"
    blob = tmp_path / "evil.pkl"
    blob.write_bytes(evil_pickle(marker))
    code = f"import pickle; pickle.load(open({str(blob)!r}, 'rb'))"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, capture_output=True)
    assert marker.exists()


@pytest.mark.parametrize("name", ["evil.safetensors", "evil.pt", "evil.pth", "evil.bin", "evil.ckpt"])
def test_malicious_pickle_refused_and_runs_nothing(tmp_path, name):
    marker = tmp_path / "marker"
    path = tmp_path / name
    path.write_bytes(evil_pickle(marker))
    message = refused(path)
    assert "not a readable checkpoint" in message
    assert not marker.exists(), "the pickle payload ran"


@pytest.mark.parametrize("name", ["evil_zip.safetensors", "evil_zip.pt"])
def test_malicious_torch_save_zip_refused_and_runs_nothing(tmp_path, name):
    marker = tmp_path / "marker"
    path = tmp_path / name
    evil_torch_zip(path, marker)
    assert not marker.exists()  # saving did not fire it either
    assert "not a readable checkpoint" in refused(path)
    assert not marker.exists(), "the pickle payload ran"


def test_plain_torch_save_of_real_weights_refused(tmp_path):
    """Even an honest torch.save state dict is refused: the project loads safetensors only."""
    import torch

    from models.numpy_mlp import MLPConfig
    from models.torch_mlp import TorchMLP

    path = tmp_path / "torch_mlp.safetensors"
    torch.save(TorchMLP(MLPConfig()).state_dict(), path)
    assert "not a readable checkpoint" in refused(path)


def test_malicious_file_listed_in_manifest_refused(trusted):
    """An attacker replacing a trusted file keeps its name: the hash check fires before any parsing."""
    marker = trusted.parent / "marker"
    trusted.write_bytes(evil_pickle(marker))
    assert "sha256" in refused(trusted)
    assert not marker.exists()


def test_loader_never_imports_pickle_based_loaders():
    """Source check backing the tests above: no unpickling anywhere in models/ (docstrings may say the word)."""
    banned = re.compile(r"import (pickle|dill|joblib)\b|\bpickle\.loads?\(|torch\.load\(|allow_pickle\s*=\s*True")
    for source in sorted((Path(__file__).resolve().parent.parent / "models").glob("*.py")):
        found = banned.search(source.read_text())
        assert found is None, f"{source.name} uses {found.group(0) if found else ''}"
