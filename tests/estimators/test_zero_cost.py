"""Training-free scorers: hand-computed formulas, golden values, and a conformance suite over
every registered scorer (finite, deterministic, hooks removed, 1- and 120-class outputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from bpe.data import DatasetSpec
from bpe.estimators import available_estimators, create_estimator, get_estimator_class
from bpe.estimators.zero_cost import (
    TrainingFreeEstimator,
    epe_nas_score,
    jacob_cov_score,
    naswot_kernel_score,
)

from support import TINY, tiny

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
SCORERS = [n for n in available_estimators() if issubclass(get_estimator_class(n), TrainingFreeEstimator)]


# -- formulas --------------------------------------------------------------------------
def test_naswot_kernel_logdet():
    k = torch.tensor([[4.0, 1.0], [1.0, 3.0]])
    assert naswot_kernel_score(k) == pytest.approx(math.log(11.0))
    assert math.isnan(naswot_kernel_score(torch.ones(2, 2)))  # singular


def test_jacob_cov_hand_computed():
    # two rows with correlation r: eigenvalues 1 +- r
    j = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 2.0]])
    r = np.corrcoef(j.numpy())[0, 1]
    k = 1e-5
    expected = -sum(math.log(s + k) + 1 / (s + k) for s in (1 - r, 1 + r))
    assert jacob_cov_score(j) == pytest.approx(expected)


def test_epe_nas_both_branches():
    j = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 2.0], [3.0, 1.0, 0.0], [0.0, 1.0, 1.0], [5.0, 5.0, 4.0]])
    labels = torch.tensor([0, 0, 1, 1, 2])
    k = 1e-5

    def energy(rows):
        c = np.atleast_2d(np.corrcoef(rows)) if len(rows) > 1 else np.ones((1, 1))
        return float(np.sum(np.log(np.abs(c) + k)))

    e = [energy(j[:2].numpy()), energy(j[2:4].numpy()), energy(j[4:].numpy())]
    assert epe_nas_score(j, labels, 10) == pytest.approx(sum(abs(v) for v in e))
    en = np.array([e[0] / 2, e[1] / 2, e[2] / 1])
    assert epe_nas_score(j, labels, 120) == pytest.approx(np.abs(en[:, None] - en[None, :]).sum() / 3)


def test_naswot_dedup_matches_naive_kernel():
    """The shared-input shortcut gives exactly the kernel of one hook per ReLU module."""
    est = tiny("naswot")
    (x, y), = est._batches(torch.device("cpu"))[0]
    net = est._network(ARCH, 10, torch.device("cpu"))
    n = x.shape[0]
    naive = torch.zeros(n, n, dtype=torch.float64)

    def hook(module, inputs, output):
        c = (inputs[0].reshape(n, -1) > 0).double()
        naive.add_(c @ c.T + (1 - c) @ (1 - c).T)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    assert est._score_batch(est._network(ARCH, 10, torch.device("cpu")), x, y, 10) == pytest.approx(
        naswot_kernel_score(naive), rel=1e-9)


def test_params_and_flops_golden():
    assert tiny("params", channels=16, cells_per_stage=5, image_size=32).score(ARCH) == pytest.approx(0.802426)
    # NB201 reports 113.95 MFLOPs for this cell at C=16, N=5, 32 px (conv + linear MACs)
    assert tiny("flops", channels=16, cells_per_stage=5, image_size=32).score(ARCH) == pytest.approx(113.95, abs=0.01)


GOLDEN = {  # fixed tiny net (C=4, N=1, 8 px), a seeded digits batch of 8, init seed 0
    "naswot": 55.11149184550209,
    "synflow": 18.775859483054784,
    "snip": 21.75582456588745,
    "grad_norm": 19.79477396607399,
    "jacob_cov": -8.59514887068858,
    "epe_nas": 34.38945963534138,
    "fisher": 0.014337274624267593,
    "grasp": 11.655060231685638,
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_values(name):
    """Regression guard: a fixed tiny net and input give the recorded score."""
    assert tiny(name).score(ARCH) == pytest.approx(GOLDEN[name], rel=1e-4)


# -- conformance -----------------------------------------------------------------------
@pytest.mark.parametrize("name", SCORERS)
def test_scorer_conformance(name):
    est = tiny(name)
    rec = est.evaluate(ARCH)
    assert rec.ok, rec.error
    assert isinstance(rec.score, float) and math.isfinite(rec.score)
    assert est.evaluate(ARCH).score == rec.score  # deterministic for a seed
    assert rec.cost.seconds > 0
    other = tiny(name, seed=1).evaluate(ARCH).score
    if name not in ("params", "flops", "synflow"):  # data/init-free ones do not depend on the seed
        assert other != rec.score


@pytest.mark.parametrize("name", SCORERS)
@pytest.mark.parametrize("classes", [1, 120])
def test_scorer_output_sizes(name, classes):
    """Works with a single output unit (NASWOT's reference) and with 120 classes."""
    est = tiny(name, num_classes=classes)
    rec = est.evaluate(ARCH)
    assert rec.ok and math.isfinite(rec.score), rec.error


@pytest.mark.parametrize("name", SCORERS)
def test_hooks_removed(name):
    est = tiny(name)
    dev = torch.device("cpu")
    batches, classes = est._batches(dev) if est.needs_data else ([(None, None)], 10)
    net = est._network(ARCH, classes, dev)
    x, y = batches[0]
    est._score_batch(net, x, y, classes)
    for m in net.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks


def test_nonfinite_score_is_a_failure(tmp_path):
    """Identical images make NASWOT's kernel singular: a failed record with the reason."""
    folder = tmp_path / "same"
    folder.mkdir()
    img = np.full((16, 8, 8, 3), 128, dtype=np.uint8)
    for split in ("train", "test"):
        np.save(folder / f"{split}_x.npy", img)
        np.save(folder / f"{split}_y.npy", np.arange(16) % 2)
    est = create_estimator("naswot", dataset=DatasetSpec("folder", str(folder)), device="cpu", **TINY)
    rec = est.evaluate(ARCH)
    assert not rec.ok and rec.score is None and "non-finite" in rec.error


def test_synflow_is_log_scaled_and_finite_for_big_nets():
    est = tiny("synflow", channels=16, cells_per_stage=5, image_size=32)
    value = est.score("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    assert 20 < value < 300  # log of a sum that would be ~1e40..1e100 in linear scale


@pytest.mark.parametrize("name", ["jacob_cov", "epe_nas"])
def test_disconnected_cell_is_a_recorded_failure(name):
    """No path from input to output: Jacobian scorers record why instead of crashing or faking."""
    rec = tiny(name).evaluate("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert not rec.ok and "does not depend on the input" in rec.error


def test_synflow_disconnected_cell_is_a_recorded_failure():
    rec = tiny("synflow").evaluate("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|")
    assert not rec.ok and "no signal flows" in rec.error


def test_meco_matches_a_hand_computation():
    """MeCo on a two-module net, against numpy: sum over modules of the smallest eigenvalue of
    the channel correlation of the first image's output (constant channels count as 0)."""
    import numpy as np
    import torch
    from torch import nn

    from bpe.estimators.meco import MeCo

    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    net = nn.Sequential(conv, nn.ReLU())
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        a = conv(x)[0].reshape(4, -1).numpy().astype(np.float64)
        b = torch.relu(conv(x))[0].reshape(4, -1).numpy().astype(np.float64)

    def smallest(rows):
        corr = np.nan_to_num(np.corrcoef(rows), nan=0.0)
        return np.linalg.eigvalsh(corr).min()

    want = smallest(a) + 2 * smallest(b)  # the Sequential's output is the ReLU's: counted twice
    assert MeCo()._score_batch(net, x, None, 10) == pytest.approx(want, rel=1e-9)
    const = nn.Sequential(nn.Conv2d(3, 4, 1))
    nn.init.zeros_(const[0].weight)
    assert MeCo()._score_batch(const, x, None, 10) == pytest.approx(0.0, abs=1e-12)  # all-constant channels


def test_scorers_score_the_spaces_score_size_by_default():
    """NB201: the benchmark network (C16, N=5 = 17 layers); DARTS: its search network (C16, 8
    layers), not the 36-channel, 20-layer evaluation network; an explicit size wins."""
    from bpe.estimators import create_estimator

    assert (create_estimator("meco").channels, create_estimator("meco").layers) == (16, 17)
    darts = create_estimator("meco", space="darts")
    assert (darts.channels, darts.layers) == (16, 8)
    assert create_estimator("meco", space="darts", channels=36, layers=20).layers == 20
