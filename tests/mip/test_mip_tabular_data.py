"""Minimum Importance Pruning on the BPE paper's recorded settings (../shared/data/bpe_paper):
the recomputed rank correlations match the reported ones, and a full tabular MIP run finds a
setting as good as the paper's cheap ones within the cap, without pruning the knobs that matter."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bpe.mip import MIPSettings, TabularEvaluator, read_tabular_records, run_mip

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def paper_dir(data_dir):
    folder = data_dir / "bpe_paper"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


@pytest.fixture(scope="module")
def evaluator(paper_dir):
    return TabularEvaluator(read_tabular_records(paper_dir))


def test_recomputed_spearman_matches_reported(paper_dir, evaluator):
    reported = pd.read_csv(paper_dir / "settings.csv").set_index("setting")["spearman_reported"]
    candidates = evaluator.candidates()
    assert len(candidates) == len(reported) == 37
    assert {c.record for c in candidates} == set(reported.index)
    for c in candidates:
        (result,) = evaluator.evaluate(c)
        assert result.name == c.record
        assert result.n_ok == result.n_archs == 100
        assert math.isfinite(result.spearman)
        assert result.spearman == pytest.approx(reported[c.record], abs=0.002), c.record


@pytest.mark.slow  # a whole tabular MIP run on the paper's records
def test_full_tabular_mip(evaluator):
    cfg = MIPSettings(per_round=5, max_cost=0.6, skip_over_cap=False)
    assert cfg.forest_seeds == 10
    result = run_mip(evaluator, cfg, progress=False, on_event=lambda _: None)
    chosen = result.chosen
    assert chosen is not None
    assert chosen.cost_per_arch <= 0.6
    assert chosen.spearman >= 0.62
    within = [r.spearman for r in result.trajectory if r.cost_per_arch <= 0.6 and math.isfinite(r.spearman)]
    assert chosen.spearman == max(within)
    order = [r.pruned for r in result.rounds if r.pruned is not None]
    assert len(order) >= 6
    assert "layers" not in order[:6]
    assert "epochs" not in order[:6]
