"""What a figure was measured on: CPU, cores, memory, versions, the browser, and how busy the CPUs already were.

Every report the benchmarks write (results.json, docs/latency.json, docs/load_test.json) carries this, so
a figure is never read without knowing the machine and the load it was measured under.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.browser import CHROMIUM
from models.runtime import available_cores, cpu_name


def memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def chromium_version() -> str | None:
    try:
        return subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_busy(seconds: float = 2.0) -> float | None:
    """Fraction of all CPUs' time spent busy over the next ``seconds`` (from /proc/stat): how much other work
    competes with a measurement. The load average lags by minutes, so it cannot tell."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return round((busy1 - busy0) / max(1, total1 - total0), 2)


def machine() -> dict[str, Any]:
    import numpy as np
    import PIL
    import streamlit
    import torch

    return {
        "cpu": cpu_name(),
        "arch": platform.machine(),
        "cores": available_cores(),
        "logical_cpus": os.cpu_count(),
        "memory_gb": memory_gb(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "cpu_busy_before": cpu_busy(),
        "browser": chromium_version(),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "pillow": PIL.__version__,
            "streamlit": streamlit.__version__,
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
