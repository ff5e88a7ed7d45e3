"""The environment a run's numbers came from, recorded in its manifest: hardware, driver, software versions,
numerics (dtype, attention backend, determinism flags), and the host with its load average.

The same checkpoint and decoder can move by several points with the GPU type, the backend and the numerics, and
wall time depends on what else the machine was running; the leaderboard shows a column for any of these fields
that differs between rows it compares (`COMPARED`).
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from typing import Any

PACKAGES = ("mdlm-eval", "torch", "transformers", "lm_eval", "peft", "accelerate")
# manifest fields that make two rows' numbers not directly comparable when they differ
COMPARED = ("device_name", "device_count", "driver", "cuda", "torch", "transformers", "lm_eval", "peft", "mdlm-eval",
            "dtype", "attention", "deterministic")


def versions() -> dict[str, str]:
    """Installed versions of the packages a score depends on (absent ones left out)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def driver_version() -> str | None:
    """The NVIDIA driver version from nvidia-smi, or None without one."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0].strip() if out else None


def hardware(device: str | None = None) -> dict[str, Any]:
    """Device name and count, driver and CUDA version (None on the CPU) of the device a run used."""
    import torch

    on_gpu = torch.cuda.is_available() and not str(device or "").startswith("cpu")
    if on_gpu:
        return {"device_name": torch.cuda.get_device_name(0), "device_count": torch.cuda.device_count(),
                "driver": driver_version(), "cuda": torch.version.cuda}
    cpu = platform.processor() or platform.machine()
    return {"device_name": f"cpu ({cpu})", "device_count": 1, "driver": None, "cuda": None,
            "cpu_threads": torch.get_num_threads()}


def numerics() -> dict[str, Any]:
    """torch's determinism flags and the scaled-dot-product attention kernels it may pick."""
    import torch

    flags = {"deterministic": torch.are_deterministic_algorithms_enabled(),
             "cudnn_deterministic": torch.backends.cudnn.deterministic,
             "cudnn_benchmark": torch.backends.cudnn.benchmark,
             "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
             "cublas_workspace": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}
    if torch.cuda.is_available():
        flags["sdp_kernels"] = [name for name, on in (("flash", torch.backends.cuda.flash_sdp_enabled()),
                                                      ("mem_efficient", torch.backends.cuda.mem_efficient_sdp_enabled()),
                                                      ("math", torch.backends.cuda.math_sdp_enabled())) if on]
    return flags


def environment(device: str | None, model_info: dict, load_start: list[float] | None, git_commit: str | None) -> dict:
    """The manifest's `environment`: hardware, versions (with the checkout's git commit), dtype and attention
    backend (from the model, as lm-eval's results config records them), determinism flags, host and load."""
    return {
        **hardware(device),
        **versions(),
        "git_commit": git_commit,
        "dtype": model_info.get("dtype"),
        "attention": model_info.get("attention"),
        **numerics(),
        "host": platform.node(),
        "load_start": load_start,
        "load_end": load_average(),
        "python": platform.python_version(),
    }
