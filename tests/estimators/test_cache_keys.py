"""Golden cache keys of proxy trainings: the disk cache (hours of CPU per setting) is keyed by the
estimator's fingerprint, so a change to ``BPEConfig``'s fields (a field added, moved or removed) must
leave every existing key as it was.  The hashes below were recorded before ``hybrid`` left
``BPEConfig``; a change here means every cached training is orphaned."""

from __future__ import annotations

import pytest

from bpe.cache import fingerprint_hash
from bpe.config import PRESETS, BPEConfig
from bpe.estimators.proxy import ProxyTrainingEstimator, training_key
from bpe.mip.knobs import knob_preset

#: fingerprint_hash(training_key(config, space)): the training part of each cache key.
GOLDEN_TRAINING_KEYS = {
    ("bpe", "nb201"): "09a2d11161666719ac63f197",
    ("bpe", "darts"): "fee76eefd0038e4402472e5d",
    ("bpe-1", "nb201"): "f53684efc5699017c55d2279",
    ("bpe-1", "darts"): "bbc5d5733d37ee6a7c0e9511",
    ("bpe-2", "nb201"): "0e9cc910f9ad8fc881a0f251",
    ("bpe-2", "darts"): "9bd69876a731f9bd0babe6d4",
    ("cpu", "nb201"): "4c782ce6032cdca9b8b80f1a",
    ("cpu-hybrid", "nb201"): "4c782ce6032cdca9b8b80f1a",  # the hybrid knob is read off the same training
    ("darts-cpu", "darts"): "da979cbe513f0c03780b47f5",
    ("paper", "nb201"): "80c0b64b025d52f4ffdc98b9",
    ("digits", "nb201"): "248903bb62e0797dedb20b0f",
}


def _config(name: str) -> BPEConfig:
    if name in PRESETS:
        return PRESETS[name]
    space = knob_preset(name)
    return space.to_config(space.cheapest())


@pytest.mark.parametrize(("name", "space"), sorted(GOLDEN_TRAINING_KEYS))
def test_training_keys_of_presets_and_knob_corners_are_unchanged(name, space):
    config = _config(name)
    assert fingerprint_hash(training_key(config, space)) == GOLDEN_TRAINING_KEYS[name, space]
    for report in ("valid_loss", "tse", "tse_e1"):  # what is read off a run is not part of its key
        assert fingerprint_hash(training_key(config.replace(report=report), space)) == GOLDEN_TRAINING_KEYS[name, space]


class _Cifar10:
    """The CIFAR-10 split the runs in the project's cache were trained on (its fingerprint only)."""

    name = "cifar10"

    def fingerprint(self) -> dict:
        return {"content": "aa84c05a47260de3", "name": "cifar10", "split_seed": 0, "valid_fraction": 0.5}


@pytest.mark.parametrize(("fields", "space", "directory"), [
    ({"epochs": 20, "batch_size": 128, "learning_rate": 0.1, "cells_per_stage": 1, "channels": 4,
      "image_size": 12, "data_fraction": 0.1, "precision": "bf16"}, "nb201", "00e628c1cfe0656cb63beb40"),
    ({"epochs": 7, "batch_size": 64, "learning_rate": 0.03, "weight_decay": 3e-4, "layers": 6, "channels": 8,
      "image_size": 8, "data_fraction": 0.05, "auxiliary_weight": 0.4, "drop_path": 0.2, "grad_clip": 5.0},
     "darts", "2765251e86824584bf5cccbf"),
])
def test_whole_cache_keys_of_cached_trainings_are_unchanged(fields, space, directory):
    """The directory names of two trainings in ``~/.cache/bpe/evals`` (an NB201 one, and a DARTS one
    with the later fields set), rebuilt from their configs: estimator, space, training key and data."""
    for extra in ({}, {"report": "tse"}, {"hybrid": "none"}):  # an older file's "hybrid": "none" changes nothing
        config = BPEConfig.from_dict({**fields, **extra})
        fingerprint = ProxyTrainingEstimator(config, _Cifar10(), space=space, device="cpu").fingerprint()
        fingerprint = {**fingerprint, "layout": "channels_last"}  # the layout is the machine's, not the config's
        assert fingerprint_hash(fingerprint) == directory
