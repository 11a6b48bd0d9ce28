"""One reader for user tables (truth tables, scores files), one set of rules: a repeated arch with
equal values counts once with a warning, with different values is an error naming both lines; a
cell that is not a number is an error naming its line and column; a text-only column is left out.
Each defect the issue found is reproduced here (MeCo's rho went from 0.867 to -0.043 on a truth
table with a conflicting repeat, a scores file with a repeat counted n 11 for 10 archs)."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from bpe.cli import main
from bpe.errors import BPEError, TruthError
from bpe.scoring import read_scores
from bpe.spaces import nb201
from bpe.truth.table import TableBenchmark

ARCHS = [str(a) for a in nb201.sample(10, 0)]


def _truth(tmp_path, rows):
    path = tmp_path / "truth.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_conflicting_repeat_in_a_truth_table_names_both_lines(tmp_path):
    rows = {"arch_str": [*ARCHS, ARCHS[2]], "acc": [*range(10), 99.0]}
    with pytest.raises(TruthError, match=r"lines 4 and 12 give the same arch different values in column acc"):
        TableBenchmark(_truth(tmp_path, rows), default_metric="acc")


def test_an_equal_repeat_counts_once_with_a_warning(tmp_path, caplog):
    rows = {"arch_str": [*ARCHS, ARCHS[2]], "acc": [*range(10), 2.0]}
    with caplog.at_level(logging.WARNING):
        table = TableBenchmark(_truth(tmp_path, rows), default_metric="acc")
    assert table.archs() == ARCHS and "lines 4 and 12" in caplog.text


def test_a_cell_that_is_not_a_number_names_its_line_and_column(tmp_path):
    rows = {"arch_str": ARCHS, "acc": [str(v) for v in range(9)] + ["7%"], "note": ["text"] * 10}
    with pytest.raises(TruthError, match=r"line 11, column acc: '7%' is not a number"):
        TableBenchmark(_truth(tmp_path, rows), default_metric="acc")
    rows["acc"][-1] = ""  # empty: a missing value
    table = TableBenchmark(_truth(tmp_path, rows), default_metric="acc")
    assert table.metrics == ["acc"]  # the text-only column is left out


def test_scores_file_rules_and_a_repeat_counted_once(tmp_path, capsys):
    truth = _truth(tmp_path, {"arch_str": ARCHS, "acc": [float(v) for v in range(10)]})
    scores = tmp_path / "s.csv"
    pd.DataFrame({"arch": [*ARCHS, ARCHS[0]], "mine": [*range(10), 0]}).to_csv(scores, index=False)
    assert len(read_scores(scores)) == 10
    out = tmp_path / "c.json"
    assert main(["correlate", "--scores", str(scores), "--truth", str(truth), "--metric", "acc", "--out", str(out),
                 "--no-plot"]) == 0
    row = json.loads(out.read_text())
    assert "n_archs\": 10" in json.dumps(row) and "n_archs\": 11" not in json.dumps(row)
    pd.DataFrame({"arch": [*ARCHS, ARCHS[0]], "mine": [*range(10), 5]}).to_csv(scores, index=False)
    assert main(["correlate", "--scores", str(scores), "--truth", str(truth), "--metric", "acc", "--out", str(out),
                 "--no-plot"]) == 2
    assert "lines 2 and 12" in capsys.readouterr().err
    pd.DataFrame({"arch": ARCHS, "mine": [*map(str, range(9)), "oops"]}).to_csv(scores, index=False)
    with pytest.raises(BPEError, match=r"line 11, column mine: 'oops' is not a number"):
        read_scores(scores)
