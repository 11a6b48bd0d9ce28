"""The DARTS operation set (Liu et al., 2019) as PyTorch modules.

The ops follow the original DARTS code and its PyTorch port (khanrc/pt.darts), on which the
BPE paper's DARTS experiments build: every op maps ``C`` channels to ``C`` channels and
either keeps the spatial size (stride 1) or halves it, rounding up (stride 2).  Convolutions
are ReLU -> conv -> BatchNorm; pools are followed by a BatchNorm; a stride-2 skip connection
is a :class:`FactorizedReduce`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bpe.errors import ArchStringError

__all__ = ["PRIMITIVES", "OPS", "make_op", "Zero", "PoolBN", "StdConv", "DilConv", "SepConv", "FactorizedReduce",
           "DropPath"]

#: Every DARTS op, ``none`` last (the last dimension of a supernet's ``alphas`` is in this order).
PRIMITIVES: tuple[str, ...] = (
    "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
    "none",
)

#: The 7 real ops (a derived cell never holds ``none``).
OPS: tuple[str, ...] = PRIMITIVES[:-1]


class Zero(nn.Module):
    """The ``none`` op: zeros of the (strided) input's shape."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class PoolBN(nn.Sequential):
    """3x3 max or average pooling (padding 1; the average excludes the padding) then BatchNorm."""

    def __init__(self, kind: str, channels: int, stride: int, *, affine: bool = True) -> None:
        if kind == "max":
            pool: nn.Module = nn.MaxPool2d(3, stride=stride, padding=1)
        elif kind == "avg":
            pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        else:
            raise ValueError(f"unknown pooling kind {kind!r}; choose 'max' or 'avg'")
        super().__init__(pool, nn.BatchNorm2d(channels, affine=affine))


class StdConv(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm: the cells' 1x1 preprocessing."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, *, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU -> depthwise (optionally dilated) conv -> pointwise 1x1 conv -> BatchNorm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int, *,
                 affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Separable convolution: two stacked undilated :class:`DilConv` blocks, only the first strided."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, *, affine: bool = True) -> None:
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine=affine),
            DilConv(c_in, c_out, kernel, 1, padding, 1, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the spatial size with two 1x1 stride-2 convolutions, the second shifted by one
    pixel, each giving ``c_out // 2`` channels; ReLU before, BatchNorm after the concatenation.

    Unlike the original code, an odd height or width works: the shifted input is zero-padded
    by one row/column at the end before the shift, so both halves have ``ceil(size / 2)``
    pixels (for even sizes the padding is never sampled and the result is the original one).

    The stride is taken by sampling every second pixel and a 1x1 convolution of stride 1 (the
    same sums, bit-identical where checked): on CPUs limited to AVX2, oneDNN's weight gradient
    of a channels-last 1x1 *stride-2* convolution with few channels (torch 2.14, e.g. 2 channels
    at 8 px) writes out of bounds -- seeded runs differ and the heap is corrupted (``Fatal Python
    error: Aborted``); see ``tests/system/test_cpu_code_paths.py`` for the check.
    """

    def __init__(self, c_in: int, c_out: int, *, affine: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        height, width = x.shape[-2:]
        shifted = F.pad(x, (0, width % 2, 0, height % 2)) if height % 2 or width % 2 else x
        return self.bn(torch.cat([self.conv_1(x[:, :, ::2, ::2]), self.conv_2(shifted[:, :, 1::2, 1::2])], dim=1))


class DropPath(nn.Module):
    """Per-sample drop path: in training mode, each sample's output is zeroed with probability
    ``p`` and the kept ones are scaled by ``1 / (1 - p)``; identity in eval mode or when ``p``
    is 0.  The mask is drawn with torch's default generator on the input's device, and the input
    is left untouched (a new tensor is returned).
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    @property
    def p(self) -> float:
        """The drop probability, in [0, 1)."""
        return self._p

    @p.setter
    def p(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1), got {value}")
        self._p = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self._p == 0.0:
            return x
        keep = 1.0 - self._p
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype).bernoulli_(keep)
        return x / keep * mask

    def extra_repr(self) -> str:
        return f"p={self._p}"


def make_op(name: str, channels: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """The DARTS op ``name`` with ``channels`` in and out and the given stride (1 or 2).

    ``affine=False`` gives the search network's BatchNorm (no learned scale and shift).  An
    unknown name raises :class:`~bpe.errors.ArchStringError` naming the allowed ones.
    """
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return PoolBN("max", channels, stride, affine=affine)
    if name == "avg_pool_3x3":
        return PoolBN("avg", channels, stride, affine=affine)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine=affine)
    if name == "sep_conv_3x3":
        return SepConv(channels, channels, 3, stride, 1, affine=affine)
    if name == "sep_conv_5x5":
        return SepConv(channels, channels, 5, stride, 2, affine=affine)
    if name == "dil_conv_3x3":
        return DilConv(channels, channels, 3, stride, 2, 2, affine=affine)
    if name == "dil_conv_5x5":
        return DilConv(channels, channels, 5, stride, 4, 2, affine=affine)
    raise ArchStringError(f"unknown DARTS op {name!r}; allowed ops: {', '.join(PRIMITIVES)}")
