"""The runtime of every evaluation: the device, torch's thread count, the CPU memory layout and
the autocast precision, and the parts of a cache key they decide.  Each is chosen here and only
here; the training loop and the estimators ask.

Torch is imported where it is needed, so importing this module stays light.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from bpe.errors import ConfigError
from bpe.probe import choose
from bpe.spaces import get_space

if TYPE_CHECKING:
    import torch

__all__ = ["EVAL_THREADS", "torch_threads", "resolve_device", "CPU_LAYOUT", "cpu_layout", "memory_format",
           "layout_name", "planned_layout", "layout_key", "ran_in_planned_layout", "autocast_context", "PROBE_ARCH"]

#: torch intra-op threads of every evaluation, whatever ``--jobs`` is.  The thread count changes
#: the order of float reductions, so the last bits of a score, and the cache key does not hold
#: it: one fixed value makes a score independent of how the run was parallelised.  Runs use
#: more cores by evaluating several archs at once (``--jobs``), not by threading one.
EVAL_THREADS = 1

_threads_lock = threading.Lock()
_threads_state = {"active": 0, "saved": None}


@contextlib.contextmanager
def torch_threads(n: int = EVAL_THREADS) -> Iterator[None]:
    """Run the body with ``n`` torch intra-op threads; the previous count is restored after.

    The one place ``bpe`` sets torch's thread count.  Safe when several threads of one process
    evaluate at once (a Dask worker with several threads): the first body to enter saves the
    count and the last to leave restores it; a body nested in another restores the count it
    found.
    """
    import torch

    n = max(1, int(n))
    with _threads_lock:
        nested = _threads_state["active"] > 0
        previous = torch.get_num_threads()
        if not nested:
            _threads_state["saved"] = previous
        _threads_state["active"] += 1
        if previous != n:
            torch.set_num_threads(n)
    try:
        yield
    finally:
        with _threads_lock:
            _threads_state["active"] -= 1
            if _threads_state["active"] == 0:
                restore = _threads_state["saved"]
            else:
                restore = previous if nested else None
            if restore is not None and torch.get_num_threads() != restore:
                torch.set_num_threads(restore)


#: The layout of every network and batch on CPU, when set: ``None`` (the default) lets a probe
#: choose on the machine at hand (:func:`cpu_layout`).  Benchmarks set it to compare layouts.
CPU_LAYOUT: torch.memory_format | None = None

_LAYOUT_NAMES = ("channels_last", "contiguous")


def _layout(name: str) -> torch.memory_format:
    import torch

    return torch.channels_last if name == "channels_last" else torch.contiguous_format


def _layout_steps(fmt: torch.memory_format) -> Callable[[], None]:
    """Three training steps of a small NB201 network (C8, one cell per stage, 16 px, batch 64) in
    layout ``fmt``, on one thread: the probe's workload (the network is built on the first call)."""
    import torch
    import torch.nn.functional as F

    state: dict[str, Any] = {}

    def run() -> None:
        with torch_threads(EVAL_THREADS):
            if not state:
                net = get_space("nb201").build(PROBE_ARCH, num_classes=10, channels=8, cells_per_stage=1)
                state.update(net=net.to(memory_format=fmt), y=torch.arange(64) % 10,
                             x=torch.randn(64, 3, 16, 16, generator=torch.Generator().manual_seed(0))
                             .contiguous(memory_format=fmt))
                state["opt"] = torch.optim.SGD(state["net"].parameters(), lr=0.01)
            for _ in range(3):
                state["opt"].zero_grad(set_to_none=True)
                F.cross_entropy(state["net"](state["x"]), state["y"]).backward()
                state["opt"].step()
    return run


#: The cell the layout probe trains (NB201's best-known cell on CIFAR-10: convolutions, pooling and skips).
PROBE_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def cpu_layout() -> torch.memory_format:
    """The layout of every network and batch on CPU: :data:`CPU_LAYOUT` when set, else the faster
    of channels-last (oneDNN's convolutions, pooling and batch norm) and torch's default for a few
    training steps, measured once per machine (:func:`bpe.probe.choose`, probe ``cpu-layout``;
    ``BPE_PROBE_CPU_LAYOUT=channels_last|contiguous`` forces one).  Channels-last was 1.1-1.9x
    faster on an AVX-512 Xeon and 1.15-1.19x on an AVX2-only EPYC; the probe keeps it only where
    it wins."""
    if CPU_LAYOUT is not None:
        return CPU_LAYOUT
    # channels-last first: it keeps the cache keys of earlier runs unless the default layout wins by 10%
    name = choose("cpu-layout", {name: _layout_steps(_layout(name)) for name in _LAYOUT_NAMES}, margin=1.1)
    return _layout(name)


def memory_format(device: torch.device) -> torch.memory_format:
    """The layout of a network's weights and activations on ``device``: :func:`cpu_layout` on CPU,
    torch's default elsewhere.  Results computed in one layout are not bit-identical to the other's,
    so it is part of the cache keys (:func:`layout_key`)."""
    import torch

    return cpu_layout() if device.type == "cpu" else torch.contiguous_format


def layout_name(fmt: torch.memory_format) -> str:
    """``channels_last`` or ``contiguous``: the layout a run used, as its record states it."""
    import torch

    return "channels_last" if fmt == torch.channels_last else "contiguous"


def planned_layout(device: str | torch.device) -> str:
    """The name of the layout a run on ``device`` will use, decided where the run is planned (no
    CUDA availability check for ``cuda``: a CPU-only coordinator can plan GPU work)."""
    import torch

    if isinstance(device, str) and device != "auto":
        device = torch.device("cpu" if device == "cpu" else "cuda")
    return layout_name(memory_format(resolve_device(device)))


def layout_key(device: str | torch.device) -> dict[str, str]:
    """The layout as it enters cache keys: ``{"layout": "channels_last"}`` when it is used, nothing
    otherwise (so the entries of runs in torch's default layout keep their keys)."""
    name = planned_layout(device)
    return {"layout": name} if name == "channels_last" else {}


def ran_in_planned_layout(info: dict[str, Any], device: str | torch.device) -> bool:
    """Whether a record (its ``info``) was computed in the layout its cache key says (a record
    without one predates layouts: torch's default).  A worker on another device than the
    coordinating process's can differ; its record is then computed again."""
    return info.get("layout", "contiguous") == planned_layout(device)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``/``cuda``/``cuda:N`` as given."""
    import torch

    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device '{device}'; use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no CUDA GPU is available; use --device auto or cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device '{device}'; use auto, cpu or cuda")
    return dev


def autocast_context(precision: str, device: torch.device) -> Any:
    """The autocast context of ``precision`` on ``device`` (a no-op for fp32): bf16 on CPU and
    CUDA, fp16 on CUDA only (else :class:`~bpe.errors.ConfigError` naming the fix)."""
    if precision == "fp32":
        return nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
