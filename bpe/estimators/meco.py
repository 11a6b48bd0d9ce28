"""MeCo (Jiang et al., NeurIPS 2023): how far from redundant the channels of every feature map
are at initialisation, read off one image.

For every module of the network (the network itself and every container included, as in the
authors' NAS-Bench-201 script), take its output for the first image of the batch, view it as
C channels x (H*W) positions, form the C x C Pearson correlation matrix between channels (NaN
and inf entries, from constant channels, set to 0), and keep its smallest eigenvalue; the score
is the sum over modules (NaN and inf terms dropped).  The authors score one CIFAR image
(batch 1) with PyTorch's default initialisation and train-mode BatchNorm; so do we.  Their
``meco_opt`` variant samples 8 channels per module without a seed, so it is not reproducible
and is not offered.  Higher is better.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from bpe.estimators import register_estimator
from bpe.estimators.zero_cost import TrainingFreeEstimator, _hooks

__all__ = ["MeCo", "min_channel_correlation_eigenvalue"]


def min_channel_correlation_eigenvalue(feature: torch.Tensor) -> float:
    """Smallest eigenvalue of the Pearson correlation between the rows of ``feature``
    reshaped to (its first dimension, rest); undefined entries count as 0."""
    rows = feature.reshape(feature.shape[0], -1).double()
    if rows.shape[0] < 2:
        return math.nan
    if rows.shape[1] < 2:  # one position: every correlation is undefined, so the matrix is 0
        return 0.0
    corr = torch.corrcoef(rows)
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    return float(torch.linalg.eigvalsh(corr).min())


@register_estimator("meco")
class MeCo(TrainingFreeEstimator):
    """MeCo: sum over modules of the smallest eigenvalue of the channel correlation matrix of
    the module's output for one image (see the module doc).  One forward pass, no labels."""

    default_batch_size = 1
    cost_passes = 1

    @torch.no_grad()
    def _score_batch(self, net: nn.Module, x: torch.Tensor, y: Any, num_classes: int) -> float:
        values: list[float] = []

        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            if not isinstance(out, torch.Tensor) or out.dim() == 0:
                return
            first = out[0] if isinstance(output, torch.Tensor) else out  # the first image's output
            if first.dim() == 0:
                return
            values.append(min_channel_correlation_eigenvalue(first))

        with _hooks([m.register_forward_hook(hook) for m in net.modules()]):
            net(x)
        finite = [v for v in values if math.isfinite(v)]
        return float(sum(finite))
