"""BPEConfig: validation, JSON round trip, presets."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bpe.config import KNOBS, PRESETS, BPEConfig, get_preset, load_config
from bpe.errors import ConfigError
from bpe.spaces.nb201 import layers_to_cells_per_stage


def test_defaults_valid_and_frozen():
    cfg = BPEConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3  # frozen
    assert set(cfg.to_dict()) == set(KNOBS)


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("epochs", 0, "epochs must be in 1..1000, got 0"),
        ("image_size", 2, "image_size must be in 4..256, got 2"),
        ("learning_rate", 0.0, "learning_rate must be in (0, 10]"),
        ("data_fraction", 1.5, "data_fraction must be in (0, 1]"),
        ("momentum", 1.0, "momentum must be in [0, 1)"),
        ("precision", "fp8", "precision must be one of fp32, bf16, fp16"),
        ("epochs", 2.5, "epochs must be a int"),
        ("channels", True, "channels must be a int"),
    ],
)
def test_range_validation_names_field_rule_and_value(field, value, fragment):
    with pytest.raises(ConfigError) as info:
        BPEConfig(**{field: value})
    assert fragment in str(info.value)


def test_cutout_not_larger_than_image():
    with pytest.raises(ConfigError, match="cutout must be at most image_size"):
        BPEConfig(image_size=8, cutout=9)


def test_json_round_trip(tmp_path):
    cfg = BPEConfig(epochs=3, channels=4, precision="bf16", data_fraction=0.25, seed=7)
    path = tmp_path / "c.json"
    cfg.to_json(path)
    assert BPEConfig.from_json(path) == cfg
    assert BPEConfig.from_json(cfg.to_json()) == cfg
    assert cfg.fingerprint() == BPEConfig.from_json(path).fingerprint() != BPEConfig().fingerprint()


def test_unknown_key_named_with_suggestion(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epoch": 3}))
    with pytest.raises(ConfigError) as info:
        BPEConfig.from_json(path)
    msg = str(info.value)
    assert "unknown key 'epoch'" in msg and "did you mean 'epochs'" in msg and str(path) in msg


def test_partial_json_takes_defaults_and_integral_floats():
    cfg = BPEConfig.from_dict({"epochs": 5.0, "channels": 4})
    assert cfg.epochs == 5 and isinstance(cfg.epochs, int) and cfg.batch_size == BPEConfig().batch_size


def test_bad_json_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{epochs: 3")
    with pytest.raises(ConfigError, match="not valid JSON"):
        BPEConfig.from_json(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        BPEConfig.from_json(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match="JSON object"):
        BPEConfig.from_dict([1, 2])


def test_presets_follow_the_paper():
    b1, b2 = get_preset("bpe-1"), get_preset("bpe-2")
    assert (b1.epochs, b1.batch_size, b1.learning_rate, b1.channels, b1.image_size, b1.cutout) == (10, 128, 0.03, 8, 16, 0)
    assert (b2.epochs, b2.channels, b2.layers) == (30, 16, 16) and b1.layers == 6
    assert layers_to_cells_per_stage(b2.layers) == 5 and layers_to_cells_per_stage(b1.layers) == 1
    assert layers_to_cells_per_stage(16) == 5 and layers_to_cells_per_stage(8) == 2
    assert load_config("bpe-2") is PRESETS["bpe-2"]
    with pytest.raises(ConfigError, match="unknown preset"):
        get_preset("bpe-3")


@pytest.mark.parametrize("field", ["learning_rate", "data_fraction", "weight_decay"])
def test_nan_and_inf_rejected(field):
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ConfigError, match=f"{field} must be"):
            BPEConfig(**{field: bad})


def test_hybrid_is_no_config_field_and_an_older_file_s_none_loads_silently():
    """A hybrid is a blend of a setting and a scorer (``RankBlend``), not a training field: an older
    file's ``"hybrid": "none"`` is dropped; a scorer is refused with the fix (read the file as an
    estimator, or drop the key)."""
    assert "hybrid" not in BPEConfig().to_dict()
    assert BPEConfig.from_dict({"epochs": 3, "hybrid": "none"}) == BPEConfig(epochs=3)
    with pytest.raises(ConfigError, match='"hybrid": "meco" is no longer .*--estimator.*drop "hybrid"'):
        BPEConfig.from_dict({"epochs": 3, "hybrid": "meco"}, source="c.json")
