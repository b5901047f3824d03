"""The NumPy LSTM: exact gradients, step-by-step equals batched, PyTorch-layout state dicts, it learns, determinism."""

import numpy as np
import pytest

from forecaster.model.lstm import LSTMRegressor, StateDictError
from forecaster.model.optim import Adam, clip_grad_norm
from gradcheck import parameter_gradient_errors


def small_model(**kwargs):
    options = dict(input_size=3, hidden_size=5, num_layers=2, output_size=2, dtype=np.float64, seed=3)
    options.update(kwargs)
    return LSTMRegressor(**options)


def random_batch(n=4, t=6, d=3, o=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, t, d)), rng.standard_normal((n, o))


def test_gradients_match_central_differences_for_every_parameter():
    X, y = random_batch()
    errors = parameter_gradient_errors(small_model(), X, y)
    assert max(errors.values()) < 1e-6, errors


def test_gradient_with_respect_to_the_input_matches_central_differences():
    model = small_model()
    X, y = random_batch()
    _, analytic = model.loss_and_input_grad(X, y)
    numeric = np.zeros_like(X)
    eps = 1e-6
    for index in np.ndindex(X.shape):
        for sign in (1, -1):
            shifted = X.copy()
            shifted[index] += sign * eps
            numeric[index] += sign * model.loss_and_grads(shifted, y)[0] / (2 * eps)
    assert np.abs(analytic - numeric).max() / np.abs(numeric).max() < 1e-6


def test_bias_gradients_are_shared_between_input_and_hidden_biases():
    _, grads = small_model().loss_and_grads(*random_batch())
    np.testing.assert_array_equal(grads["lstm.bias_ih_l1"], grads["lstm.bias_hh_l1"])


def test_step_by_step_equals_batched_forward():
    model = small_model()
    X, _ = random_batch(t=9)
    state = None
    for t in range(X.shape[1]):
        y_step, state = model.step(X[:, t], state)
    np.testing.assert_allclose(y_step, model.forward(X), rtol=1e-12, atol=1e-12)


def test_the_output_uses_tanh_of_the_cell_state():
    """A from-scratch bug sets h = o * c; with large cell values the two differ clearly."""
    model = LSTMRegressor(1, 1, dtype=np.float64)
    state = model.state_dict()
    state["lstm.weight_ih_l0"][:] = 0
    state["lstm.weight_hh_l0"][:] = 0
    state["lstm.bias_ih_l0"][:] = [10, 10, 3, 10]  # i, f, o ~ 1; g = tanh(3)
    state["lstm.bias_hh_l0"][:] = 0
    state["head.weight"][:] = 1
    state["head.bias"][:] = 0
    model.load_state_dict(state)
    X = np.zeros((1, 5, 1))
    sig10 = 1 / (1 + np.exp(-10))
    c = 0.0
    for _ in range(5):
        c = sig10 * c + sig10 * np.tanh(3)
    np.testing.assert_allclose(model.forward(X), [[sig10 * np.tanh(c)]], rtol=1e-12)


def test_state_dict_uses_pytorch_names_shapes_and_gate_order():
    model = LSTMRegressor(input_size=2, hidden_size=4, num_layers=2, output_size=3)
    shapes = {key: value.shape for key, value in model.state_dict().items()}
    assert shapes == {
        "lstm.weight_ih_l0": (16, 2), "lstm.weight_hh_l0": (16, 4), "lstm.bias_ih_l0": (16,),
        "lstm.bias_hh_l0": (16,), "lstm.weight_ih_l1": (16, 4), "lstm.weight_hh_l1": (16, 4),
        "lstm.bias_ih_l1": (16,), "lstm.bias_hh_l1": (16,), "head.weight": (3, 4), "head.bias": (3,),
    }
    # A huge cell-candidate bias (PyTorch's third block) must act on g, not on o.
    one = LSTMRegressor(1, 1, dtype=np.float64)
    state = {k: np.zeros_like(v) for k, v in one.state_dict().items()}
    state["lstm.bias_ih_l0"][:] = [20, -20, 20, 20]  # i = 1, f = 0, g = tanh(20) = 1, o = 1
    state["head.weight"][:] = 1
    one.load_state_dict(state)
    np.testing.assert_allclose(one.forward(np.zeros((1, 3, 1))), [[np.tanh(1.0)]], rtol=1e-7)
    state["lstm.bias_ih_l0"][:] = [20, -20, -20, 20]  # g = -1 now
    one.load_state_dict(state)
    np.testing.assert_allclose(one.forward(np.zeros((1, 3, 1))), [[np.tanh(-1.0)]], rtol=1e-7)


def test_state_dict_round_trip_gives_identical_outputs():
    source = small_model(seed=1)
    target = small_model(seed=2)
    X, _ = random_batch()
    assert not np.array_equal(source.forward(X), target.forward(X))
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(source.forward(X), target.forward(X))


