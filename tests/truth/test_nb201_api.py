"""The official NAS-Bench-201 file through nas_201_api: runs only when BPE_NB201_PATH is set."""

from __future__ import annotations

import os

import pytest

from bpe.errors import TruthError
from bpe.truth import load_truth

PATH = os.environ.get("BPE_NB201_PATH")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(TruthError, match="does not exist"):
        load_truth(f"nb201:{tmp_path / 'NAS-Bench-201-v1_1-096897.pth'}")


@pytest.mark.skipif(not PATH, reason="set BPE_NB201_PATH to the official NAS-Bench-201 .pth file to run")
def test_official_file_matches_table(data_dir):
    pytest.importorskip("nas_201_api", reason="pip install '.[nb201]'")
    api = load_truth(f"nb201:{PATH}")
    table = load_truth(str(data_dir / "nb201" / "nb201_groundtruth.csv"))
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    for metric in ("v11_cifar10valid_valid", "v11_cifar10_test", "v11_cifar100_test"):
        assert api.query(arch, metric) == pytest.approx(table.query(arch, metric), abs=0.01)
