"""The faster paths keep the results: the int8 agreement kernel of NASWOT, the Jacobian pass
without weight gradients, and the channels-last layout on CPU (in the cache keys)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bpe.config import BPEConfig
from bpe.data import DatasetSpec
from bpe.estimators import create_estimator
from bpe.estimators.proxy import ProxyTrainingEstimator
from bpe.estimators.zero_cost import _input_jacobian, agreement_matrix
from bpe.runtime import layout_key, memory_format
from bpe.spaces import get_space

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.mark.parametrize("n, units", [(8, 1), (5, 7), (16, 300), (32, 4096)])
def test_agreement_matrix_is_exact(n, units):
    codes = torch.rand(n, units, generator=torch.Generator().manual_seed(units)) > 0.5
    c = codes.double()
    expected = c @ c.T + (1 - c) @ (1 - c).T
    assert torch.equal(agreement_matrix(codes), expected)
    assert agreement_matrix(codes).dtype == torch.float64


def test_agreement_matrix_falls_back_to_a_float_product(monkeypatch):
    codes = torch.rand(6, 50, generator=torch.Generator().manual_seed(1)) > 0.5
    expected = agreement_matrix(codes)

    def broken(*args, **kwargs):
        raise RuntimeError("no int8 kernel here")

    monkeypatch.setattr(torch, "_int_mm", broken, raising=False)
    assert torch.equal(agreement_matrix(codes), expected)


def test_input_jacobian_matches_a_full_backward_and_leaves_the_weights_trainable():
    space = get_space("nb201")
    torch.manual_seed(0)
    net = space.build(ARCH, num_classes=10, channels=4, cells_per_stage=1).train()
    x = torch.randn(4, 3, 8, 8)
    xr = x.clone().requires_grad_(True)
    net(xr).sum().backward()
    ours = _input_jacobian(net, x)
    assert torch.allclose(ours, xr.grad, rtol=1e-5, atol=1e-7)
    assert all(p.requires_grad for p in net.parameters())


def test_cpu_layout_is_channels_last_at_every_size_and_is_in_the_cache_keys():
    cpu = torch.device("cpu")
    assert memory_format(cpu) == torch.channels_last
    assert memory_format(torch.device("cuda")) == torch.contiguous_format
    assert layout_key("cpu") == {"layout": "channels_last"}
    for channels, image_size in ((16, 32), (4, 8)):  # the NB201 size and the smallest proxy alike
        est = ProxyTrainingEstimator(BPEConfig(epochs=1, channels=channels, image_size=image_size),
                                     DatasetSpec("digits"), device="cpu")
        assert est.fingerprint()["layout"] == "channels_last"
    assert create_estimator("naswot", device="cpu").fingerprint()["layout"] == "channels_last"
    assert "layout" not in create_estimator("params", device="cpu").fingerprint()  # a count: layout-free
    assert layout_key("cuda") == {}  # no GPU check: a CPU-only coordinator can key GPU work


def test_a_record_from_another_layout_is_not_reused(tmp_path):
    from bpe.cache import EvalCache
    from bpe.estimators.cached import CachedEstimator

    big = ProxyTrainingEstimator(BPEConfig(epochs=1, batch_size=32, channels=16, layers=5, image_size=8,
                                           data_fraction=0.2), DatasetSpec("digits"), device="cpu")
    record = big.evaluate(ARCH)
    assert record.info["layout"] == "channels_last" and big.reusable(record)
    stale = dataclasses.replace(record, info={**record.info, "layout": "contiguous"})
    assert not big.reusable(stale)
    cache = EvalCache(tmp_path)
    cache.put(big.fingerprint(), stale)
    assert CachedEstimator(big, cache).evaluate(ARCH).info["layout"] == "channels_last"  # trained again


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_training_runs_in_either_layout(layout, monkeypatch):
    from bpe import runtime, training
    from bpe.data import prepare_split

    monkeypatch.setattr(runtime, "CPU_LAYOUT", layout)
    config = BPEConfig(epochs=1, batch_size=32, channels=4, layers=5, image_size=8, data_fraction=0.2)
    result = training.train_and_evaluate(ARCH, config, prepare_split(DatasetSpec("digits"), 0.2), device="cpu",
                                         num_threads=1)
    assert result.status == "ok" and result.valid_accuracy is not None
    assert result.layout == runtime.layout_name(layout)


def test_naswot_is_the_same_in_either_layout():
    est = create_estimator("naswot", dataset=DatasetSpec("digits"), device="cpu", channels=16, cells_per_stage=1,
                           image_size=8, batch_size=16)
    (x, y), = est._batches(torch.device("cpu"))[0]
    net = est._network(ARCH, 10, torch.device("cpu"))
    in_cl = est._score_batch(net, x, y, 10)
    flat = est._score_batch(net.to(memory_format=torch.contiguous_format), x.contiguous(), y, 10)
    assert in_cl == pytest.approx(flat, rel=1e-9)
