"""AZ-NAS: each measure's pure function on hand-computed cases, the assembly over a population,
seeding, undefined measures recorded as failures, one shared cached measurement, and the
population-only ``az_nas``."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bpe.cache import EvalCache
from bpe.errors import ConfigError, EstimatorError
from bpe.estimators import create_estimator
from bpe.estimators.az_nas import (
    AZNAS,
    AZNASMeasurement,
    components,
    eigen_entropy,
    rademacher_probe,
    spectral_trainability,
)
from bpe.estimators.vote import log_rank_sum
from bpe.estimators.zero_cost import kaiming_fan_in_init
from bpe.parallel import Runner

TINY = dict(device="cpu", channels=4, layers=5, image_size=8, batch_size=8)
GOOD = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"
OTHER = "|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|"
ZERO = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # no path to the cell's output
PASS = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # the cell returns its input


def _entropy(p):
    return -sum(q * math.log(q + 1e-8) for q in p)


# -- pure functions ------------------------------------------------------------------------------
def test_eigen_entropy_hand_computed():
    # channel a = sqrt(3) * (1, 1, -1, -1), b = (1, -1, 1, -1) over 4 positions: covariance diag(3, 1)
    a = math.sqrt(3.0) * torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    b = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    feature = torch.stack([a, b]).reshape(1, 2, 2, 2)
    assert eigen_entropy(feature) == pytest.approx(_entropy([0.75, 0.25]), abs=1e-12)
    # invariant to a scale and to an offset (centred away), and to how positions split into batch and space
    assert eigen_entropy(3.0 * feature + 5.0) == pytest.approx(_entropy([0.75, 0.25]), abs=1e-12)
    assert eigen_entropy(feature.permute(3, 1, 2, 0)) == pytest.approx(_entropy([0.75, 0.25]), abs=1e-12)
    equal = torch.stack([a / math.sqrt(3.0), b]).reshape(1, 2, 2, 2)  # orthogonal, equal variance: log 2
    assert eigen_entropy(equal) == pytest.approx(_entropy([0.5, 0.5]), abs=1e-12)
    collinear = torch.stack([b, -2 * b]).reshape(1, 2, 2, 2)  # one direction: p = (0, 1)
    assert eigen_entropy(collinear) == pytest.approx(_entropy([0.0, 1.0]), abs=1e-12)
    assert math.isnan(eigen_entropy(torch.zeros(2, 3, 4, 4)))  # no spectrum


def test_spectral_trainability_hand_computed():
    probe = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]).T.reshape(1, 2, 2, 2)
    # pull-back 2 * probe: M = 2 * mean(v v^T) = 2 I, sigma 2: -2 - 1/2 + 2
    assert spectral_trainability(2 * probe, probe) == pytest.approx(-0.5, abs=1e-6)
    assert spectral_trainability(torch.zeros_like(probe), probe) == pytest.approx(2 - 1e6)  # no gradient
    assert math.isnan(spectral_trainability(probe.clone(), probe))  # passed through: the authors' -inf
    # a reduction: the 2x2 input block at the one output position is unshuffled into 4 channels
    g_in = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).reshape(1, 1, 2, 2)
    g_out = torch.ones(1, 4, 1, 1)  # M = outer((1, 0, 0, 0), (1, 1, 1, 1)): sigma = 2
    assert spectral_trainability(g_in, g_out) == pytest.approx(-0.5, abs=1e-6)


def test_components_and_undefined_reasons():
    values, reasons = components([1.0, 1.5, 1.2], [-0.5, -1.0])
    assert values == pytest.approx({"expressivity": 3.7, "progressivity": -0.3, "trainability": -0.75})
    assert reasons == {}
    values, reasons = components([1.0, math.nan, 1.2], [-0.5, math.nan])
    assert all(math.isnan(v) for v in values.values())
    assert "cell 1" in reasons["expressivity"] and "cell 2 passes its input through" in reasons["trainability"]


def test_assemble_is_the_sum_of_log_ranks():
    # ranks / 3: column 1 (1, 1/3, 2/3), column 2 (1/3, 2/3, 1)
    got = log_rank_sum([[3.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [True] * 3)
    want = [math.log(1 / 3), math.log(1 / 3) + math.log(2 / 3), math.log(2 / 3)]
    assert got == pytest.approx(want)
    # undefined values tie last (rank 1.5 of 3); a failed row is not ranked and stays None
    got = log_rank_sum([[None, 5.0, None, 9.0]], [True, True, True, False])
    assert got[3] is None
    assert got[:3] == pytest.approx([math.log(1.5 / 3), 0.0, math.log(1.5 / 3)])


def test_draws_match_the_authors_global_generator_order():
    """Our seeded init and probes are the draws the authors' code takes from torch's global
    generator after ``torch.manual_seed``: Kaiming-normal fan-in per conv/linear weight in module
    order, then Bernoulli(1/2) probes mapped to +-1."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1), nn.Flatten(), nn.Linear(8, 3))
    ref = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1), nn.Flatten(), nn.Linear(8, 3))
    gen = torch.Generator().manual_seed(3)
    kaiming_fan_in_init(net, gen)
    probe = rademacher_probe((2, 3, 4), gen)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        for m in ref.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        want = (torch.bernoulli(torch.ones(2, 3, 4) * 0.5) - 0.5) * 2
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), ref.parameters()) if a.dim() > 1)
    assert not any(m.bias.detach().any() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert torch.equal(probe, want) and set(probe.unique().tolist()) == {-1.0, 1.0}


# -- the estimators --------------------------------------------------------------------------------
def test_measurement_is_seeded_and_deterministic():
    one = AZNASMeasurement(**TINY).evaluate(GOOD)
    assert one.ok and one.score == one.info["complexity"] > 0 and one.info["undefined"] == {}
    assert AZNASMeasurement(**TINY).evaluate(GOOD).info == one.info
    other = AZNASMeasurement(**TINY, seed=1).evaluate(GOOD).info
    assert other["trainability"] != one.info["trainability"] and other["complexity"] == one.info["complexity"]
    data = AZNASMeasurement(**TINY, inputs="data").evaluate(GOOD).info
    assert data["expressivity"] != one.info["expressivity"]
    assert len(one.info["entropies"]) == 6 and len(one.info["cell_trainability"]) == 5  # stem + 5 layers
    # the one-batch interface draws as one repeat of the measurement does
    est = create_estimator("az_trainability", **TINY)
    net = est._network(GOOD, 10, torch.device("cpu"))
    assert est._score_batch(net, None, None, 10) == pytest.approx(one.info["trainability"], rel=1e-6)


def test_undefined_measures_fail_with_the_reason_never_a_number():
    for name, arch, words in (("az_expressivity", ZERO, "eigenvalue entropy"),
                              ("az_progressivity", ZERO, "eigenvalue entropy"),
                              ("az_trainability", PASS, "passes its input through")):
        rec = create_estimator(name, **TINY).evaluate(arch)
        assert not rec.ok and rec.score is None and words in rec.error
        with pytest.raises(RuntimeError, match=words):
            create_estimator(name, **TINY).score(arch)
    # a zero map's cell still has a trainability (no gradient: sigma 0), a pass-through cell an expressivity
    assert create_estimator("az_trainability", **TINY).evaluate(ZERO).score < -1e5
    assert create_estimator("az_expressivity", **TINY).evaluate(PASS).ok


def test_one_cached_measurement_feeds_every_scorer(tmp_path, monkeypatch):
    archs = [GOOD, OTHER, ZERO, PASS]
    runner = Runner(cache=EvalCache(tmp_path / "c"), progress=False)
    scorers = [create_estimator(n, **TINY) for n in ("az_expressivity", "az_progressivity", "az_trainability")]
    population = AZNAS(**TINY)
    assert len({str(s.fingerprint()) for s in scorers} | {str(population.measurement.fingerprint())}) == 1
    train = runner.run(scorers[2], archs)
    assert runner.cache.count(scorers[2].fingerprint()) == 4

    def measured_again(self, arch):
        raise AssertionError("measured again")

    monkeypatch.setattr(AZNASMeasurement, "_evaluate", measured_again)
    expr = runner.run(scorers[0], archs)
    assert [r.ok for r in expr] == [True, True, False, True] and [r.ok for r in train] == [True, True, True, False]
    records = runner.run(population, archs)
    assert [r.arch for r in records] == archs and all(r.ok and math.isfinite(r.score) for r in records)
    # recomputed by hand from the components: undefined values tie last
    columns = [[r.info[c] for r in records] for c in ("expressivity", "progressivity", "trainability", "complexity")]
    assert [r.score for r in records] == pytest.approx(log_rank_sum(columns, [True] * 4))
    assert records[2].score < min(records[0].score, records[1].score)  # the dead net
    assert "trainability" in records[3].info["undefined"]


def test_az_nas_is_population_only_and_validates():
    est = AZNAS(**TINY)
    assert est.population and not est.reads_data
    with pytest.raises(EstimatorError, match="together"):
        est.evaluate(GOOD)
    ablation = AZNAS(**TINY, components=("expressivity", "complexity"))
    records = Runner(progress=False).run(ablation, [GOOD, OTHER])
    columns = [[r.info[c] for r in records] for c in ("expressivity", "complexity")]
    assert [r.score for r in records] == pytest.approx(log_rank_sum(columns, [True, True]))
    with pytest.raises(ConfigError, match="components"):
        AZNAS(**TINY, components=("expressivity", "flops"))
    with pytest.raises(ConfigError, match="inputs"):
        AZNASMeasurement(**TINY, inputs="images")
    with pytest.raises(ConfigError, match="precision"):
        AZNASMeasurement(**TINY, precision="float16")
    assert AZNASMeasurement(**TINY, inputs="data").reads_data
    assert AZNASMeasurement(**TINY, precision="float32").fingerprint() != AZNASMeasurement(**TINY).fingerprint()
