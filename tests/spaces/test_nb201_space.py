"""NAS-Bench-201 space: strings, enumeration, sampling, mutation, encoding, model fidelity."""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest
import torch

from bpe.errors import ArchStringError, BPEError
from bpe.spaces import nb201
from bpe.spaces.nb201 import OPS, build, parse

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_parse_format_round_trip():
    arch = parse(BEST)
    assert str(arch) == BEST
    assert arch.ops[0] == "nor_conv_3x3" and arch.edge_op(0, 3) == "skip_connect"
    assert parse("  " + BEST + "\n") == arch


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("|conv_5x5~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|", "unknown op 'conv_5x5'"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|", "expected 3 nodes"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|none~1|none~2|", "node 2 needs 2 edge"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~3|+|skip_connect~0|none~1|none~2|", "bad source index"),
        ("|nor_conv_3x3|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|", "must be 'op~source'"),
        ("nor_conv_3x3~0+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|", "must look like"),
        ("", "expected 3 nodes"),
    ],
)
def test_parse_rejects_malformed(text, fragment):
    with pytest.raises(ArchStringError, match=fragment.replace("|", r"\|")) as info:
        parse(text)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BPEError)


def test_unknown_op_lists_allowed_ops():
    with pytest.raises(ArchStringError) as info:
        parse(BEST.replace("skip_connect", "sep_conv_3x3"))
    for op in OPS:
        assert op in str(info.value)


def test_enumeration_is_complete_and_indexed():
    archs = list(nb201.enumerate_archs())
    assert len(archs) == nb201.NUM_ARCHS == 15625
    assert len({str(a) for a in archs}) == 15625
    for i in (0, 1, 4321, 15624):
        assert archs[i].index == i and nb201.from_index(i) == archs[i]
    with pytest.raises(ArchStringError):
        nb201.from_index(15625)


def test_sample_without_replacement_and_seeded():
    a = nb201.sample(500, 3)
    assert len(set(a)) == 500
    assert a == nb201.sample(500, np.random.default_rng(3))
    assert a != nb201.sample(500, 4)
    assert len(set(nb201.sample(15625, 0))) == 15625
    with pytest.raises(ArchStringError):
        nb201.sample(15626, 0)


def test_mutate_changes_exactly_one_edge():
    rng = np.random.default_rng(0)
    arch = parse(BEST)
    for _ in range(50):
        child = nb201.mutate(arch, rng)
        assert sum(a != b for a, b in zip(arch.ops, child.ops)) == 1
    assert nb201.mutate(arch, 5) == nb201.mutate(arch, 5)


def test_neighbours():
    nbrs = nb201.neighbours(BEST)
    assert len(nbrs) == 24 == len(set(nbrs))
    assert all(sum(a != b for a, b in zip(parse(BEST).ops, n.ops)) == 1 for n in nbrs)


def test_encode():
    x = nb201.encode([BEST, parse(BEST)])
    assert x.shape == (2, 30) and x.dtype == np.float32
    assert np.array_equal(x[0], x[1]) and x[0].sum() == 6
    assert nb201.encode(BEST).shape == (30,)
    assert x[0][0 * 5 + OPS.index("nor_conv_3x3")] == 1


def test_build_forward_shapes():
    net = build(BEST, channels=4, cells_per_stage=1, num_classes=7)
    assert isinstance(net, torch.nn.Module)
    out = net(torch.randn(2, 3, 8, 8))
    assert out.shape == (2, 7)


def test_none_cell_outputs_zero_features_path():
    """An all-'none' cell still builds and runs (the output of each cell is zeros)."""
    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    net = build(arch, channels=4, cells_per_stage=1, num_classes=3)
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 3)


def _params(arch: str) -> float:
    return sum(p.numel() for p in build(arch, channels=16, cells_per_stage=5, num_classes=10).parameters()) / 1e6


def test_param_count_golden():
    """Golden values from the NB201 table (index 1 and the all-3x3 cell)."""
    assert _params("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|") == pytest.approx(0.802426, abs=1e-6)
    assert _params("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|") == pytest.approx(0.129306, abs=1e-6)
    assert _params("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|") == pytest.approx(0.073306, abs=1e-6)


@pytest.mark.data
def test_param_count_fidelity_against_table(data_dir):
    """>= 97% of 200 seeded archs match the table's v11_params_cifar10_MB (1e-4 M)."""
    rows = list(csv.DictReader(open(data_dir / "nb201" / "nb201_groundtruth.csv")))
    random.Random(0).shuffle(rows)
    ok = sum(abs(_params(r["arch_str"]) - float(r["v11_params_cifar10_MB"])) < 1e-4 for r in rows[:200])
    assert ok / 200 >= 0.97


@pytest.mark.data
def test_table_strings_parse(data_dir):
    rows = list(csv.DictReader(open(data_dir / "nb201" / "nb201_groundtruth.csv")))
    assert {str(parse(r["arch_str"])) for r in rows} == {str(a) for a in nb201.enumerate_archs()}
