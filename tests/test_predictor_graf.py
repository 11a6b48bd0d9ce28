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
