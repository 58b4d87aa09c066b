"""What every benchmark's report shares: machine information and the JSON / Markdown outputs."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import dbn


def machine_info():
    """CPU, cores, Python, numpy / numba / dbn versions and the BLAS thread pools of this process."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "dbn": dbn.__version__,
    }
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        pass
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["blas"] = blas_info()
    return info


def blas_info():
    """The thread pools threadpoolctl sees (library, version, threads, kernels, layer); [] without
    threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "version", "num_threads", "architecture", "threading_layer")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def limit_threads(n_threads):
    """Cap every thread pool threadpoolctl sees (BLAS, OpenMP) and PyTorch's at ``n_threads``.

    Call it after the libraries are imported, so their pools are capped too. Returns the limiter,
    which must be kept alive while timing (None if threadpoolctl is missing).
    """
    try:
        import torch
    except ImportError:
        pass
    else:
        torch.set_num_threads(n_threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(n_threads)


def open_log(output):
    """A ``log(message)`` that prints each line with the time of day and appends it to
    ``output/log.txt`` (``output`` is created), so that a long study leaves its trace."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    log_file = (output / "log.txt").open("a")

    def log(message):
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    return log


def command_line(script, argv=None):
    """How a benchmark was run, for its report: ``benchmarks/<script's name>`` and its arguments
    (``argv``, or the process's own when None)."""
    arguments = sys.argv[1:] if argv is None else argv
    return " ".join([f"benchmarks/{Path(script).name}", *arguments])


def write_report(output, results, table):
    """Print the Markdown table and write ``results.md`` and ``results.json`` into ``output``."""
    print()
    print(table)
    (output / "results.md").write_text(table + "\n")
    with open(output / "results.json", "w") as handle:
        json.dump(results, handle, indent=1, default=_json_default)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
