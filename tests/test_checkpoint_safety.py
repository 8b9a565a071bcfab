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
    hidden = []

    def shrink(tensors):
        hidden.append(tensors["weights.2"].shape[0])  # the last hidden layer's width
        tensors["weights.2"] = tensors["weights.2"][:, :9].copy()
        tensors["biases.2"] = tensors["biases.2"][:9].copy()

    rewrite(trusted, change_tensors=shrink)
    message = refused(trusted)
    assert "shapes does not match the manifest" in message and f"[{hidden[0]}, 9]" in message


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
    assert "not found" in refused(folder)


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
    assert f"the header claims {2**62:,} bytes, more than the" in refused(path)


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


# --- crafted checkpoints: refused before anything is allocated, always as CheckpointError ---------------
def forge(path: Path, arrays: dict[str, tuple[str, list[int], bytes]], meta: object = None,
          metadata: object = None, header_text: str | None = None) -> Path:
    """A safetensors file written by hand (so it can hold what safetensors' writer refuses): arrays as
    name -> (dtype, shape, raw bytes), ``meta`` JSON-encoded into the project's metadata (a str is used
    as is), or the whole header as ``header_text``."""
    header: dict[str, object] = {}
    offset, blobs = 0, []
    for name, (dtype, shape, blob) in arrays.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    if metadata is None:
        metadata = {"format": "nn-playground/1", "meta": meta if isinstance(meta, str) else json.dumps(meta)}
    header["__metadata__"] = metadata
    text = header_text if header_text is not None else json.dumps(header)
    path.write_bytes(len(text.encode()).to_bytes(8, "little") + text.encode() + b"".join(blobs))
    return path


def numpy_mlp_meta(**changes) -> dict:
    meta = {"model_type": "numpy_mlp", "display_name": "NumPy MLP", "class_names": [*"0123456789"],
            "config": {"sizes": [784, 512, 256, 10], "dropout": 0.2, "weight_decay": 0.0},
            "normalization": {"mean": 0.1307, "std": 0.3081}}
    meta.update(changes)
    return meta


def real_arrays(source: Path = SOURCE) -> dict[str, tuple[str, list[int], bytes]]:
    tensors, _ = load_checkpoint(source, verify=False)
    names = {np.dtype("float32"): "F32", np.dtype("int64"): "I64", np.dtype("float64"): "F64"}
    # Sorted: safetensors lists arrays in no fixed order, and the edits below rely on biases.0 coming first.
    return {k: (names[v.dtype], list(v.shape), v.tobytes()) for k, v in sorted(tensors.items())}


TINY = {"w": ("F32", [2], b"\0" * 8)}


def test_huge_layer_in_config_refused_before_allocating(tmp_path):
    """860 bytes whose config says 400,000 hidden units: 3.6 GB were allocated before the refusal."""
    import tracemalloc

    path = forge(tmp_path / "huge.safetensors", TINY, numpy_mlp_meta(config={"sizes": [784, 400_000, 10]}))
    assert path.stat().st_size < 2_000
    tracemalloc.start()
    try:
        assert "do not fit" in refused(path)
        assert tracemalloc.get_traced_memory()[1] < 20 * 2**20  # NumPy's allocations are traced
    finally:
        tracemalloc.stop()


MAX_MODULES = 100  # modules a refused one-array file may construct (these build 33, 38 and 5; unchecked: 10**6)


