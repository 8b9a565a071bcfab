"""The app as a real server: ``with running_app() as url: ...`` starts ``streamlit run app/main.py`` on a free
local port and stops it afterwards; ``PeakRss`` samples the server's memory meanwhile.

The flags make start-up take seconds instead of ~30 s (no file watcher, no usage-stats request, no
browser launch). The server gets its own process group, so stopping it also stops anything it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app" / "main.py"
START_TIMEOUT_S = 120.0  # importing streamlit + torch and loading four models on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {proc.returncode} before becoming healthy")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"streamlit at {url} not healthy after {timeout_s:.0f} s")


@contextmanager
def running_app(log: Path | None = None, env: dict[str, str] | None = None, root: Path = ROOT) -> Iterator[str]:
    """Run the app on a free local port; yields its base URL, e.g. http://127.0.0.1:41234.

    ``log`` receives the server's output (else it is discarded); ``env`` is added to this process's environment;
    ``root``: the checkout to serve (another one measures the app before a change).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(root / APP.relative_to(ROOT)),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        cmd, cwd=root, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_healthy(url, proc, START_TIMEOUT_S)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if log:
            out.close()


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def server_pid(port: int) -> int:
    """The pid of the ``streamlit run`` process serving on ``port`` (found by its command line in /proc)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "streamlit" in " ".join(argv[:3]) and "run" in argv and str(port) in argv:
            return int(entry)
    raise LookupError(f"no streamlit process found serving port {port}")


def _family(pid: int) -> list[int]:
    """``pid`` and all its descendant processes."""
    todo, seen = [pid], []
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.append(pid)
            todo += _children(pid)
    return seen


def server_rss_bytes(port: int) -> int:
    """Resident memory of the server on ``port`` and all its descendant processes, in bytes."""
    return sum(_rss_bytes(pid) for pid in _family(server_pid(port)))


def server_cpu_seconds(port: int) -> float:
    """CPU time (user + system, of every thread) of the server on ``port`` and its descendant processes, with what
    their exited children used (the workers replaced after MAX_TASKS_PER_WORKER calls, say)."""
    total = 0.0
    for pid in _family(server_pid(port)):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile: its time is in its parent's cutime once reaped
        total += sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return total


class PeakRss:
    """Samples ``server_rss_bytes`` every ``interval`` s in a background thread while in a ``with`` block."""

    def __init__(self, port: int, interval: float = 0.25) -> None:
        self.port, self.interval, self.peak = port, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, server_rss_bytes(self.port))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, server_rss_bytes(self.port))
