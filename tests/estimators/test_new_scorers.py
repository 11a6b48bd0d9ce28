"""ZiCo, SWAP and regularised SWAP: the formulas against hand computations, the whole scorers
against small independent re-implementations, and the measurement shared by swap and swap_reg."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bpe.cache import EvalCache
from bpe.data import DatasetSpec
from bpe.errors import ConfigError
from bpe.estimators import create_estimator
from bpe.estimators.cached import CachedEstimator
from bpe.estimators.swap import distinct_activation_patterns, gaussian_reinit, swap_regularised
from bpe.estimators.zico import zico_from_gradients
from bpe.flops import count_params
from bpe.runtime import torch_threads

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
TINY = dict(channels=4, cells_per_stage=1, image_size=8, batch_size=8)
CPU = torch.device("cpu")


def tiny(name, **kw):
    return create_estimator(name, dataset=DatasetSpec("digits"), device="cpu", **{**TINY, **kw})


# -- ZiCo ---------------------------------------------------------------------------------
def test_zico_formula_by_hand():
    # layer 1, 2 batches, 3 weights: w0 |1|,|3| -> mean 2, std |1-3|/2 = 1 -> 2; w1 equal in both
    # batches -> left out; w2 3,-1 -> mean|g| 2, std 2 -> 1.  Sum 3.
    layer1 = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, -1.0]])
    # layer 2: nothing varies -> adds nothing (no log 0)
    layer2 = torch.tensor([[[5.0]], [[5.0]]])
    assert zico_from_gradients([layer1, layer2]) == pytest.approx(math.log(3.0))
    # 3 batches: mean|g| = 7/3, population std = sqrt(14)/3 -> ratio sqrt(14)/2
    layer3 = torch.tensor([[1.0], [2.0], [4.0]])
    assert zico_from_gradients([layer3]) == pytest.approx(math.log(7.0 / math.sqrt(14.0)))
    assert zico_from_gradients([layer1, layer3]) == pytest.approx(math.log(3.0) + math.log(7.0 / math.sqrt(14.0)))
    assert zico_from_gradients([layer2]) == 0.0  # the authors' empty sum


def test_zico_scorer_matches_a_numpy_reimplementation():
    """Two seeded mini-batches, cross-entropy, weight gradients of every conv/linear layer,
    then the authors' formula written with numpy (np.std, np.nonzero, np.log)."""
    est = tiny("zico")
    (x, y), = est._batches(CPU)[0]
    assert x.shape[0] == 2 * TINY["batch_size"]
    net = est._network(ARCH, 10, CPU)
    grads: dict[str, list[np.ndarray]] = {}
    with torch_threads():  # the scorer's thread count: ZiCo magnifies the last bits of near-equal gradients
        for k in range(2):
            xb, yb = x[8 * k: 8 * (k + 1)], y[8 * k: 8 * (k + 1)]
            net.zero_grad()
            F.cross_entropy(net(xb), yb).backward()
            for name, m in net.named_modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    grads.setdefault(name, []).append(m.weight.grad.numpy().astype(np.float64).ravel())
    want = 0.0
    for g in grads.values():
        g = np.array(g)
        std = np.std(g, axis=0)
        keep = np.nonzero(std)[0]
        s = np.sum(np.mean(np.abs(g), axis=0)[keep] / std[keep])
        if s != 0:
            want += np.log(s)
    assert est.score(ARCH) == pytest.approx(want, rel=1e-9)


def test_zico_deterministic_and_seeded():
    a, b = tiny("zico").score(ARCH), tiny("zico").score(ARCH)
    assert a == b and tiny("zico", seed=1).score(ARCH) != a
    assert tiny("zico").fingerprint()["batches"] == 2
    with pytest.raises(ConfigError):
        tiny("zico", batches=1)


def test_zico_with_the_authors_augmented_batches():
    plain, aug = tiny("zico"), tiny("zico", augment=True)
    assert "augment" not in plain.fingerprint() and aug.fingerprint()["augment"] is True
    a = aug.score(ARCH)
    assert a == tiny("zico", augment=True).score(ARCH)  # seeded
    assert a != plain.score(ARCH)  # other images: another score
    with pytest.raises(ConfigError):
        tiny("zico", augment="yes")