@pytest.mark.slow
def test_huge_torch_configs_refused_without_allocating(tmp_path):
    """CNN channels of 20,000 (13.8 GB and 48 s before), a million convolutions per block, 400,000 MLP units:
    built on the meta device, compared with the file's arrays, refused; measured in a fresh process. The work
    is counted, not timed: the modules constructed (a million convolutions would be a million) and the
    memory; a CPU-time limit stops the child if anything else runs away."""
    cnn = {"in_channels": 3, "image_size": 128, "channels": [20_000] * 4, "convs_per_block": 2,
           "stem_stride": 2, "head": "gap", "dropout": 0.3, "num_classes": 2}
    files = [
        forge(tmp_path / "wide.safetensors", TINY, numpy_mlp_meta(model_type="pet_cnn", class_names=["cat", "dog"],
              config=cnn, normalization={"mean": [0.5] * 3, "std": [0.2] * 3})),
        forge(tmp_path / "deep.safetensors", TINY, numpy_mlp_meta(model_type="digit_cnn",
              config={"channels": [32], "convs_per_block": 1_000_000})),
        forge(tmp_path / "mlp.safetensors", TINY, numpy_mlp_meta(model_type="torch_mlp",
              config={"sizes": [784, 400_000, 10]})),
    ]
    code = f"""
import resource, sys
resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
import torch
from models import CheckpointError, load_classifier
built = [0]
init = torch.nn.Module.__init__
def counting_init(self, *args, **kwargs):
    built[0] += 1
    init(self, *args, **kwargs)
torch.nn.Module.__init__ = counting_init
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for path in {[str(f) for f in files]!r}:
    built[0] = 0
    try:
        load_classifier(path)
        print("LOADED", path)
    except CheckpointError as e:
        print("REFUSED", built[0], str(e)[:200])
print("GROWTH_MB", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True).stdout
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["REFUSED"] * 3, out
    assert all(int(line.split()[1]) <= MAX_MODULES and "do not fit" in line for line in lines[:3]), out
    assert float(lines[3].split()[1]) < 50, out


@pytest.mark.parametrize("where", ["meta", "header", "manifest"])
def test_deeply_nested_json_refused(tmp_path, where):
    """100,000 nested lists used to raise RecursionError, which crashed every page."""
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.safetensors"
    if where == "meta":
        forge(path, TINY, '{"model_type": "numpy_mlp", "x": ' + deep + "}")
        assert "nests deeper" in refused(path)
    elif where == "header":
        forge(path, {}, header_text='{"__metadata__": {}, "x": ' + deep + "}")
        assert "not a readable checkpoint (truncated, corrupt or not safetensors: the header nests deeper" in (
            refused(path))
    else:
        shutil.copyfile(SOURCE, path)
        (tmp_path / MANIFEST_NAME).write_text('{"format": "nn-playground/1", "files": ' + deep + "}")
        with pytest.raises(CheckpointError, match="unreadable manifest.*nests deeper"):
            load_classifier(path)


MALFORMED = "metadata is missing or malformed"
NOT_MLP = "config does not fit MLPConfig"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"model_type": ["numpy_mlp"]}, f"{MALFORMED} (model_type is missing or not a string"),
        ({"class_names": "0123456789"}, f"{MALFORMED} (class_names is missing"),
        ({"class_names": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}, f"{MALFORMED} (class_names is missing"),
        ({"display_name": {"name": "x"}}, f"{MALFORMED} (display_name is not a string"),
        ({"config": ["sizes", 784]}, f"{MALFORMED} (display_name is not a string or config is not a JSON object"),
        ({"config": {"sizes": "784-512-256-10"}}, f"{NOT_MLP} (sizes: expected a list"),
        ({"config": {"sizes": [784, True, 10]}}, f"{NOT_MLP} (sizes: expected an integer"),
        ({"config": {"sizes": [784, 512.5, 256, 10]}}, f"{NOT_MLP} (sizes: expected an integer"),
        ({"config": {"dropout": "0.2"}}, f"{NOT_MLP} (dropout: expected a finite number"),
        ({"config": {"layers": 3}}, f"{NOT_MLP} (unknown fields ['layers']"),
        ({"normalization": {"mean": "0.13", "std": 0.3}}, f"{MALFORMED} (normalization needs numeric mean and std"),
        ({"normalization": [0.13, 0.31]}, f"{MALFORMED} (normalization needs numeric mean and std"),
    ],
    ids=lambda c: f"{next(iter(c))}={json.dumps(c[next(iter(c))])[:20]}" if isinstance(c, dict) else "",
)
def test_wrong_types_in_metadata_refused(tmp_path, changes, fragment):
    """A list where a string belongs gave TypeError/AttributeError, which load_model did not catch."""
    path = forge(tmp_path / "typed.safetensors", real_arrays(), numpy_mlp_meta(**changes))
    assert fragment in refused(path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"dropout": 1e999}', "not finite"),
        ('{"sizes": [784, 1e999, 10]}', "not finite"),
        ('{"weight_decay": NaN}', "not a number"),
        ('{"weight_decay": -Infinity}', "not a number"),
    ],
)
def test_infinite_numbers_in_config_refused(tmp_path, text, fragment):
    """json reads 1e999 as infinity; int(inf) raised OverflowError."""
    meta = json.dumps(numpy_mlp_meta()).replace('{"sizes": [784, 512, 256, 10], "dropout": 0.2, "weight_decay": 0.0}',
                                                text)
    path = forge(tmp_path / "inf.safetensors", real_arrays(), meta)
    assert fragment in refused(path)


@pytest.mark.parametrize("norm", [{"mean": 0.13, "std": 0}, {"mean": 0.13, "std": -0.3}, {"mean": 1e999, "std": 0.3},
                                  {"mean": [0.5, 0.5], "std": [0.2, 0.0]}])
def test_bad_statistics_refused(tmp_path, norm):
    """A zero std made every answer NaN, silently."""
    path = forge(tmp_path / "norm.safetensors", real_arrays(), numpy_mlp_meta(normalization=norm))
    assert "malformed" in refused(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_refused(tmp_path, bad):
    arrays = real_arrays()
    w = np.frombuffer(arrays["weights.1"][2], np.float32).copy()
    w[123] = bad
    arrays["weights.1"] = ("F32", arrays["weights.1"][1], w.tobytes())
    message = refused(forge(tmp_path / "nan.safetensors", arrays, numpy_mlp_meta()))
    assert "weights.1" in message and "NaN or infinite" in message


@pytest.mark.parametrize("dtype", ["BF16", "F16", "F8_E4M3", "F8_E5M2", "BOOL", "U8", "I32", "C64"])
def test_dtypes_the_project_does_not_write_refused(tmp_path, dtype):
    """bf16 and float8 arrays gave TypeError; every dtype but F32/F64/I64 is refused by name."""
    arrays = real_arrays()
    name, shape = "biases.2", arrays["biases.2"][1]
    size = {"BF16": 2, "F16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "BOOL": 1, "U8": 1, "I32": 4, "C64": 8}[dtype]
    arrays[name] = (dtype, shape, b"\0" * (size * int(np.prod(shape))))
    message = refused(forge(tmp_path / "dtype.safetensors", arrays, numpy_mlp_meta()))
    assert dtype in message and "F32" in message


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        # Refused by safetensors (the messages are its own):
        (lambda h: h["biases.0"].update(data_offsets=[0, 4]), "invalid shape, data type, or offset for tensor"),
        (lambda h: h["biases.0"].update(shape=[10**12]), "invalid shape, data type, or offset for tensor"),
        (lambda h: h["biases.0"].update(shape=[2**62, 2**62]), "overflow computing buffer size"),
        (lambda h: h["biases.0"].update(shape=[-512]), "invalid value: integer `-512`, expected usize"),
        (lambda h: h["biases.0"].update(shape="512"), 'invalid type: string "512", expected a sequence'),
        (lambda h: h["biases.0"].pop("shape"), "missing field `shape`"),
        (lambda h: h.update(__metadata__=["format"]), "invalid type: sequence, expected a map"),
        (lambda h: h.update(__metadata__={"format": 1}), "invalid type: integer `1`, expected a string"),
        # biases.1 moved onto biases.0's bytes at its own size (float32: 4 bytes a value)
        (lambda h: h["biases.1"].update(data_offsets=[0, 4 * h["biases.1"]["shape"][0]]), "invalid offset for tensor"),
        # Refused by our own check, before safetensors sees the file:
        (lambda h: h["biases.0"].pop("dtype"), "array 'biases.0' has dtype None; this project writes only F32"),
    ],
    ids=["offsets", "huge-shape", "overflow", "negative", "shape-str", "no-shape", "metadata-list", "metadata-int",
         "overlap", "no-dtype"],
)
def test_inconsistent_headers_refused(tmp_path, edit, fragment):
    path = tmp_path / "edited.safetensors"
    forge(path, real_arrays(), numpy_mlp_meta())
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    edit(header)
    forge(path, real_arrays(), header_text=json.dumps(header))
    message = refused(path)
    assert "not a readable checkpoint" in message and fragment in message


def test_trailing_bytes_and_lying_lengths_refused(tmp_path):
    path = forge(tmp_path / "tail.safetensors", real_arrays(), numpy_mlp_meta())
    path.write_bytes(path.read_bytes() + b"\0" * 16)
    assert "file not fully covered" in refused(path)  # safetensors' words
    data = bytearray(forge(tmp_path / "len.safetensors", real_arrays(), numpy_mlp_meta()).read_bytes())
    data[:8] = (len(data) - 4).to_bytes(8, "little")
    (tmp_path / "len.safetensors").write_bytes(bytes(data))
    assert f"the header claims {len(data) - 4:,} bytes" in refused(tmp_path / "len.safetensors")


@pytest.mark.parametrize(
    "files",
    [["a", "list"], {"numpy_mlp.safetensors": "sha"}, {"numpy_mlp.safetensors": {"sha256": 123}},
     {"numpy_mlp.safetensors": {"sha256": "0" * 64, "model_type": "numpy_mlp", "class_names": "0123456789",
                                "shapes": {}}},
     {"numpy_mlp.safetensors": {"sha256": "0" * 64, "model_type": "numpy_mlp", "class_names": ["0"],
                                "shapes": {"w": "big"}}}],
    ids=["list", "entry-str", "sha-int", "classes-str", "shape-str"],
)
def test_malformed_manifest_refused(trusted, files):
    """A manifest with the wrong types gave AttributeError/TypeError in every page."""
    (trusted.parent / MANIFEST_NAME).write_text(json.dumps({"format": "nn-playground/1", "files": files}))
    with pytest.raises(CheckpointError, match="unreadable manifest"):
        load_classifier(trusted)


def test_oversized_checkpoint_refused_unread(tmp_path, monkeypatch):
    import models.checkpoint as checkpoint

    path = forge(tmp_path / "big.safetensors", real_arrays(), numpy_mlp_meta())
    monkeypatch.setattr(checkpoint, "MAX_CHECKPOINT_BYTES", 1_000_000)
    assert "larger than" in refused(path)


@pytest.mark.slow
def test_app_keeps_the_other_models_when_one_is_hostile(tmp_path, monkeypatch):
    """Each broken checkpoint costs its own model only: the page names it and the others answer."""
    from streamlit.testing.v1 import AppTest

    from app.logic import checkpoints
    from tests.app_helpers import stroke_canvas
    from tests.conftest import DIGIT_CHECKPOINTS as DIGITS

    forge(tmp_path / "numpy_mlp.safetensors", TINY, "[" * 100_000)  # nested JSON
    tensors, meta = load_checkpoint(DIGITS["digit_cnn"])
    tensors["blocks.0.1.running_var"] = -np.abs(tensors["blocks.0.1.running_var"]) - 1  # loads, answers NaN
    save_file(tensors, str(tmp_path / "digit_cnn.safetensors"), metadata={"format": "nn-playground/1",
                                                                           "meta": json.dumps(meta)})
    (tmp_path / "torch_mlp.safetensors").symlink_to(DIGITS["torch_mlp"])
    monkeypatch.setenv(checkpoints.CHECKPOINT_ENV, str(tmp_path))
    loaded = {spec.key: checkpoints.load_model(spec) for spec in checkpoints.DIGIT_MODELS}
    assert loaded["torch_mlp"].ok and not loaded["numpy_mlp"].ok and not loaded["digit_cnn"].ok
    assert "NaN" in loaded["digit_cnn"].error and "numpy_mlp.safetensors" in loaded["numpy_mlp"].error

    import io
    import types

    from PIL import Image

    drawing = io.BytesIO()
    Image.fromarray(stroke_canvas([(150, 40), (142, 240)], 20)).save(drawing, "PNG")
    module = types.ModuleType("streamlit_drawable_canvas")
    module.st_canvas = lambda **kwargs: types.SimpleNamespace(image_bytes=drawing.getvalue(), json_data=None)
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", module)
    at = AppTest.from_string("from app.draw_page import render\nrender()\n", default_timeout=120).run()
    assert not at.exception
    warnings = "\n".join(str(w.value) for w in at.warning)
    assert "numpy_mlp checkpoint could not be loaded" in warnings and "digit_cnn" in warnings
    assert [m.label for m in at.metric] == ["PyTorch MLP"]
