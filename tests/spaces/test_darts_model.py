"""DARTS space networks: the op set, the evaluation network (DARTS V2's published size) and the
search supernet (mixed and single-path forwards, the top-2 derivation rule)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from bpe.errors import ArchStringError
from bpe.spaces.darts.model import DARTSNetwork, count_parameters
from bpe.spaces.darts.ops import OPS, PRIMITIVES, DropPath, FactorizedReduce, make_op
from bpe.spaces.darts.supernet import EDGES, DARTSSuperNet, derive_pairs

torch.set_num_threads(1)

DARTS_V2 = SimpleNamespace(
    normal=(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
    normal_concat=(2, 3, 4, 5),
    reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
    reduce_concat=(2, 3, 4, 5),
)

TINY = {"channels": 4, "layers": 5, "num_classes": 10}


@pytest.fixture(autouse=True)
def _fork_rng():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


def _x(size: int = 8, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


# --- the evaluation network ------------------------------------------------------------------------

def test_darts_v2_has_the_published_size():
    """DARTS V2 at C=36, 20 cells: 3.3 M parameters in the paper.  The original DARTS code gives
    3,349,342; the pt.darts ops used here add a BatchNorm after each pool, i.e. 2 x 2C affine
    parameters for each of the 5 max pools of the two reduction cells (C=72, 144): +2,160."""
    net = DARTSNetwork(DARTS_V2, channels=36, layers=20, num_classes=10, auxiliary=True)
    n = count_parameters(net)
    assert 3.25e6 <= n <= 3.45e6
    assert n == 3_349_342 + 5 * 2 * (72 + 144) == 3_351_502
    # the auxiliary head (576 channels in) is counted only when asked
    assert count_parameters(net, exclude_auxiliary=False) - n == sum(p.numel() for p in net.auxiliary_head.parameters())
    assert count_parameters(net, exclude_auxiliary=False) - n == 576 * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 7690


@pytest.mark.parametrize("auxiliary", [False, True])
def test_forward_shapes_and_auxiliary_logits(auxiliary):
    net = DARTSNetwork(DARTS_V2, auxiliary=auxiliary, **TINY)
    assert (net.auxiliary_head is not None) == auxiliary
    x = _x(16)
    net.train()
    out = net(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    if auxiliary:
        assert net.auxiliary_logits is not None and net.auxiliary_logits.shape == (2, 10)
        net.auxiliary_logits.sum().backward()
        assert all(p.grad is not None for p in net.auxiliary_head.parameters())
    else:
        assert net.auxiliary_logits is None
    net.eval()
    with torch.no_grad():
        assert net(_x(8)).shape == (2, 10)  # 8x8 works too (the auxiliary head pools adaptively)
    assert net.auxiliary_logits is None  # eval mode clears it


def test_cell_layout_follows_darts():
    net = DARTSNetwork(DARTS_V2, **TINY)
    assert [cell.reduction for cell in net.cells] == [False, True, False, True, False]  # at 5 // 3 and 10 // 3
    # the cell after a reduction factorises its first input; the stem feeds 3C channels
    assert isinstance(net.cells[2].preprocess0, FactorizedReduce)
    assert net.stem[0].out_channels == 12 and net.classifier.in_features == 4 * 4 * 4
    # every op but the identity is followed by a DropPath
    ops = [op for cell in net.cells for op in cell.ops]
    assert sum(isinstance(m, DropPath) for m in net.modules()) == sum(not isinstance(op, nn.Identity) for op in ops)
    assert any(isinstance(op, nn.Identity) for op in ops)


def test_drop_path_in_the_network():
    net = DARTSNetwork(DARTS_V2, **TINY)
    x = _x(8)
    net.train()  # batch-statistics BN: deterministic without drop path
    with torch.no_grad():
        base = net(x)
        assert torch.equal(net(x), base)
        net.set_drop_path(0.9)
        assert all(m.p == 0.9 for m in net.modules() if isinstance(m, DropPath))
        assert not torch.allclose(net(x), base)
        net.eval()  # drop path is off in eval mode
        evaluated = net(x)
        assert torch.equal(net(x), evaluated)
        net.set_drop_path(0.0)
        assert torch.equal(net(x), evaluated)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        net.set_drop_path(1.0)


def test_drop_path_module():
    drop = DropPath(0.3)
    x = torch.ones(4000, 2, 2, 2)
    out = drop(x)
    assert torch.equal(x, torch.ones_like(x))  # not in place
    flat = out.flatten(1)
    kept = flat[:, 0] != 0
    # whole samples are dropped, the kept ones are rescaled so the mean is preserved
    assert torch.all(flat[~kept] == 0) and torch.allclose(flat[kept], torch.full_like(flat[kept], 1 / 0.7))
    assert 0.6 < kept.float().mean() < 0.8
    assert abs(out.mean().item() - 1.0) < 0.05
    drop.eval()
    assert drop(x) is x
    assert DropPath()(x) is x  # p = 0 by default
    with pytest.raises(ValueError):
        DropPath(-0.1)


# --- the ops -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PRIMITIVES)
def test_ops_keep_or_halve_the_size(name):
    assert OPS == PRIMITIVES[:-1] and PRIMITIVES[-1] == "none"
    for affine in (True, False):
        op = make_op(name, 4, 1, affine)
        assert op(torch.randn(2, 4, 8, 8)).shape == (2, 4, 8, 8)
        op = make_op(name, 4, 2, affine)
        assert op(torch.randn(2, 4, 8, 8)).shape == (2, 4, 4, 4)
        assert op(torch.randn(2, 4, 7, 7)).shape == (2, 4, 4, 4)  # odd sizes round up
        bns = [m for m in op.modules() if isinstance(m, nn.BatchNorm2d)]
        assert all(bn.affine == affine for bn in bns)
        assert bool(bns) == (name != "none")


def test_factorized_reduce_matches_the_original_on_even_sizes():
    op = FactorizedReduce(4, 6).eval()
    x = torch.randn(2, 4, 8, 8)
    r = torch.relu(x)
    conv = torch.nn.functional.conv2d  # the original: 1x1 convolutions of stride 2
    expected = op.bn(torch.cat([conv(r, op.conv_1.weight, stride=2), conv(r[:, :, 1:, 1:], op.conv_2.weight, stride=2)],
                               dim=1))
    assert torch.allclose(op(x), expected)
    assert op(torch.randn(2, 4, 7, 8)).shape == (2, 6, 4, 4)


def test_unknown_op_names_the_allowed_ones():
    with pytest.raises(ArchStringError, match="conv_7x7.*sep_conv_3x3"):
        make_op("conv_7x7", 4, 1, True)
    bad = SimpleNamespace(**{**vars(DARTS_V2), "normal": (("conv_7x7", 0),) + DARTS_V2.normal[1:]})
    with pytest.raises(ArchStringError, match="conv_7x7"):
        DARTSNetwork(bad, **TINY)
    bad_input = SimpleNamespace(**{**vars(DARTS_V2), "reduce": DARTS_V2.reduce[:1] + (("max_pool_3x3", 2),)
                                   + DARTS_V2.reduce[2:]})
    with pytest.raises(ArchStringError, match="node 0"):
        DARTSNetwork(bad_input, **TINY)


# --- the search supernet -------------------------------------------------------------------------

def test_supernet_forward_and_alpha_gradient():
    net = DARTSSuperNet(**TINY)
    assert net.alphas.shape == (2, 14, 8) and len(EDGES) == 14
    assert len(net.weight_parameters()) == len(list(net.parameters())) - 1
    assert all(p is not net.alphas for p in net.weight_parameters())
    assert not any(m.affine for m in net.cells.modules() if isinstance(m, nn.BatchNorm2d))
    out = net(_x(8))
    assert out.shape == (2, 10)
    out.logsumexp(dim=1).sum().backward()
    assert net.alphas.grad is not None and net.alphas.grad[0].abs().sum() > 0 and net.alphas.grad[1].abs().sum() > 0


def test_supernet_single_path_matches_one_hot_mixture():
    """GDAS's index forward: only the chosen op runs, scaled by its weight; with one-hot weights it
    equals the mixed forward, and the (straight-through) weights carry the gradient to alphas."""
    net = DARTSSuperNet(**TINY)
    index = torch.randint(0, 8, (2, 14), generator=torch.Generator().manual_seed(3))
    one_hot = torch.nn.functional.one_hot(index, 8).float()
    x = _x(8)
    with torch.no_grad():
        assert torch.allclose(net(x, one_hot, index), net(x, one_hot), atol=1e-5)
    soft = torch.softmax(net.alphas, dim=-1)
    out = net(x, one_hot - soft.detach() + soft, index)
    assert out.shape == (2, 10)
    out.sum().backward()
    assert net.alphas.grad is not None and net.alphas.grad.abs().sum() > 0


def test_derive_pairs_top2_rule_ignores_none():
    p = {name: k for k, name in enumerate(PRIMITIVES)}
    w = np.full((2, 14, 8), 0.01)
    normal = w[0]
    # node 0 (edges 0, 1): 'none' dominates edge 0, but its best real op is kept
    normal[0, p["none"]], normal[0, p["sep_conv_3x3"]] = 0.9, 0.05
    normal[1, p["max_pool_3x3"]] = 0.3
    # node 1 (edges 2-4, inputs 0-2): input 0 is strongest only through 'none'
    normal[2, p["none"]] = 0.99
    normal[3, p["dil_conv_5x5"]] = 0.5
    normal[4, p["skip_connect"]] = 0.4
    # node 2 (edges 5-8, inputs 0-3)
    normal[5, p["avg_pool_3x3"]] = 0.6
    normal[6, p["sep_conv_3x3"]] = 0.2
    normal[7, p["none"]] = 0.95
    normal[8, p["sep_conv_5x5"]] = 0.7
    # node 3 (edges 9-13, inputs 0-4)
    normal[11, p["sep_conv_3x3"]] = 0.75
    normal[13, p["dil_conv_3x3"]] = 0.8
    normal[12, p["none"]] = 0.97
    expected_normal = (("sep_conv_3x3", 0), ("max_pool_3x3", 1), ("dil_conv_5x5", 1), ("skip_connect", 2),
                       ("avg_pool_3x3", 0), ("sep_conv_5x5", 3), ("sep_conv_3x3", 2), ("dil_conv_3x3", 4))
    # the reduction cell is uniform: ties go to the lower inputs and the first op
    expected_reduce = (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4
    assert derive_pairs(w) == (expected_normal, expected_reduce)
    assert derive_pairs(torch.tensor(w)) == derive_pairs(w.tolist()) == (expected_normal, expected_reduce)
    net = DARTSSuperNet(**TINY)
    assert net.derive_from(torch.tensor(w, dtype=torch.float32)) == (expected_normal, expected_reduce)
    with pytest.raises(ValueError, match="shape"):
        derive_pairs(w[:, :13])


def test_derived_cells_build_an_evaluation_network():
    net = DARTSSuperNet(**TINY)
    genotype = net.derive()
    normal, reduce = genotype.normal, genotype.reduce
    assert len(normal) == len(reduce) == 8 and all(op != "none" for op, _ in normal + reduce)
    child = DARTSNetwork(genotype, **TINY).eval()
    with torch.no_grad():
        assert child(_x(8)).shape == (2, 10)


@pytest.mark.parametrize("channels,size", [(2, 8), (4, 8), (2, 7), (8, 16)])
def test_factorized_reduce_gradients_are_reproducible_in_channels_last(channels, size):
    """The weight gradient of a channels-last 1x1 *stride-2* convolution with few channels was
    computed out of bounds by oneDNN on AVX2-only CPUs (different values run to run, then a heap
    abort); FactorizedReduce samples the pixels and convolves with stride 1 instead.  Repeated
    backward passes must agree to the bit (tests/system/test_cpu_code_paths.py forces the AVX2 code path)."""
    op = FactorizedReduce(channels, channels).to(memory_format=torch.channels_last)
    x = torch.randn(16, channels, size, size).contiguous(memory_format=torch.channels_last).requires_grad_()
    g = torch.randn(16, channels, (size + 1) // 2, (size + 1) // 2)
    first = None
    for _ in range(5):
        grads = torch.autograd.grad(op(x), [x, op.conv_1.weight, op.conv_2.weight], g)
        first = first or grads
        assert all(torch.equal(a, b) for a, b in zip(grads, first))
