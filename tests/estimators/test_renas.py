"""Pairwise-ranking predictor: loss, fitting, invariances, persistence, errors, CLI contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError

from bpe.cli import main
from bpe.errors import BPEError
from bpe.estimators import create_estimator, estimator_from_spec
from bpe.estimators.renas import RankingPredictor, _best_epoch, pairwise_logistic_loss
from bpe.spaces import nb201
from bpe.spaces.nb201.features import N_CHANNELS, feature_tensor, live_edges

ARCHS = [str(a) for a in nb201.sample(120, 0)]


def toy_target(arch: str) -> float:
    """Accuracy-like: live convolutions help, more 3x3 help more."""
    live = live_edges(arch)
    ops = nb201.parse(arch).ops
    return sum((2.0 if op == "nor_conv_3x3" else 1.0 if op == "nor_conv_1x1" else 0.2) * alive
               for op, alive in zip(ops, live))


Y = [toy_target(a) for a in ARCHS]
FAST = dict(epochs=40, patience=10)


def test_pairwise_loss_hand_computed():
    out = torch.tensor([2.0, 0.0])
    y = torch.tensor([1.0, 0.0])
    # pairs (0,1): softplus(-(2-0)*1); (1,0): softplus(-(0-2)*(-1)) -> both softplus(-2)
    assert pairwise_logistic_loss(out, y).item() == pytest.approx(np.log1p(np.exp(-2.0)))
    assert pairwise_logistic_loss(out, torch.tensor([1.0, 1.0])).item() == 0.0  # ties carry no pairs


def test_features_shape_and_live_edges():
    x = feature_tensor(ARCHS[:3])
    assert x.shape == (3, N_CHANNELS, 4, 4) and x.dtype == np.float32
    assert live_edges("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|") == (False,) * 3 + (True,) + (False,) * 2
    assert live_edges("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|") == (
        True, False, False, False, True, False)


def test_loss_decreases_and_ranks_toy_problem():
    p = RankingPredictor("pairwise", seed=0, valid_fraction=0.0, epochs=80).fit(ARCHS[:80], Y[:80])
    losses = [h["train_loss"] for h in p.history_]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert p.score(ARCHS[80:], Y[80:]) > 0.6


def test_pairwise_and_mse_both_fit():
    for loss in ("pairwise", "mse"):
        p = RankingPredictor(loss, seed=1, **FAST).fit(ARCHS[:60], Y[:60])
        assert p.score(ARCHS[60:], Y[60:]) > 0.3


def test_predictions_invariant_to_order_and_form():
    p = RankingPredictor("pairwise", seed=0, **FAST).fit(ARCHS[:40], Y[:40])
    a = p.predict(ARCHS[40:50])
    b = p.predict(list(reversed(ARCHS[40:50])))[::-1]
    c = p.predict([nb201.parse(s) for s in ARCHS[40:50]])
    d = np.array([p.predict([s])[0] for s in ARCHS[40:50]])
    assert np.allclose(a, b, atol=1e-6) and np.allclose(a, c, atol=1e-6) and np.allclose(a, d, atol=1e-6)


def test_deterministic_for_a_seed():
    a = RankingPredictor(seed=3, **FAST).fit(ARCHS[:30], Y[:30]).predict(ARCHS[30:40])
    b = RankingPredictor(seed=3, **FAST).fit(ARCHS[:30], Y[:30]).predict(ARCHS[30:40])
    assert np.array_equal(a, b)


def test_save_load_round_trip(tmp_path):
    p = RankingPredictor("mse", seed=0, **FAST).fit(ARCHS[:30], Y[:30])
    path = p.save(tmp_path / "m.pt")
    q = RankingPredictor.load(path)
    assert q.get_params() == p.get_params()
    assert np.allclose(q.predict(ARCHS[30:40]), p.predict(ARCHS[30:40]))
    est = estimator_from_spec(str(path))
    assert est.name == "renas" and est.score(ARCHS[31]) == pytest.approx(float(p.predict([ARCHS[31]])[0]), abs=1e-5)
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(BPEError, match="corrupt"):
        RankingPredictor.load(tmp_path / "bad.pt")



def test_get_params_are_the_constructor_parameters():
    """get_params reads the __init__ signature: every parameter, each round-tripping through the constructor."""
    import inspect

    names = [n for n in inspect.signature(RankingPredictor.__init__).parameters if n != "self"]
    p = RankingPredictor("mse", epochs=7, batch_size=16, hidden=8, seed=5, channels=8, image_size=16)
    params = p.get_params()
    assert list(params) == names
    assert params["loss"] == "mse" and params["epochs"] == 7 and params["image_size"] == 16
    assert RankingPredictor(**params).get_params() == params
def test_errors():
    with pytest.raises(NotFittedError):
        RankingPredictor().predict(ARCHS[:2])
    with pytest.raises(NotFittedError):
        RankingPredictor().score(ARCHS[:2], [1, 2])
    with pytest.raises(BPEError, match="at least 2"):
        RankingPredictor().fit(ARCHS[:1], [1.0])
    with pytest.raises(BPEError, match="all targets are equal"):
        RankingPredictor().fit(ARCHS[:5], [3.0] * 5)
    with pytest.raises(BPEError, match="needs a predictor file"):
        create_estimator("renas").score(ARCHS[0])


def test_predictor_cli_contract(tmp_path, capsys):
    table = tmp_path / "t.csv"
    pd.DataFrame({"arch_str": ARCHS, "acc": Y}).to_csv(table, index=False)
    out = tmp_path / "r.json"
    assert main(["predictor", "evaluate", "--space", "nb201", "--truth", str(table), "--metric", "acc",
                 "--train-size", "40", "--seed", "0", "--epochs", "60", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_test"] == 80 and result["kendall"] > 0.3 and -1 <= result["spearman"] <= 1
    model = tmp_path / "m.pt"
    assert main(["predictor", "fit", "--truth", str(table), "--metric", "acc", "--train-size", "40",
                 "--epochs", "30", "--out", str(model)]) == 0
    assert RankingPredictor.load(model).n_train_ == 40
    assert main(["predictor", "evaluate", "--truth", str(table), "--metric", "acc", "--train-size", "1",
                 "--out", str(out)]) == 2
    assert "--train-size must be" in capsys.readouterr().err


def test_early_stopping_only_with_a_large_enough_held_out_part():
    big = RankingPredictor("pairwise", seed=0, epochs=30, patience=5, valid_fraction=0.2, min_valid=10)
    big.fit(ARCHS[:60], Y[:60])  # 12 held out >= 10: the number of epochs is chosen on them
    assert big.selection_history_ and "valid_kendall" in big.selection_history_[0]
    assert len(big.history_) == _best_epoch([r["valid_kendall"] for r in big.selection_history_], big.smooth)
    small = RankingPredictor("pairwise", seed=0, epochs=7, valid_fraction=0.2, min_valid=10).fit(ARCHS[:40], Y[:40])
    assert small.selection_history_ == [] and len(small.history_) == 7  # 8 held out < 10: fixed epochs


def test_best_epoch_smooths_a_noisy_curve():
    curve = [0.1, 0.2, 0.9, 0.2, 0.5, 0.6, 0.6, 0.6, 0.5]
    assert _best_epoch(curve, 1) == 3  # the single spike
    assert _best_epoch(curve, 3) in (6, 7)  # the plateau


def test_extra_inputs_are_used_and_required():
    """An extra input that carries the target lets a tiny budget rank well; predict needs it."""
    n = 40
    informative = np.asarray(Y[:n]) + np.random.default_rng(0).normal(0, 0.01, n)
    plain = RankingPredictor("pairwise", seed=0, epochs=30, valid_fraction=0.0).fit(ARCHS[:12], Y[:12])
    helped = RankingPredictor("pairwise", seed=0, epochs=30, valid_fraction=0.0).fit(
        ARCHS[:12], Y[:12], extra=informative[:12])
    assert helped.n_extra_ == 1
    assert helped.score(ARCHS[12:n], Y[12:n], extra=informative[12:n]) > plain.score(ARCHS[12:n], Y[12:n])
    with pytest.raises(BPEError, match="fitted with 1 extra input"):
        helped.predict(ARCHS[12:n])
    missing = informative[12:n].copy()
    missing[0] = np.nan  # a missing score takes the training median instead of breaking the prediction
    assert np.isfinite(helped.predict(ARCHS[12:n], missing)).all()


def test_extra_inputs_survive_save_load_and_the_estimator_refuses_them(tmp_path):
    from bpe.errors import EstimatorError
    from bpe.estimators.renas import RenasEstimator

    p = RankingPredictor("pairwise", seed=0, epochs=5, valid_fraction=0.0).fit(ARCHS[:20], Y[:20], extra=Y[:20])
    path = p.save(tmp_path / "x.pt")
    q = RankingPredictor.load(path)
    np.testing.assert_allclose(q.predict(ARCHS[20:30], Y[20:30]), p.predict(ARCHS[20:30], Y[20:30]), rtol=1e-6)
    with pytest.raises(EstimatorError, match="extra input"):
        RenasEstimator(path).evaluate(ARCHS[0])
