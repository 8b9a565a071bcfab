"""The machine the models run on: its CPU, and how many threads torch may use when serving.

Streamlit runs every browser session's script in its own Python thread, and all sessions share the cached
classifiers. Each thread that calls into torch gets its own team of ``torch.get_num_threads()`` intra-op
worker threads, so with torch's default (one per core) ten concurrent users on a 4-core machine would run
40 busy threads on 4 cores: slower for everyone than running them one by one. Our inputs are small (one
28x28 digit, one 128x128 photo), where extra threads help little, so the server caps intra-op threads at
half the cores (at most 4) and uses concurrency between sessions for the rest. Inter-op parallelism is
switched off: our models are single chains of ops.

torch's intra-op setting belongs to the calling thread (it is OpenMP's per-thread ``nthreads`` value;
threads started later inherit the value of the thread that starts them). Streamlit runs each script run
in a thread of its own, so the app calls ``configure_torch_threads()`` at the top of its script, on every
run: the call is cheap (a no-op when already set). The ``PLAYGROUND_TORCH_THREADS`` environment variable
overrides the choice (e.g. 1 for a busy many-user server, or the core count for a single user who wants
the lowest latency).
"""

from __future__ import annotations

import os

THREADS_ENV = "PLAYGROUND_TORCH_THREADS"
MAX_INTRA_OP_THREADS = 4


def available_cores() -> int:
    """CPU cores this process may run on (respects taskset/cgroup affinity, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def default_torch_threads(cores: int | None = None) -> int:
    """Intra-op threads for a server: half the cores, at least 1 and at most MAX_INTRA_OP_THREADS."""
    cores = available_cores() if cores is None else cores
    return max(1, min(MAX_INTRA_OP_THREADS, cores // 2))


def configure_torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count for the calling thread (and threads it starts later); return it.

    ``threads``: explicit count; otherwise $PLAYGROUND_TORCH_THREADS, otherwise ``default_torch_threads()``.
    Also asks for one inter-op thread, which torch allows only before its first inter-op work (process-wide).
    Cheap and safe to call on every script run, from any number of threads at once.
    Raises ValueError for a count below 1 or an unparsable environment variable.
    """
    import torch

    if threads is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        if env:
            try:
                threads = int(env)
            except ValueError:
                raise ValueError(f"${THREADS_ENV} must be a whole number of threads, got {env!r}") from None
        else:
            threads = default_torch_threads()
    if threads < 1:
        raise ValueError(f"torch needs at least 1 thread, got {threads}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != 1:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # torch already started its inter-op pool: the setting is fixed for good
            pass
    return threads


def limit_blas_threads(threads: int = 1) -> None:
    """Cap NumPy's BLAS (OpenBLAS) at ``threads`` threads for the whole process (call after NumPy is imported).

    The server's NumPy work is one digit at a time (a (1, 784) @ (784, 512) product), where extra BLAS threads
    win nothing, and after every product OpenBLAS's idle threads spin-wait for more work: with its default of
    one thread per core that spinning cost ~0.12 s of CPU per stroke on 2 cores (measured from /proc). A server
    gets its parallelism from its many visitors instead; live training (also NumPy) stays on one core too.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, e.g. "Intel(R) Xeon(R) Processor"; "unknown CPU" elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine_description() -> str:
    """E.g. "CPU: Intel(R) Xeon(R) Processor, 2 threads" (where training ran, for describe())."""
    return f"CPU: {cpu_name()}, {available_cores()} threads"
