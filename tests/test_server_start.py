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


STROKES_PROBE = """
import io, json, sys, types
import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest
from app.server_start import prepare_server
from tests.app_helpers import stroke_canvas

def png(points):
    out = io.BytesIO()
    Image.fromarray(stroke_canvas(points, 20)).save(out, "PNG")
    return out.getvalue()

drawing = {"png": png([(150, 40), (146, 140), (142, 240)])}
canvas = types.ModuleType("streamlit_drawable_canvas")
canvas.st_canvas = lambda **kw: types.SimpleNamespace(image_bytes=drawing["png"], json_data=None)
sys.modules["streamlit_drawable_canvas"] = canvas
prepare_server()
at = AppTest.from_file("app/navigation.py", default_timeout=120).run()  # AppTest's own first-run imports
before = set(sys.modules)
drawing["png"] = png([(100, 60), (180, 60), (120, 240)])  # a 7: a stroke...
at.run()
for section in ("bend_open", "inside_open", "attack_open"):  # ...and every lab section opened
    at.session_state[section] = True
    at.run()
at.toggle(key="attack_on").set_value(True).run()
from app.logic.checkpoints import PET_MODELS, shared_model  # noqa: E402 - imported before, by prepare_server
from app.logic.pets import analyse_photo  # noqa: E402
from models.samples import pet_examples  # noqa: E402
from uploads import load_photo  # noqa: E402
before |= {"app.logic.pets", "models.samples", "uploads"}  # the probe's own imports, if the pages had not yet
photo = load_photo(pet_examples()[0][0].read_bytes())
analyse_photo({spec.key: shared_model(spec).classifier for spec in PET_MODELS}, photo)  # a photo, every model
print(json.dumps({"new": sorted(set(sys.modules) - before), "exceptions": len(at.exception),
                  "answers": [m.value for m in at.metric]}))
"""


def test_nothing_is_imported_during_a_run() -> None:
    """Once the server is prepared, a stroke, the lab's sections and a photo import nothing: an import during a
    run is paid by the visitor who triggers it (a first saliency map imported ~500 modules, ~1 s)."""
    out = subprocess.run([sys.executable, "-c", STROKES_PROBE], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    assert probe["exceptions"] == 0 and probe["answers"] == ["7", "7", "7"]
    assert probe["new"] == []
