"""The distribution losses: exact gradients (float64 central differences), alone and through the whole network."""

import numpy as np
import pytest
from scipy import stats

from forecaster.model.losses import GaussianNLL, MeanSquaredError, StudentTNLL, distribution_loss
from forecaster.model.lstm import LSTMRegressor
from gradcheck import parameter_gradient_errors

LOSSES = [MeanSquaredError(), GaussianNLL(), StudentTNLL(4.0), StudentTNLL(30.0)]


def targets(n=7, seed=1):
    rng = np.random.default_rng(seed)
    return np.column_stack([2.5 * rng.standard_t(4, n), rng.normal(0.0, 0.5, n)])


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: f"{loss.name}-{getattr(loss, 'nu', '')}")
def test_loss_gradient_matches_central_differences(loss):
    rng = np.random.default_rng(0)
    prediction, target = rng.normal(0.0, 0.7, (7, 2)), targets()
    _, gradient = loss(prediction, target)
    eps = 1e-6
    numeric = np.zeros_like(prediction)
    for index in np.ndindex(prediction.shape):
        for sign in (1, -1):
            shifted = prediction.copy()
            shifted[index] += sign * eps
            numeric[index] += sign * loss(shifted, target)[0] / (2 * eps)
    assert np.abs(gradient - numeric).max() / np.abs(numeric).max() < 1e-7


@pytest.mark.parametrize("loss", LOSSES[1:], ids=lambda loss: f"{loss.name}-{getattr(loss, 'nu', '')}")
def test_network_gradients_with_the_nll_match_central_differences(loss):
    model = LSTMRegressor(3, 5, 2, 2, dtype=np.float64, seed=3)
    X = np.random.default_rng(0).standard_normal((5, 6, 3))
    errors = parameter_gradient_errors(model, X, targets(5), loss=loss)
    assert max(errors.values()) < 1e-6, errors


def test_the_nll_is_the_distributions_negative_log_density_up_to_a_constant():
    rng = np.random.default_rng(5)
    target = targets(50)
    for loss, family in ((GaussianNLL(), lambda m, scale: stats.norm(m, scale)),
                         (StudentTNLL(5.0), lambda m, scale: stats.t(5.0, m, scale))):
        differences = []
        for _ in range(3):
            prediction = rng.normal(0, 0.3, (50, 2))
            scale = np.exp(target[:, 1] + prediction[:, 1])
            exact = -family(prediction[:, 0], scale).logpdf(target[:, 0]).mean()
            differences.append(exact - loss(prediction, target)[0])
        assert np.ptp(differences) < 1e-10  # the same constant whatever the prediction


def test_a_zero_scale_correction_is_the_baseline_and_at_the_right_scale_its_gradient_vanishes():
    target = np.array([[2.0, np.log(2.0)], [-2.0, np.log(2.0)]])  # both one baseline scale (2) from the mean
    value, gradient = GaussianNLL()(np.zeros((2, 2)), target)
    assert value == pytest.approx(np.log(2.0) + 0.5)  # log τ + e²/2 with τ = exp(b) = 2 and e = ±1
    assert gradient[:, 1] == pytest.approx([0.0, 0.0])  # 1 - e ψ(e) = 1 - e² = 0
    assert gradient[:, 0] == pytest.approx([-0.25, 0.25])  # -ψ(e) / τ / N


def test_degrees_of_freedom_must_give_a_finite_variance():
    with pytest.raises(ValueError, match="must exceed 2"):
        StudentTNLL(2.0)
    assert isinstance(distribution_loss(None), GaussianNLL) and distribution_loss(6.0).nu == 6.0
