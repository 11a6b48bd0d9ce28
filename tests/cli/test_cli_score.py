"""`bpe score` and `bpe correlate` end to end (output contracts), with tiny networks."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bpe.cli import main
from bpe.evaluate import sample_archs

TINY = ["--channels", "4", "--cells-per-stage", "1", "--image-size", "8", "--batch-size", "16"]


@pytest.fixture
def truth_csv(tmp_path):
    """Truth for exactly the archs `--archs 8 --seed 0` samples: accuracy grows with conv weights (3x3: 9, 1x1: 1)."""
    archs = sample_archs("nb201", 8, 0)
    acc = [50 + 9 * a.count("conv_3x3") + a.count("conv_1x1") + 0.01 * i for i, a in enumerate(archs)]
    path = tmp_path / "truth.csv"
    pd.DataFrame({"arch_str": archs, "acc": acc}).to_csv(path, index=False)
    return path


def test_score_writes_contract_csv(tmp_path, capsys):
    out = tmp_path / "s.csv"
    code = main(["score", "--estimator", "naswot,synflow,params", "--space", "nb201", "--dataset", "digits",
                 "--archs", "8", "--seed", "0", "--out", str(out), "--quiet", "--cache-dir", str(tmp_path / "c"), *TINY])
    assert code == 0
    frame = pd.read_csv(out)
    assert list(frame["arch"]) == sample_archs("nb201", 8, 0)
    assert {"naswot", "synflow", "params", "naswot_seconds"} <= set(frame.columns)
    assert frame["params"].notna().all() and frame["synflow"].notna().sum() >= 4
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["dataset"] == "digits" and meta["arch_seed"] == 0
    assert meta["estimators"]["synflow"]["n_failed"] == frame["synflow"].isna().sum()
    assert meta["estimators"]["naswot"]["fingerprint"]["batch_size"] == 16
    # rerun: all from the cache, same numbers
    assert main(["score", "--estimator", "naswot,synflow,params", "--dataset", "digits", "--archs", "8",
                 "--out", str(out), "--quiet", "--cache-dir", str(tmp_path / "c"), *TINY]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out)[["arch", "naswot"]], frame[["arch", "naswot"]])


def test_correlate_table_and_plot(tmp_path, truth_csv, capsys):
    scores = tmp_path / "s.csv"
    assert main(["score", "--estimator", "params,flops", "--dataset", "digits", "--archs", "8", "--out", str(scores),
                 "--quiet", "--cache-dir", str(tmp_path / "c"), *TINY]) == 0
    out = tmp_path / "t.json"
    assert main(["correlate", "--scores", str(scores), "--truth", str(truth_csv), "--metric", "acc",
                 "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    assert set(table["estimators"]) == {"params", "flops"}
    for row in table["estimators"].values():
        assert {"kendall", "spearman", "top10pct_precision", "seconds_per_arch", "n_archs"} <= set(row)
        assert row["n_archs"] == 8 and -1 <= row["spearman"] <= 1
    # more convolutions -> more parameters: params must rank this truth well
    assert table["estimators"]["params"]["spearman"] > 0.5
    assert out.with_suffix(".png").stat().st_size > 1000
    assert "| params |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["score", "--estimator", "nasowt", "--archs", "4"], "did you mean 'naswot'"),
        (["score", "--estimator", "naswot,naswot", "--archs", "4"], "distinct"),
        (["score", "--estimator", "naswot", "--archs", "many"], "a number, 'all' or a file"),
        (["score", "--estimator", "naswot", "--archs", "4", "--batch-size", "0"], "--batch-size: must be an integer >= 1"),
        (["correlate", "--truth", "x.csv"], "give --scores"),
        (["correlate", "--scores", "missing.csv", "--truth", "x.csv"], "does not exist"),
    ],
)
def test_score_and_correlate_bad_input(tmp_path, argv, fragment, capsys):
    assert main([*argv, "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and fragment in err


def test_best_of_n():
    import numpy as np

    from bpe.errors import BPEError
    from bpe.scoring import best_of_n

    scores = np.arange(100.0)
    truths = np.arange(100.0) * 2
    picks = best_of_n(scores, truths, 100, 5, seed=0)
    assert np.all(picks == 198.0)  # N = pool: always the best
    picks = best_of_n(-scores, truths, 10, 200, seed=0)
    assert picks.mean() < 40  # an anti-correlated score picks badly
    with pytest.raises(BPEError):
        best_of_n(scores, truths, 101, 1, seed=0)


def test_score_an_arch_list_file(tmp_path, capsys):
    archs = sample_archs("nb201", 3, 7)
    listing = tmp_path / "archs.txt"
    listing.write_text("\n".join(archs) + "\n")
    out = tmp_path / "s.csv"
    assert main(["score", "--estimator", "params", "--dataset", "digits", "--archs", str(listing),
                 "--out", str(out), "--quiet", "--no-cache", *TINY]) == 0
    assert list(pd.read_csv(out)["arch"]) == archs
    # the CSV just written is itself a valid list (its 'arch' column)
    out2 = tmp_path / "s2.csv"
    assert main(["score", "--estimator", "params", "--dataset", "digits", "--archs", str(out),
                 "--out", str(out2), "--quiet", "--no-cache", *TINY]) == 0
    assert list(pd.read_csv(out2)["arch"]) == archs


def test_score_rejects_a_bad_entry_in_an_arch_list(tmp_path, capsys):
    listing = tmp_path / "archs.txt"
    listing.write_text(sample_archs("nb201", 2, 0)[0] + "\n|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    assert main(["score", "--estimator", "params", "--dataset", "digits", "--archs", str(listing),
                 "--out", str(tmp_path / "s.csv"), "--quiet", "--no-cache", *TINY]) == 2
    err = capsys.readouterr().err
    assert "entry 2" in err and "conv_5x5" in err
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("content, fragment", [
    ("index,arch_str\n0,|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|\n", "entry 1"),
    ("a,b\n1,2\n", "no arch column (arch/arch_str/net_str/cellstr/index); its columns: a, b"),
    ("\n\n", "lists no architectures"),
])
def test_arch_list_errors(tmp_path, content, fragment, capsys):
    listing = tmp_path / "archs.csv"
    listing.write_text(content)
    assert main(["score", "--estimator", "params", "--dataset", "digits", "--archs", str(listing),
                 "--out", str(tmp_path / "s.csv"), "--quiet", "--no-cache", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and fragment in err


def test_arch_list_missing_file(tmp_path, capsys):
    assert main(["score", "--estimator", "params", "--dataset", "digits", "--archs", str(tmp_path / "nope.txt"),
                 "--out", str(tmp_path / "s.csv"), "--quiet", "--no-cache"]) == 2
    assert "does not exist" in capsys.readouterr().err
