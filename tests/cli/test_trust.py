"""Outputs a user can trust: figures recomputed from what they name, no file clobbered or lost,
errors before any work, samples and indices users can rely on.  Each test fails on the code
before these rules (the old CLI copied stored figures, let the --out suffix pick the format,
wrote NaN into JSON, created files 0600, drew non-nested samples, ...)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bpe.archlists import sample_archs
from bpe.cli import main

TINY = ["--channels", "4", "--cells-per-stage", "1", "--image-size", "8", "--batch-size", "16"]


def strict_json(path):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(open(path).read(), parse_constant=refuse)


@pytest.fixture
def table(tmp_path):
    """A benchmark-like table (metrics named for CIFAR-10) over the first 60 archs of seed 0."""
    archs = sample_archs("nb201", 60, 0)
    rng = np.random.default_rng(0)
    convs = np.array([9 * a.count("conv_3x3") + a.count("conv_1x1") for a in archs], dtype=float)
    frame = pd.DataFrame({"arch_str": archs, "v11_cifar10valid_valid": 80 + convs + rng.normal(0, 2, 60),
                          "v11_cifar100_test": 50 - convs + rng.normal(0, 2, 60)})
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path


def evaluate(tmp_path, table, *extra, out="e.json", archs="12", seed="0"):
    return main(["evaluate", "--estimator", "params", "--dataset", "digits", "--allow-mismatch", "--truth",
                 str(table), "--metric", "v11_cifar10valid_valid", "--archs", archs, "--seed", seed,
                 "--out", str(tmp_path / out) + ("/" if out.endswith("/") else ""), "--quiet",
                 "--cache-dir", str(tmp_path / "c"), "--no-plot", *extra])


# -- figures recomputed from what they name ---------------------------------------------
def test_correlate_recomputes_against_the_metric_and_keeps_files_apart(tmp_path, table, capsys):
    other = tmp_path / "other.txt"
    other.write_text("\n".join(sample_archs("nb201", 24, 0)[12:]) + "\n")  # another sample of the table's archs
    assert evaluate(tmp_path, table, out="a.json", seed="0") == 0
    assert evaluate(tmp_path, table, out="b.json", archs=str(other)) == 0
    rows = {}
    for metric in ("v11_cifar10valid_valid", "v11_cifar100_test"):
        out = tmp_path / f"c_{metric}.json"
        assert main(["correlate", "--evaluations", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                     "--truth", str(table), "--metric", metric, "--out", str(out), "--no-plot"]) == 0
        rows[metric] = strict_json(out)["estimators"]
    assert len(rows["v11_cifar10valid_valid"]) == 2  # one row per file, not the last file winning
    truth = pd.read_csv(table).set_index("arch_str")
    for label, row in rows["v11_cifar100_test"].items():
        records = strict_json(tmp_path / ("a.json" if label.startswith("a:") else "b.json"))["records"]
        want = pd.Series([r["score"] for r in records]).corr(
            pd.Series([truth.loc[r["arch"], "v11_cifar100_test"] for r in records]), method="spearman")
        assert row["spearman"] == pytest.approx(want, abs=1e-9) and row["metric"] == "v11_cifar100_test"
    a_valid, a_c100 = (rows[m][next(k for k in rows[m] if k.startswith("a:"))]["spearman"] for m in rows)
    assert a_valid > 0.5 > a_c100  # changing --metric changes the figure
    assert main(["correlate", "--evaluations", str(tmp_path / "a.json"), str(tmp_path / "a.json"),
                 "--truth", str(table), "--out", str(tmp_path / "x.json")]) == 2
    assert "twice" in capsys.readouterr().err


def test_score_columns_of_two_configs_are_distinct(tmp_path, capsys):
    one, two = tmp_path / "fast.json", tmp_path / "slow.json"
    one.write_text(json.dumps({"epochs": 1, "channels": 2, "cells_per_stage": 1, "image_size": 8, "batch_size": 64}))
    two.write_text(json.dumps({"epochs": 1, "channels": 2, "cells_per_stage": 1, "image_size": 8, "batch_size": 64,
                               "seed": 1}))
    out = tmp_path / "s.csv"
    assert main(["score", "--estimator", f"{one},{two}", "--dataset", "digits", "--archs", "2", "--out", str(out),
                 "--quiet", "--no-cache"]) == 0
    assert {"fast", "slow", "fast_seconds", "slow_seconds"} <= set(pd.read_csv(out).columns)
    assert set(json.loads(out.with_suffix(".json").read_text())["estimators"]) == {"fast", "slow"}
    other = tmp_path / "d"
    other.mkdir()
    (other / "fast.json").write_text(two.read_text())
    assert main(["score", "--estimator", f"{one},{other / 'fast.json'}", "--dataset", "digits", "--archs", "2",
                 "--out", str(tmp_path / "t.csv"), "--quiet", "--no-cache"]) == 2
    assert "both be called 'fast'" in capsys.readouterr().err


def test_a_truth_that_cannot_belong_to_the_dataset_is_refused(tmp_path, table, capsys):
    base = ["evaluate", "--estimator", "params", "--truth", str(table), "--archs", "6", "--quiet", "--no-plot",
            "--cache-dir", str(tmp_path / "c")]
    assert main([*base, "--out", str(tmp_path / "x.json")]) == 2  # digits (default) vs a CIFAR-10 table
    assert "cannot belong to --dataset digits" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    assert main([*base, "--out", str(tmp_path / "y.json"), "--allow-mismatch"]) == 0
    scores = tmp_path / "s.csv"
    assert main(["score", "--estimator", "params", "--dataset", "digits", "--archs", "6", "--out", str(scores),
                 "--quiet", "--no-cache", *TINY]) == 0
    assert main(["evaluate", "--estimator", "flops", "--truth", str(scores), "--archs", str(scores), "--quiet",
                 "--out", str(tmp_path / "z.json"), "--no-cache"]) == 2
    assert "scores file" in capsys.readouterr().err


def test_oracle_says_it_is_the_truth(tmp_path, table, capsys):
    assert main(["evaluate", "--estimator", "oracle", "--truth", str(table), "--archs", "8", "--quiet",
                 "--no-plot", "--out", str(tmp_path / "o.json"), "--no-cache"]) == 0
    assert "by construction" in capsys.readouterr().out
    assert "by construction" in strict_json(tmp_path / "o.json")["note"]


def test_reference_training_is_announced_and_needs_yes_when_long(tmp_path, monkeypatch, capsys):
    import bpe.cli.evaluate as command

    ref = tmp_path / "r.json"
    ref.write_text(json.dumps({"epochs": 1, "channels": 2, "cells_per_stage": 1, "image_size": 8, "batch_size": 64}))
    argv = ["evaluate", "--estimator", "params", "--dataset", "digits", "--reference-config", str(ref),
            "--archs", "3", "--quiet", "--no-plot", "--out", str(tmp_path / "e.json"), "--cache-dir", str(tmp_path / "c")]
    monkeypatch.setattr(command, "CONFIRM_SECONDS", 0.0)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # not a terminal
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "reference truth: training 3 of 3 archs" in captured.out and "--yes" in captured.err
    assert not (tmp_path / "e.json").exists() and not list((tmp_path / "c").glob("*/*.json"))  # nothing trained
    assert main([*argv, "--yes"]) == 0


def test_tiny_samples_give_standard_json_and_a_warning(tmp_path, table):
    assert evaluate(tmp_path, table, archs="2", out="two.json") == 0
    result = strict_json(tmp_path / "two.json")  # no NaN constants
    assert result["n_archs"] == 2 and "not meaningful" in result["warning"]
    assert main(["score", "--estimator", "params", "--dataset", "digits", "--archs", "1", "--quiet", "--no-cache",
                 "--out", str(tmp_path / "one.csv"), *TINY]) == 0  # score computes no correlation


@pytest.mark.data
def test_published_rows_only_for_a_comparable_run(tmp_path, data_dir):
    from bpe.data import DatasetSpec
    from bpe.parallel import Runner
    from search_algos.jobs import search_job

    result, _ = search_job(algos=["random"], estimator_spec="oracle", dataset=DatasetSpec("digits"),
                           truth_spec=str(data_dir / "nb201" / "nb201_groundtruth.csv"), metric="v11_cifar10valid_valid",
                           budget_spec="10", runs=2, seed=0,
                           runner=Runner(progress=False), out=tmp_path / "s.json", progress=False)
    row = result.summary["random"]
    assert row.published is None and any("budget" in d for d in row.published_not_comparable)


# -- outputs where the user said, nothing lost ------------------------------------------
@pytest.mark.parametrize("name, written", [
    ("x.json", ["x.json", "x.csv"]),
    ("x.csv", ["x.json", "x.csv"]),  # the JSON is kept beside it
    ("x.png", ["x.json", "x.csv"]),
    ("folder/", ["folder/evaluate.json", "folder/evaluate.csv"]),
])
def test_out_rule_for_evaluate(tmp_path, table, name, written):
    assert evaluate(tmp_path, table, out=name, archs="6") == 0
    for path in written:
        assert (tmp_path / path).is_file(), path
    strict_json(tmp_path / written[0])


@pytest.mark.parametrize("out, fragment", [
    ("x.txt", "suffix '.txt'"),
    ("noext", "no suffix"),
    ("blocker/x.json", "cannot be written"),
    ("/proc/bpe/x.json", "cannot be written"),
])
def test_bad_out_is_refused_before_any_work(tmp_path, table, out, fragment, capsys):
    (tmp_path / "blocker").write_text("a regular file")
    target = out if out.startswith("/") else str(tmp_path / out)
    assert main(["evaluate", "--estimator", "params", "--dataset", "digits", "--allow-mismatch", "--truth",
                 str(table), "--archs", "6", "--out", target, "--quiet", "--cache-dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())  # nothing was computed


def test_no_plot_removes_the_stale_plot_and_files_follow_the_umask(tmp_path, table):
    old = os.umask(0o022)
    try:
        assert main(["evaluate", "--estimator", "params", "--dataset", "digits", "--allow-mismatch", "--truth",
                     str(table), "--archs", "6", "--out", str(tmp_path / "e.json"), "--quiet", "--no-cache"]) == 0
        assert (tmp_path / "e.png").is_file()
        assert evaluate(tmp_path, table, out="e.json", archs="6") == 0  # --no-plot
        assert not (tmp_path / "e.png").exists()
        assert stat.S_IMODE((tmp_path / "e.json").stat().st_mode) == 0o644
    finally:
        os.umask(old)


# -- errors before any work -------------------------------------------------------------
@pytest.mark.parametrize("argv, fragment", [
    (["evaluate", "--estimator", "params", "--seed", "-1"], "--seed"),
    (["score", "--estimator", "params", "--seed", "-1"], "--seed"),
    (["arch", "sample", "3", "--seed", "-1"], "--seed"),
    (["predictor", "evaluate", "--truth", "t.csv", "--epochs", "0", "--out", "p.json"], "--epochs"),
    (["score", "--estimator", "params", "--jobs", "0"], "--jobs"),
])
def test_bad_numbers_are_one_line_and_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and fragment in err


def test_cache_dir_that_is_a_file_is_refused_before_work(tmp_path, table, capsys):
    blocker = tmp_path / "cachefile"
    blocker.write_text("")
    assert evaluate(tmp_path, table, "--cache-dir", str(blocker), out="e.json") == 2
    assert "is a file" in capsys.readouterr().err and not (tmp_path / "e.json").exists()


@pytest.mark.slow  # worker processes (loky)
def test_jobs_minus_one_means_all_cores(tmp_path, table):
    assert evaluate(tmp_path, table, "--jobs", "-1", out="e.json", archs="4") == 0


def test_arch_list_duplicates_comments_and_index_column(tmp_path, table):
    from bpe.archlists import read_arch_list
    from bpe.spaces.nb201 import benchmark_index

    archs = sample_archs("nb201", 3, 0)
    listing = tmp_path / "a.txt"
    listing.write_text("# my archs\n" + "\n".join([archs[0], archs[1], archs[0], archs[2]]) + "\n")
    assert read_arch_list(listing, "nb201") == archs
    indexed = tmp_path / "i.csv"
    indexed.write_text("index,note\n" + "\n".join(f"{benchmark_index(a)},x" for a in archs) + "\n")
    assert read_arch_list(indexed, "nb201") == archs
    net = tmp_path / "n.csv"
    net.write_text("net_str,acc\n" + "\n".join(f"{a},1" for a in archs) + "\n")
    assert read_arch_list(net, "nb201") == archs


def test_verbosity_after_the_subcommand(tmp_path, table):
    assert evaluate(tmp_path, table, "-v", out="v.json", archs="4") == 0  # --quiet is already after it


def test_piping_into_head_is_not_an_error():
    proc = subprocess.run(f"{sys.executable} -m bpe.cli arch sample 15625 | head -1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.count("\n") == 1 and "Traceback" not in proc.stderr


def test_cache_follows_xdg_cache_home(tmp_path, monkeypatch):
    from bpe.cache import default_cache_dir

    monkeypatch.delenv("BPE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "bpe" / "evals"
    monkeypatch.setenv("BPE_CACHE_DIR", str(tmp_path / "own"))
    assert default_cache_dir() == tmp_path / "own"


# -- indices and samples users can rely on -----------------------------------------------
def test_arch_check_prints_the_benchmark_index(capsys):
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert main(["arch", "check", arch]) == 0
    assert "nb201 index 1\t" in capsys.readouterr().out


@pytest.mark.data
def test_benchmark_order_matches_the_table(data_dir):
    from bpe.spaces.nb201 import benchmark_index

    frame = pd.read_csv(data_dir / "nb201" / "nb201_groundtruth.csv", usecols=["index", "arch_str"])
    assert all(benchmark_index(a) == i for i, a in zip(frame["index"], frame["arch_str"]))


def test_samples_are_nested_and_growing_reuses_the_cache(tmp_path, table):
    assert sample_archs("nb201", 100, 7)[:50] == sample_archs("nb201", 50, 7)
    cfg = tmp_path / "p.json"
    cfg.write_text(json.dumps({"epochs": 1, "channels": 2, "cells_per_stage": 1, "image_size": 8, "batch_size": 64,
                               "data_fraction": 0.3}))
    ref = tmp_path / "r.json"
    ref.write_text(cfg.read_text().replace('"epochs": 1', '"epochs": 2'))
    cache = tmp_path / "c"
    base = ["evaluate", "--estimator", str(cfg), "--dataset", "digits", "--truth", "reference", "--reference-config",
            str(ref), "--quiet", "--no-plot", "--cache-dir", str(cache), "--seed", "0", "--noise-archs", "0"]
    assert main([*base, "--archs", "3", "--out", str(tmp_path / "a.json")]) == 0
    before = {p: p.stat().st_mtime_ns for p in cache.glob("*/*.json") if p.name != "fingerprint.json"}
    assert len(before) == 6  # 3 proxy trainings + 3 reference trainings
    assert main([*base, "--archs", "5", "--out", str(tmp_path / "b.json")]) == 0
    after = {p: p.stat().st_mtime_ns for p in cache.glob("*/*.json") if p.name != "fingerprint.json"}
    assert len(after) == 10 and all(after[p] == t for p, t in before.items())  # only the 2 new archs trained
    first = [r["arch"] for r in strict_json(tmp_path / "a.json")["records"]]
    assert [r["arch"] for r in strict_json(tmp_path / "b.json")["records"]][:3] == first


def test_seed_noise_is_reported_beside_rho(tmp_path):
    cfg = tmp_path / "p.json"
    cfg.write_text(json.dumps({"epochs": 1, "channels": 2, "cells_per_stage": 1, "image_size": 8, "batch_size": 64,
                               "data_fraction": 0.3}))
    assert main(["evaluate", "--estimator", str(cfg), "--dataset", "digits", "--reference-config", str(cfg),
                 "--archs", "4", "--noise-archs", "3", "--quiet", "--no-plot", "--out", str(tmp_path / "e.json"),
                 "--cache-dir", str(tmp_path / "c")]) == 0
    noise = strict_json(tmp_path / "e.json")["seed_noise"]
    assert noise["n_archs"] == 3 and noise["seeds"] == [0, 1] and noise["mean_abs_diff"] >= 0


def test_correlate_labels_same_named_files_by_their_folder(tmp_path, table):
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        assert evaluate(tmp_path, table, out=f"{folder}/e.json", archs="8") == 0
    out = tmp_path / "c.json"
    assert main(["correlate", "--evaluations", str(tmp_path / "one" / "e.json"), str(tmp_path / "two" / "e.json"),
                 "--out", str(out), "--no-plot"]) == 0  # each file's own truth and metric
    labels = sorted(strict_json(out)["estimators"])
    assert [label.split(":")[0] for label in labels] == ["one/e", "two/e"]
