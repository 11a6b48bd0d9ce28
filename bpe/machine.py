"""The machine a figure was measured on: CPU model, the instruction-set flags that decide which
kernels run fast (AVX2, AVX-512, VNNI, BF16, AMX), cores, torch and the kernels it dispatches to,
and the GPU.  A cost in seconds holds for this machine only, so every result records it
(:func:`bpe.outputs.run_provenance`) and every measured kernel choice is keyed by it
(:mod:`bpe.probe`)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["machine_info", "machine_key", "machine_line", "native_bf16", "ISA_FLAGS"]

#: The CPU flags that decide which of torch's and oneDNN's kernels run (and how fast).
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
             "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve")


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), []
    path = Path("/proc/cpuinfo")
    try:
        text = path.read_text() if path.is_file() else ""
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and value.strip():
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = value.split()
    return model, flags


@functools.lru_cache(maxsize=1)
def machine_info() -> dict[str, Any]:
    """CPU model, the :data:`ISA_FLAGS` it has, logical cores, OS, Python, torch's version, the CPU
    capability torch dispatches to (``ATEN_CPU_CAPABILITY`` can lower it), ``ONEDNN_MAX_CPU_ISA``
    when set, and the CUDA device's name (``None`` without one)."""
    model, flags = _cpuinfo()
    info: dict[str, Any] = {"cpu": model, "isa": [f for f in ISA_FLAGS if f in flags], "cores": os.cpu_count(),
                            "platform": platform.platform(), "python": platform.python_version()}
    try:
        import torch  # torch-heavy

        info.update(torch=torch.__version__, torch_cpu_capability=torch.backends.cpu.get_cpu_capability(),
                    cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):
        info["onednn_max_cpu_isa"] = os.environ["ONEDNN_MAX_CPU_ISA"]
    return info


def machine_key(info: dict[str, Any] | None = None) -> str:
    """A short hash of what decides kernel speed (CPU model, ISA flags, cores, torch and its
    dispatch, the GPU) of ``info`` (default: this machine's :func:`machine_info`): measured
    choices are kept per key, and a cost measured under another key is re-estimated."""
    info = machine_info() if info is None else info
    keep = {k: info.get(k) for k in ("cpu", "isa", "cores", "torch", "torch_cpu_capability", "onednn_max_cpu_isa",
                                      "cuda")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def machine_line() -> str:
    """One line for benchmark output: CPU model, ISA flags, cores, torch, its CPU dispatch, its
    current intra-op thread count, ONEDNN_MAX_CPU_ISA when set, and the GPU."""
    info = machine_info()
    try:
        import torch  # torch-heavy

        threads = f", {torch.get_num_threads()} torch thread(s)"
    except ImportError:  # pragma: no cover - torch is a dependency
        threads = ""
    parts = [f"machine: {info['cpu']}", f"ISA {' '.join(info['isa']) or 'baseline'}", f"{info['cores']} cores",
             f"torch {info.get('torch')} (CPU kernels: {info.get('torch_cpu_capability')}{threads})"]
    if info.get("onednn_max_cpu_isa"):
        parts.append(f"ONEDNN_MAX_CPU_ISA={info['onednn_max_cpu_isa']}")
    parts.append(f"GPU {info.get('cuda') or 'none'}")
    return "; ".join(parts)


def native_bf16(device: str = "cpu") -> bool:
    """Whether bf16 runs natively: on CUDA when the GPU supports it; on CPU when the CPU has
    AVX-512 BF16 or AMX-BF16 *and* torch dispatches to its AVX-512 kernels (restricted to AVX2, or
    on an AVX2-only CPU, bf16 is emulated: 2-14x slower than fp32 on one EPYC)."""
    try:
        import torch  # torch-heavy
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    if device != "cpu":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    info = machine_info()
    has_flags = bool({"avx512_bf16", "amx_bf16"} & set(info["isa"]))
    return has_flags and str(info.get("torch_cpu_capability", "")).upper().startswith("AVX512")
