"""Central-difference gradient checks of the LSTM's parameters, for any loss (tests/test_lstm.py, test_losses.py)."""

from __future__ import annotations

import numpy as np


def parameter_gradient_errors(model, X, y, loss=None, eps: float = 1e-6) -> dict[str, float]:
    """For every parameter of `model` (a float64 LSTMRegressor), the largest difference between its analytic
    gradient and the central difference (L(p + eps) - L(p - eps)) / 2 eps, relative to the larger of the two."""
    _, grads = model.loss_and_grads(X, y, loss=loss)
    state = model.state_dict()
    errors = {}
    for key, value in state.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            for sign in (1, -1):
                shifted = {k: v.copy() for k, v in state.items()}
                shifted[key][index] += sign * eps
                model.load_state_dict(shifted)
                numeric[index] += sign * model.loss_and_grads(X, y, loss=loss)[0] / (2 * eps)
        model.load_state_dict(state)
        scale = max(np.abs(grads[key]).max(), np.abs(numeric).max(), 1e-12)
        errors[key] = float(np.abs(grads[key] - numeric).max() / scale)
    return errors