# -- SWAP ---------------------------------------------------------------------------------
def test_swap_count_by_hand():
    # 3 images.  Tensor a: unit 0 active on images 0 and 2 (pattern 101), unit 1 on image 1 (010).
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, -1.0]])
    # tensor b (B, 1, 2): unit 0 again 101 (a duplicate), unit 1 never active (000)
    b = torch.tensor([[[0.5, -1.0]], [[0.0, 0.0]], [[2.0, 0.0]]])
    assert distinct_activation_patterns([a]) == 2
    assert distinct_activation_patterns([a, b]) == 3  # {101, 010, 000}
    # it counts unit patterns, bounded by 2**B, not per-image codes (bounded by B)
    every = torch.tensor([[(u >> i) & 1 for u in range(8)] for i in range(3)], dtype=torch.float32)  # (3, 8)
    assert distinct_activation_patterns([every, every]) == 8
    assert distinct_activation_patterns([]) == 0


def test_swap_count_beyond_64_images_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    acts = [torch.randn(70, 5, generator=gen), (torch.rand(70, 3, generator=gen) > 0.5).float()]
    acts.append(acts[0][:, :2].clone())  # duplicates
    brute = {tuple(col) for a in acts for col in (a.reshape(70, -1) > 0).T.tolist()}
    assert distinct_activation_patterns(acts) == len(brute) == 8


def _authors_style_count(net, x):
    """One forward; outputs of every ReLU on a 4-D input; sign, transpose, unique rows."""
    feats = []
    handles = [m.register_forward_hook(lambda m, i, o: feats.append(o.detach()) if i[0].dim() == 4 else None)
               for m in net.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    signs = torch.sign(torch.cat([f.reshape(x.shape[0], -1) for f in feats], 1))
    return torch.unique(signs.T, dim=0).size(0)


def test_swap_scorer_matches_an_authors_style_reimplementation():
    est = tiny("swap", reinits=3)
    (x, _), = est._batches(CPU)[0]
    net = est._network(ARCH, 10, CPU)
    gen = torch.Generator().manual_seed(0)
    counts = []
    for _ in range(3):
        gaussian_reinit(net, gen)
        counts.append(_authors_style_count(net, x))
    rec = est.evaluate(ARCH)
    assert rec.score == float(np.mean(counts)) and rec.info["swap"] == rec.score
    assert 1 <= rec.score <= 2 ** TINY["batch_size"]


def test_gaussian_reinit_is_the_authors_init():
    net = nn.Sequential(nn.Conv2d(3, 64, 3, bias=True), nn.BatchNorm2d(64), nn.ReLU(), nn.Flatten(), nn.Linear(10, 50))
    net.requires_grad_(False)
    gaussian_reinit(net, torch.Generator().manual_seed(0))
    w = torch.cat([net[0].weight.flatten(), net[4].weight.flatten()])
    assert abs(float(w.mean())) < 0.1 and abs(float(w.std()) - 1.0) < 0.05
    assert float(net[0].bias.abs().sum()) == 0.0 and float(net[4].bias.abs().sum()) == 0.0
    assert bool((net[1].weight == 1).all()) and bool((net[1].bias == 0).all())


def test_swap_deterministic_and_seeded():
    a = tiny("swap").score(ARCH)
    assert tiny("swap").score(ARCH) == a and tiny("swap", seed=1).score(ARCH) != a


# -- regularised SWAP -------------------------------------------------------------------------
def test_swap_regularised_formula():
    assert swap_regularised(100.0, 1_500_000) == pytest.approx(100.0)
    assert swap_regularised(100.0, 300_000) == pytest.approx(100.0 * math.exp(-(1.2 ** 2) / 1.5))
    assert swap_regularised(10.0, 2_000_000, mu=1.0, sigma=2.0) == pytest.approx(10.0 * math.exp(-0.5))


def test_swap_reg_shares_the_swap_measurement(tmp_path):
    swap, reg = tiny("swap"), tiny("swap_reg", mu=0.5, sigma=0.25)
    assert swap.fingerprint() == reg.fingerprint() and swap.fingerprint()["estimator"] == "swap"
    rec = swap.evaluate(ARCH)
    params = rec.info["params"]
    assert params == count_params(swap._network(ARCH, 10, CPU))
    assert reg.evaluate(ARCH).score == pytest.approx(rec.score * math.exp(-((params / 1e6 - 0.5) ** 2) / 0.25))
    assert reg.measure(ARCH).score == rec.score  # the measurement is the raw count

    cache = EvalCache(tmp_path)
    CachedEstimator(swap, cache).evaluate(ARCH)

    def no_measuring(arch):
        raise AssertionError("swap_reg measured again instead of reading swap's record")

    reg._evaluate = no_measuring
    cached = CachedEstimator(reg, cache).evaluate(ARCH)
    assert cached.score == pytest.approx(swap_regularised(rec.score, params, 0.5, 0.25))
    assert cached.info["swap"] == rec.score
