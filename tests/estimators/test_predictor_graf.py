"""The graph-feature predictor (``bpe predictor fit|evaluate --model graf``): extra-trees on a
cell's graph features, fitted on seeded labelled archs, ranking the others; saved as JSON that
``--estimator`` takes (one arch at a time, so search works too)."""

from __future__ import annotations

import json

import pytest

from bpe.cli import main
from bpe.spaces import get_space


@pytest.fixture
def table(tmp_path):
    """300 NB201 archs whose truth grows with their live 3x3 convolutions (a graph property)."""
    space = get_space("nb201")
    archs = [str(a) for a in space.sample(300, 0)]
    names, values = space.graph_features(archs)
    live3 = values[:, names.index("nor_conv_3x3 live edges")]
    path = tmp_path / "truth.csv"
    path.write_text("arch_str,acc\n" + "".join(f"{a},{50 + 5 * v + 0.01 * i}\n" for i, (a, v) in enumerate(zip(archs, live3))))
    return path


def test_graf_predictor_ranks_held_out_archs_and_its_file_is_an_estimator(table, tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["predictor", "evaluate", "--model", "graf", "--truth", str(table), "--metric", "acc",
                 "--train-size", "60", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["model"] == "graf" and result["n_test"] == 240 and result["spearman"] > 0.8
    saved = tmp_path / "graf.json"
    assert main(["predictor", "fit", "--model", "graf", "--truth", str(table), "--metric", "acc", "--train-size", "60",
                 "--out", str(saved)]) == 0
    spec = json.loads(saved.read_text())
    assert spec["kind"] == "bpe-predictor" and spec["estimator"]["family"] == "learned" and len(spec["estimator"]["archs"]) == 60
    listed = tmp_path / "archs.txt"
    listed.write_text("\n".join(line.split(",")[0] for line in table.read_text().splitlines()[-40:]) + "\n")
    assert main(["evaluate", "--estimator", str(saved), "--truth", str(table), "--metric", "acc", "--archs", str(listed),
                 "--no-cache", "--quiet", "--noise-archs", "0", "--allow-mismatch",
                 "--out", str(tmp_path / "ev.json")]) == 0
    assert json.loads((tmp_path / "ev.json").read_text())["spearman"] > 0.8
    assert main(["search", "--algo", "rea", "--estimator", str(saved), "--budget", "10", "--quiet",
                 "--out", str(tmp_path / "s.json")]) == 0
    capsys.readouterr()
    assert main(["predictor", "fit", "--model", "graf", "--truth", str(table), "--metric", "acc", "--train-size", "60",
                 "--out", str(tmp_path / "graf.pt")]) == 2
    assert "suffix" in capsys.readouterr().err


def test_graf_predictor_reads_scorers_values_as_features(table, tmp_path, capsys):
    """``--scorers``: their values join the graph features (GRAF's zero-cost columns); the saved
    predictor scores a new arch through them; ``--test-size`` bounds the archs to score."""
    out = tmp_path / "e.json"
    assert main(["predictor", "evaluate", "--model", "graf", "--scorers", "params,flops", "--truth", str(table),
                 "--metric", "acc", "--train-size", "30", "--test-size", "20", "--cache-dir", str(tmp_path / "c"),
                 "--quiet", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_test"] == 20 and result["scorers"] == ["params", "flops"] and result["spearman"] > 0.7
    assert "params, flops" in capsys.readouterr().out
    saved = tmp_path / "graf.json"
    assert main(["predictor", "fit", "--model", "graf", "--scorers", "params", "--truth", str(table), "--metric", "acc",
                 "--train-size", "40", "--no-cache", "--quiet", "--out", str(saved)]) == 0
    spec = json.loads(saved.read_text())["estimator"]
    from bpe.data import DatasetSpec
    from bpe.estimators import estimator_from_spec

    params = estimator_from_spec("params", dataset=DatasetSpec("digits"), space="nb201", device="cpu")
    assert spec["members"] == [{"family": "scorer", "name": "params", "options": {"channels": 16, "layers": 17}}]
    assert "dataset" not in spec  # reads no images
    assert spec["rows"][0] == pytest.approx([params.evaluate(a).score for a in spec["archs"]])
    blend = estimator_from_spec(str(saved), dataset=DatasetSpec("digits"), space="nb201", device="cpu")
    arch = str(get_space("nb201").sample(1, 7)[0])
    assert blend.evaluate(arch).score == pytest.approx(blend.predict([[params.evaluate(arch).score]], [arch])[0])


@pytest.mark.parametrize("extra, message", [
    (["--model", "renas", "--scorers", "params"], "--model graf"),
    (["--model", "graf", "--scorers", "params,nonesuch"], "nonesuch"),
    (["--model", "graf", "--scorers", "params,params"], "twice"),
    (["--model", "graf", "--scorers", "az_nas"], "each arch on its own"),
])
def test_graf_scorers_are_checked_before_any_work(table, tmp_path, capsys, extra, message):
    out = tmp_path / "e.json"
    assert main(["predictor", "evaluate", *extra, "--truth", str(table), "--metric", "acc", "--train-size", "40",
                 "--no-cache", "--out", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_run_flags_without_scorers_are_refused_and_none_means_no_scorer(table, tmp_path, capsys):
    out = tmp_path / "e.json"
    common = ["predictor", "evaluate", "--model", "graf", "--truth", str(table), "--metric", "acc", "--train-size", "40",
              "--out", str(out)]
    assert main([*common, "--jobs", "2"]) == 2
    assert "without --scorers" in capsys.readouterr().err and not out.exists()
    assert main([*common, "--scorers", "none"]) == 0
    assert json.loads(out.read_text())["scorers"] == []
