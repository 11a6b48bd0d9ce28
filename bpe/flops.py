"""Count multiply-accumulates (MACs) of convolution and linear layers with forward hooks."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["count_macs", "count_params"]


@torch.no_grad()
def count_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass of ``module`` on a zero tensor of ``input_shape`` (batch
    included), counting conv and linear layers only (pooling and element-wise ops are free).
    Hooks are removed before returning; the module is run in eval mode and restored."""
    total = [0]

    def conv_hook(m: nn.Conv2d, inputs, output):
        kh, kw = m.kernel_size
        total[0] += output.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, inputs, output):
        total[0] += output.numel() * m.in_features

    handles = []
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = module.training
    try:
        device = next((p.device for p in module.parameters()), torch.device("cpu"))
        module.eval()(torch.zeros(input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    return total[0]


def count_params(module: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in module.parameters())