def test_wrong_state_dicts_are_refused_clearly():
    model = small_model()
    state = model.state_dict()
    with pytest.raises(StateDictError, match=r"missing keys \['head.bias'\]"):
        model.load_state_dict({k: v for k, v in state.items() if k != "head.bias"})
    with pytest.raises(StateDictError, match=r"unexpected keys \['lstm.weight_ih_l2'\]"):
        model.load_state_dict({**state, "lstm.weight_ih_l2": np.zeros((20, 5))})
    with pytest.raises(StateDictError, match=r"lstm.weight_hh_l0 has shape \(20, 4\), expected \(20, 5\)"):
        model.load_state_dict({**state, "lstm.weight_hh_l0": np.zeros((20, 4))})
    with pytest.raises(StateDictError, match="head.bias holds non-finite"):
        model.load_state_dict({**state, "head.bias": np.array([np.nan, 0])})


def test_initialisation_is_pytorch_like_and_seeded_without_global_rng():
    np.random.seed(0)
    a = LSTMRegressor(1, 64, seed=7).state_dict()
    np.random.seed(1)
    b = LSTMRegressor(1, 64, seed=7).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        assert np.abs(a[key]).max() <= 1 / 8
    gates = a["lstm.weight_hh_l0"].reshape(4, 64, 64)
    assert not np.array_equal(gates[0], gates[1])  # each gate has its own draw


def ar1_windows(n=600, window=12, seed=0):
    rng = np.random.default_rng(seed)
    series = np.zeros(n + window)
    for t in range(1, len(series)):
        series[t] = 0.8 * series[t - 1] + 0.3 * rng.standard_normal()
    X = np.stack([series[i: i + window] for i in range(n)])[:, :, None]
    y = series[window: window + n]
    return X, y


def test_it_learns_an_ar1_series_well_below_the_target_variance():
    X, y = ar1_windows()
    model = LSTMRegressor(1, 16, seed=0)
    model.fit(X[:500], y[:500], epochs=25, batch_size=32, lr=1e-2)
    test_loss = model.loss(X[500:], y[500:])
    # Optimal one-step MSE is the noise variance 0.09; the target variance is 0.09 / (1 - 0.64) = 0.25.
    assert test_loss < 0.5 * y[500:].var()
    assert model.history_[-1][1] < model.history_[0][1]


def test_training_is_bit_identical_for_the_same_seed():
    X, y = ar1_windows(n=200)
    first = LSTMRegressor(1, 8, seed=5).fit(X, y, epochs=3, batch_size=16)
    second = LSTMRegressor(1, 8, seed=5).fit(X, y, epochs=3, batch_size=16)
    for key, value in first.state_dict().items():
        np.testing.assert_array_equal(value, second.state_dict()[key])
    third = LSTMRegressor(1, 8, seed=6).fit(X, y, epochs=3, batch_size=16)
    assert not np.array_equal(first.state_dict()["head.weight"], third.state_dict()["head.weight"])


def test_early_stopping_restores_the_best_epoch_and_reports_progress():
    X, y = ar1_windows(n=300)
    seen = []
    model = LSTMRegressor(1, 8, seed=0)
    model.fit(X[:200], y[:200], epochs=60, lr=0.05, X_val=X[200:], y_val=y[200:], patience=3,
              callback=lambda epoch, train, val: seen.append((epoch, train, val)))
    assert seen == model.history_
    best_val = min(val for _, _, val in seen)
    assert model.loss(X[200:], y[200:]) == pytest.approx(best_val, rel=1e-6)
    assert model.best_epoch_ == min(seen, key=lambda row: row[2])[0]
    assert len(seen) - model.best_epoch_ == 3 or len(seen) == 60


def test_clip_grad_norm_scales_to_the_limit_and_reports_the_norm():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    assert np.hypot(grads["a"][0], grads["b"][0]) == pytest.approx(1.0, rel=1e-5)
    untouched = {"a": np.array([0.3])}
    clip_grad_norm(untouched, 1.0)
    assert untouched["a"][0] == 0.3


def test_adam_first_step_moves_each_weight_by_lr_against_its_gradient_sign():
    params = {"w": np.array([1.0, -1.0, 0.5])}
    Adam(params, lr=0.1).step(params, {"w": np.array([2.0, -0.01, 0.0])})
    np.testing.assert_allclose(params["w"], [0.9, -0.9, 0.5], atol=1e-6)


@pytest.mark.parametrize("bad", [dict(hidden_size=0), dict(num_layers=0), dict(output_size=-1),
                                 dict(dtype=np.int32)])
def test_bad_hyperparameters_are_refused(bad):
    with pytest.raises(ValueError):
        small_model(**bad)
