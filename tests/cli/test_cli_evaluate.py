"""`bpe evaluate` end to end (output contract) and the small CLI commands."""

from __future__ import annotations

import json

import pytest

from bpe.cli import main
from bpe.truth.table import TableBenchmark

CONTRACT = {"spearman", "kendall", "n_archs", "seconds_per_arch", "records"}
RECORD = {"arch", "score", "truth", "seconds", "status"}


def write(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


def test_evaluate_reference_on_digits(tmp_path, capsys):
    """The Quickstart path (digits + reference truth) with tiny budgets: JSON, CSV and PNG written."""
    proxy = write(tmp_path / "p.json", {"epochs": 1, "batch_size": 64, "channels": 2, "image_size": 8, "data_fraction": 0.3})
    ref = write(tmp_path / "r.json", {"epochs": 2, "batch_size": 64, "channels": 4, "image_size": 8, "data_fraction": 0.3})
    out = tmp_path / "res" / "r.json"
    code = main(["evaluate", "--estimator", proxy, "--dataset", "digits", "--truth", "reference",
                 "--reference-config", ref, "--archs", "4", "--seed", "1", "--out", str(out),
                 "--cache-dir", str(tmp_path / "c"), "--quiet"])
    assert code == 0
    result = json.loads(out.read_text())
    assert CONTRACT <= set(result) and result["n_archs"] == 4 and len(result["records"]) == 4
    assert all(RECORD <= set(r) for r in result["records"])
    assert all(r["status"] == "ok" and r["truth"] is not None for r in result["records"])
    assert out.with_suffix(".csv").is_file() and out.with_suffix(".png").stat().st_size > 1000
    assert "spearman" in capsys.readouterr().out


@pytest.mark.data
def test_evaluate_cifar10_against_nb201_table(tmp_path, data_dir):
    """The acceptance-check form on the real CIFAR-10 arrays and NB201 table (tiny budget)."""
    cfg = write(tmp_path / "c.json", {"epochs": 1, "batch_size": 128, "learning_rate": 0.05, "cells_per_stage": 1,
                                      "channels": 4, "image_size": 16, "data_fraction": 0.02})
    out = tmp_path / "r.json"
    code = main(["evaluate", "--estimator", cfg, "--space", "nb201", "--dataset", "cifar10",
                 "--data-dir", str(data_dir / "cifar10"), "--truth", str(data_dir / "nb201" / "nb201_groundtruth.csv"),
                 "--metric", "v11_cifar10valid_valid", "--archs", "4", "--seed", "11", "--jobs", "1",
                 "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet", "--no-plot"])
    assert code == 0
    result = json.loads(out.read_text())
    assert CONTRACT <= set(result) and len(result["records"]) == 4
    table = TableBenchmark(data_dir / "nb201" / "nb201_groundtruth.csv")
    for rec in result["records"]:
        assert rec["truth"] == pytest.approx(table.query(rec["arch"], "v11_cifar10valid_valid"))
        assert rec["info"]["n_train"] == 500  # 2% of the 25k train split


@pytest.mark.data
def test_nb201_table_golden_values(data_dir):
    table = TableBenchmark(data_dir / "nb201" / "nb201_groundtruth.csv")
    best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    assert table.query(best, "v11_cifar10_test") == pytest.approx(94.373, abs=1e-3)
    assert len(table.archs()) == 15625
    assert table.train_seconds(best, 12) == pytest.approx(12 * table.query(best, "nats_cifar10valid_train_sec_per_epoch"))


def test_evaluate_oracle_is_perfect_and_missing_archs_rejected(tmp_path, capsys):
    """The oracle ranks exactly like its own table; archs absent from the table are a clear error."""
    from bpe.evaluate import sample_archs

    archs = sample_archs("nb201", 6, 3)  # the same sample `--archs 6 --seed 3` draws
    csv = tmp_path / "t.csv"
    csv.write_text("arch_str,acc\n" + "\n".join(f"{a},{i}" for i, a in enumerate(archs)))
    out = tmp_path / "o.json"
    args = ["evaluate", "--estimator", "oracle", "--truth", str(csv), "--metric", "acc", "--out", str(out),
            "--quiet", "--no-plot"]
    assert main(args + ["--archs", "6", "--seed", "3"]) == 0
    assert json.loads(out.read_text())["spearman"] == pytest.approx(1.0)
    before = out.read_bytes()
    assert main(args + ["--archs", "6", "--seed", "4"]) == 2
    assert "is not in truth table" in capsys.readouterr().err
    assert out.read_bytes() == before  # the earlier results are untouched
    # the table itself is a valid arch list (its arch_str column): same archs, same result
    assert main(args + ["--archs", str(csv)]) == 0
    assert json.loads(out.read_text())["n_archs"] == 6
    one = tmp_path / "one.txt"
    one.write_text(archs[0] + "\n")
    assert main(args + ["--archs", str(one)]) == 2
    assert "at least 2 archs" in capsys.readouterr().err


def test_config_command(tmp_path, capsys):
    out = tmp_path / "b1.json"
    assert main(["config", "bpe-1", "--set", "epochs=3", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["epochs"] == 3
    assert main(["config", "bpe-1", "--set", "epoch=3"]) == 2
    assert "did you mean 'epochs'" in capsys.readouterr().err


def test_arch_commands(capsys):
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert main(["arch", "check", arch]) == 0
    assert "0.802426 M params" in capsys.readouterr().out
    assert main(["arch", "sample", "3", "--seed", "1"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["arch", "check", arch.replace("avg_pool_3x3", "max_pool")]) == 2
    assert "unknown op 'max_pool'" in capsys.readouterr().err
