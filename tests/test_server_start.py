"""What the server does before its first visitor (app/server_start.py), run in a fresh interpreter: freezing
the garbage collector and capping BLAS threads are process-wide and must not leak into the test process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from models.registry import MODELS
from tests.conftest import ROOT

PROBE = """
import gc, json
from threadpoolctl import threadpool_info
from app.logic.checkpoints import DIGIT_MODELS, PET_MODELS, shared_model
from app.server_start import prepare_server
before = gc.get_freeze_count()
prepare_server()
loaded = {spec.key: shared_model(spec).ok for spec in DIGIT_MODELS + PET_MODELS}
same = all(shared_model(spec) is shared_model(spec) for spec in DIGIT_MODELS + PET_MODELS)
blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(), "loaded": loaded, "same": same, "blas": blas,
                  "torch_imported": "torch" in __import__("sys").modules}))
"""


def test_prepare_server_loads_every_model_once_then_freezes_them() -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": ""}  # the cap must come from prepare_server, not from here
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    assert probe["before"] == 0 and probe["frozen"] > 100_000  # torch's modules alone are ~10^5 objects
    assert probe["loaded"] == {spec.key: True for spec in MODELS}  # every shipped checkpoint
    assert probe["same"] and probe["torch_imported"]
    assert probe["blas"] and set(probe["blas"]) == {1}
