"""VKDNW: hand-computed covariance factor, Fisher matrices and entropies, the per-image Jacobian
against plain autograd, seeding, shared measurement, failures, and VKDNW_agg's rank rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from bpe.data import DatasetSpec
from bpe.estimators import Estimator, create_estimator
from bpe.estimators import vkdnw as vk
from bpe.estimators.vkdnw import (
    VKDNWAgg,
    categorical_covariance_factor,
    fisher_matrix,
    per_sample_jacobian,
    per_sample_jacobian_func,
    selected_entries,
    smoothed_probabilities,
    spectrum_entropy,
    vkdnw_single,
)
from bpe.estimators.zero_cost import kaiming_fan_in_init
from bpe.parallel import Runner
from bpe.records import EvalRecord

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
TINY = dict(dataset=DatasetSpec("digits"), device="cpu", channels=4, cells_per_stage=1, image_size=8, batch_size=8)


# -- pure functions ----------------------------------------------------------------------
def test_covariance_factor_two_classes_by_hand():
    # p = (a, 1-a): Sigma = a(1-a) [[1, -1], [-1, 1]] = L L^T with L = sqrt(a(1-a)) [[1, 0], [-1, 0]]
    a = 0.3
    L = categorical_covariance_factor(torch.tensor([[a, 1 - a]]))[0]
    r = math.sqrt(a * (1 - a))
    assert torch.allclose(L, torch.tensor([[r, 0.0], [-r, 0.0]], dtype=torch.float64))


def test_covariance_factor_is_exact_and_lower_triangular():
    p = smoothed_probabilities(torch.randn(4, 7, generator=torch.Generator().manual_seed(0)) * 4)
    assert torch.allclose(p.sum(1), torch.ones(4, dtype=torch.float64))
    assert float(p.min()) >= 0.05 / 7 - 1e-12  # the smoothing keeps every class possible
    L = categorical_covariance_factor(p)
    sigma = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    assert torch.allclose(L @ L.transpose(1, 2), sigma, atol=1e-14)
    assert torch.equal(L, torch.tril(L))


def test_fisher_of_a_two_class_linear_model_by_hand():
    # logits (w1 x, w2 x): J_n = x_n I; p = (1/4, 3/4), so Sigma = 3/16 [[1, -1], [-1, 1]] and
    # L^T L = 3/16 [[2, 0], [0, 0]]: exact = mean(x^2) Sigma, the authors' form = mean(x^2) L^T L
    x = torch.tensor([1.0, 2.0, 3.0])
    jac = x[:, None, None] * torch.eye(2)
    probs = torch.tensor([[0.25, 0.75]]).expand(3, 2)
    m = float((x**2).mean())
    assert torch.allclose(fisher_matrix(jac, probs, "exact"),
                          m * 3 / 16 * torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64))
    assert torch.allclose(fisher_matrix(jac, probs, "authors"),
                          m * 3 / 16 * torch.tensor([[2.0, 0.0], [0.0, 0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="authors' or 'exact"):
        fisher_matrix(jac, probs, "fast")


def test_spectrum_entropy_by_hand():
    assert spectrum_entropy([2.0] * 5) == pytest.approx(math.log(9))  # 9 equal deciles
    # eigenvalues 1..10: decile at level l is 1 + 9 l (linear interpolation)
    q = np.array([1 + 9 * k / 10 for k in range(1, 10)])
    t = q / (q.sum() + 1e-10)
    assert spectrum_entropy(np.arange(1.0, 11.0)) == pytest.approx(float(-(t * np.log(t + 1e-10)).sum()))
    assert spectrum_entropy(-np.arange(1.0, 11.0)) == spectrum_entropy(np.arange(1.0, 11.0))  # |eigenvalues|
    assert spectrum_entropy(np.zeros(5)) == 0.0
    assert math.isnan(spectrum_entropy([])) and math.isnan(spectrum_entropy([1.0, float("nan")]))


def test_single_score_orders_by_dim_then_entropy():
    assert vkdnw_single(10, math.log(9)) < vkdnw_single(11, 0.0) < vkdnw_single(11, 0.5)
    assert vkdnw_single(10, math.log(9)) == pytest.approx(10.5)


# -- the measurement ---------------------------------------------------------------------
def test_selected_entries_and_init():
    net = nn.Sequential(nn.Linear(10, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    chosen = selected_entries(net, tensors=3, per_tensor=3)
    assert [n for n, _ in chosen] == ["0.weight", "0.bias", "1.weight"]
    assert chosen[0][1].tolist() == [0, 14, 29] and chosen[1][1].tolist() == [0, 1, 2]
    assert [i.tolist() for _, i in selected_entries(net, None)] == [[0]] * 6
    big = nn.Linear(400, 300)
    kaiming_fan_in_init(big, torch.Generator().manual_seed(0))
    assert float(big.weight.detach().std()) == pytest.approx(math.sqrt(2 / 400), rel=0.02) and not big.bias.any()
    again = nn.Linear(400, 300)
    kaiming_fan_in_init(again, torch.Generator().manual_seed(0))
    assert torch.equal(big.weight, again.weight)


class _Scale(nn.Module):
    """A module no closed form covers: a per-channel scale (the torch.func path)."""

    def __init__(self, c):
        super().__init__()
        self.gain = nn.Parameter(torch.linspace(0.5, 1.5, c))

    def forward(self, x):
        return x * self.gain[None, :, None, None]


def _small_net(extra: nn.Module | None = None) -> nn.Module:
    """Eval-mode conv net: biased conv, BN with non-trivial running stats, in-place ReLUs, a
    strided dilated grouped conv, pooling and a linear head (``extra`` after the second conv)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=True), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                        nn.Conv2d(4, 4, 3, stride=2, padding=2, dilation=2, groups=2), extra or nn.Identity(),
                        nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 3))
    kaiming_fan_in_init(net, torch.Generator().manual_seed(1))
    net[1].running_mean.fill_(0.1)
    net[1].running_var.fill_(2.0)
    return net.eval()


