"""One-shot search (DARTS-v1/v2, GDAS): method strategies, precision, failures recorded as failed runs."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from bpe.config import BPEConfig
from bpe.data import DatasetSpec, prepare_split
from bpe.errors import BPEError, ConfigError
from search_algos.oneshot import ONESHOT_METHODS, ONESHOT_STRATEGIES, OneShotMethod, oneshot_search
from search_algos.orchestrate import oneshot_experiment

CONFIG = BPEConfig(epochs=1, batch_size=32, channels=2, layers=5, image_size=8, data_fraction=0.2)


@pytest.fixture(scope="module")
def digits():
    return prepare_split(DatasetSpec("digits"), 0.2)


def test_methods_are_strategies_in_a_registry():
    assert ONESHOT_METHODS == ("darts-v1", "darts-v2", "gdas") == tuple(ONESHOT_STRATEGIES)
    for name, cls in ONESHOT_STRATEGIES.items():
        assert issubclass(cls, OneShotMethod) and cls.name == name


def test_unknown_method_names_the_choices(digits):
    with pytest.raises(ConfigError, match="choose one of darts-v1, darts-v2, gdas"):
        oneshot_search("enas", CONFIG, digits, device="cpu")


@pytest.mark.parametrize("method", ONESHOT_METHODS)
def test_nonfinite_loss_is_a_recorded_failure(method, digits):
    """Inputs that overflow (std 0) make the supernet loss non-finite: a failed run with its reason,
    no derived cell, no accuracy, no exception (as the training loop records a diverged run)."""
    broken = dataclasses.replace(digits, std=torch.zeros(3))
    result = oneshot_search(method, CONFIG, broken, device="cpu")
    assert result.status == "failed" and not result.ok
    assert "non-finite supernet training loss" in result.error and "epoch 1" in result.error
    assert "learning_rate" in result.error
    assert result.arch is None and result.supernet_valid_accuracy is None and result.probabilities is None
    assert result.history == [] and result.parameter_free() is None


def test_failed_run_is_a_row_of_the_experiment(digits):
    broken = dataclasses.replace(digits, std=torch.zeros(3))
    result = oneshot_experiment("gdas", CONFIG, broken, runs=1, device="cpu")
    row = result.runs[0]
    assert row.status == "failed" and "non-finite" in row.error
    assert row.arch is None and row.score is None and row.true_accuracy is None
    assert result.summary["gdas"].n_failed == 1 and result.summary["gdas"].true_accuracy == {}


@pytest.mark.parametrize("method", ["darts-v1", "gdas"])
def test_bf16_autocast_on_cpu(method, digits):
    """bf16 is honoured on CPU: the run succeeds, and its losses differ from the fp32 run's."""
    fp32 = oneshot_search(method, CONFIG, digits, device="cpu")
    bf16 = oneshot_search(method, CONFIG.replace(precision="bf16"), digits, device="cpu")
    assert fp32.ok and bf16.ok and math.isfinite(bf16.supernet_valid_accuracy)
    assert bf16.history[0]["train_loss"] != fp32.history[0]["train_loss"]


def test_darts_v2_runs_in_bf16(digits):
    result = oneshot_search("darts-v2", CONFIG.replace(precision="bf16"), digits, device="cpu")
    assert result.ok and math.isfinite(result.history[0]["train_loss"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: fp16 is allowed")
def test_fp16_without_cuda_is_rejected_before_training(digits):
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device; use bf16 or fp32"):
        oneshot_search("gdas", CONFIG.replace(precision="fp16"), digits, device="cpu")


def test_darts_v2_rejects_fp16(digits):
    with pytest.raises(BPEError, match="darts-v2 cannot train in fp16.*use precision bf16 or fp32"):
        oneshot_search("darts-v2", CONFIG.replace(precision="fp16"), digits, device="auto")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("method", ["darts-v1", "gdas"])
def test_fp16_on_cuda(method, digits):
    result = oneshot_search(method, CONFIG.replace(precision="fp16"), digits, device="cuda")
    assert result.ok and math.isfinite(result.supernet_valid_accuracy)


@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.slow) if m == "darts-v2" else m
                                    for m in ONESHOT_METHODS])  # second order: 8 s, the slow tier
def test_every_method_searches_the_darts_space(method, digits):
    """The one loop trains the DARTS supernet (2 x 14 edges x 8 ops) too: the derived cell is a
    DARTS genotype by the top-2 rule, and a seeded run is reproducible."""
    from bpe.spaces import get_space

    config = CONFIG.replace(layers=3, data_fraction=0.1)
    found = oneshot_search(method, config, digits, space="darts", device="cpu")
    assert found.ok, found.error
    genotype = get_space("darts").parse(found.arch)
    assert str(genotype) == found.arch
    assert torch.tensor(found.probabilities).shape == (2, 14, 8)
    again = oneshot_search(method, config, digits, space="darts", device="cpu")
    assert again.arch == found.arch