def _autograd_rows(net, x, chosen):
    """The Jacobian image by image and class by class, by plain backward passes."""
    params = dict(net.named_parameters())
    out = torch.zeros(x.shape[0], 3, sum(int(i.numel()) for _, i in chosen))
    for n in range(x.shape[0]):
        for k in range(3):
            net.zero_grad()
            net(x[n:n + 1])[0, k].backward()
            out[n, k] = torch.cat([params[name].grad.reshape(-1)[idx] for name, idx in chosen])
    return out


def test_per_image_jacobian_matches_autograd_image_by_image():
    net = _small_net()
    x = torch.randn(3, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    chosen = selected_entries(net, None, per_tensor=2)
    assert torch.allclose(per_sample_jacobian(net, x, chosen), _autograd_rows(net, x, chosen), atol=1e-5)
    with pytest.raises(ValueError, match="eval mode"):
        per_sample_jacobian(net.train(), x, chosen)


@pytest.mark.slow  # not long, but torch.func's first use imports for ~1.5 s
def test_func_paths_match_autograd():
    """The torch.func Jacobian (the authors' way) and the per-module torch.func fallback for a
    module without a closed form agree with plain autograd."""
    net = _small_net(_Scale(4))
    x = torch.randn(3, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    chosen = selected_entries(net, None, per_tensor=2)
    rows = _autograd_rows(net, x, chosen)
    assert torch.allclose(per_sample_jacobian(net, x, chosen), rows, atol=1e-5)
    assert torch.allclose(per_sample_jacobian_func(net, x, chosen), rows, atol=1e-5)


def tiny(name="vkdnw", **kw):
    return create_estimator(name, **{**TINY, **kw})


def test_seeded_deterministic_and_shared_measurement():
    est = tiny()
    rec = est.measure(ARCH)
    assert rec.ok and rec.info["dim"] == est.parameter_tensors(ARCH) == sum(
        1 for _ in est._network(ARCH, 10, torch.device("cpu")).parameters())
    h = rec.info["entropy"]
    assert 0 < h <= math.log(9) and rec.score == h
    assert est.evaluate(ARCH).score == pytest.approx(rec.info["dim"] + h / (2 * math.log(9)))
    assert tiny("vkdnw_entropy").evaluate(ARCH).score == h
    assert tiny("vkdnw_entropy").fingerprint() == est.fingerprint()  # one cache entry serves both
    assert tiny().measure(ARCH).info["entropy"] == h  # same seed, same value
    assert tiny(seed=1).measure(ARCH).info["entropy"] != h
    assert tiny(inputs="data").measure(ARCH).info["entropy"] != h
    assert tiny(fisher="exact").measure(ARCH).info["entropy"] != h


def test_bad_options_are_refused():
    for kw, rule in [({"inputs": "ones"}, "inputs"), ({"tensors": 0}, "tensors"), ({"per_tensor": 0}, "per_tensor"),
                     ({"alpha": 1.0}, "alpha"), ({"fisher": "x"}, "fisher")]:
        with pytest.raises(ValueError, match=rule):
            tiny(**kw)


def test_nonfinite_fisher_is_a_recorded_failure(monkeypatch):
    def overflowing(net, x, selection):
        return torch.full((x.shape[0], 10, 3), float("inf")), torch.zeros(x.shape[0], 10)

    monkeypatch.setattr(vk, "jacobian_and_logits", overflowing)
    rec = tiny().evaluate(ARCH)
    assert not rec.ok and rec.score is None and "non-finite" in rec.error


# -- VKDNW_agg -----------------------------------------------------------------------------
class _Fixed(Estimator):
    """A scorer reading its scores from a dict (``None``: fails)."""

    def __init__(self, name, scores):
        self.label, self.scores = name, scores

    def fingerprint(self):
        return {"estimator": self.label}

    def describe(self):
        return self.label

    def _evaluate(self, arch):
        s = self.scores[arch]
        if s is None:
            return EvalRecord(arch=arch, score=None, status="failed", error="undefined")
        return EvalRecord(arch=arch, score=s, status="ok")


def test_agg_sums_log_ranks_and_ranks_a_failure_last():
    archs = ["a", "b", "c"]
    agg = VKDNWAgg([_Fixed("m1", {"a": 1.0, "b": 2.0, "c": 3.0}),
                    _Fixed("m2", {"a": 5.0, "b": None, "c": 4.0})])
    records = agg.score_population(archs, Runner(progress=False))
    # m1 ranks a, b, c as 1, 2, 3; m2 ranks b (failed) 1, c 2, a 3; sum of log(rank / 3)
    expected = [math.log(1 / 3) + math.log(3 / 3), math.log(2 / 3) + math.log(1 / 3), math.log(3 / 3) + math.log(2 / 3)]
    assert [r.score for r in records] == pytest.approx(expected)
    assert records[1].info["members"] == {"m1": 2.0, "m2": None}
    with pytest.raises(ValueError, match="together"):
        agg.evaluate("a")


class _Timed(_Fixed):
    """A ``_Fixed`` scorer whose evaluations cost ``seconds``; ``shared`` names the measurement it
    reads (scorers reading one measurement have one fingerprint)."""

    def __init__(self, name, scores, seconds, shared=None):
        super().__init__(name, scores)
        self.seconds, self.shared = seconds, shared

    def fingerprint(self):
        return {"estimator": self.shared or self.label}

    def _evaluate(self, arch):
        from bpe.records import Cost

        return EvalRecord(arch=arch, score=self.scores[arch], status="ok", cost=Cost(seconds=self.seconds))


def test_agg_pays_a_measurement_its_members_share_once():
    """AZ-NAS's expressivity and trainability read one measurement: the aggregate's cost per arch
    counts it once (as MIP charges a candidate), the other members each."""
    archs = ["a", "b"]
    scores = {"a": 1.0, "b": 2.0}
    agg = VKDNWAgg([_Timed("expressivity", scores, 2.0, shared="az"), _Timed("trainability", scores, 2.0, shared="az"),
                    _Timed("flops", scores, 0.5)])
    records = agg.score_population(archs, Runner(progress=False))
    assert [r.cost.seconds for r in records] == [2.5, 2.5]
