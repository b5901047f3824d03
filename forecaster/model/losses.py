"""Training losses of the LSTM: each returns its value and its gradient with respect to the network's output.

A loss is called as `loss(prediction, target) -> (value, d_prediction)` with prediction and target of shape (N, O);
each forward formula sits beside its derivative.

- `MeanSquaredError`: the mean over all N·O elements of (prediction - target)².
- `GaussianNLL` and `StudentTNLL(nu)`: the negative log-likelihood of a location-scale distribution of the next
  return, for a network with two outputs, prediction = (m, s), and targets (y, b):

      y  the next return in scaled units (r - y_mean) / y_scale
      b  the log of the baseline volatility known at forecast time, in the same units: log(σ_base / y_scale)
      m  the forecast mean, in those units
      s  the network's correction to the baseline's log scale: log τ = b + s, so s = 0 *is* the baseline

  With e = (y - m) / τ the standardised error and ρ the negative log-density of the standard distribution,
  loss = mean over the batch of log τ + ρ(e). With ψ = ρ':

      ∂loss/∂m = -ψ(e) / τ / N        ∂loss/∂s = (1 - e ψ(e)) / N

  Gaussian: ρ(e) = e²/2, ψ(e) = e. Student-t with ν degrees of freedom (τ its scale, not its standard deviation):
  ρ(e) = (ν+1)/2 log(1 + e²/ν), ψ(e) = (ν+1) e / (ν + e²). Constants of the densities are left out.
"""

from __future__ import annotations

import numpy as np


class MeanSquaredError:
    name = "mse"

    def __call__(self, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        residual = prediction - target
        return float(np.vdot(residual, residual)) / residual.size, residual * (2.0 / residual.size)


class _LocationScaleNLL:
    """NLL of prediction (N, 2) = (m, s) for target (N, 2) = (y, b); subclasses give ρ and ψ."""

    def __call__(self, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        m, s = prediction[:, 0], prediction[:, 1]
        y, b = target[:, 0], target[:, 1]
        log_scale = b + s
        inverse_scale = np.exp(-log_scale)
        e = (y - m) * inverse_scale
        n = len(prediction)
        value = float(np.sum(log_scale + self.rho(e))) / n
        psi = self.psi(e)
        gradient = np.empty_like(prediction)
        gradient[:, 0] = -psi * inverse_scale / n
        gradient[:, 1] = (1.0 - e * psi) / n
        return value, gradient

    def rho(self, e: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def psi(self, e: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class GaussianNLL(_LocationScaleNLL):
    name = "gaussian"

    def rho(self, e):
        return 0.5 * e * e

    def psi(self, e):
        return e


class StudentTNLL(_LocationScaleNLL):
    name = "student-t"

    def __init__(self, nu: float):
        if not nu > 2:
            raise ValueError(f"degrees of freedom must exceed 2 (finite variance), got {nu}")
        self.nu = float(nu)

    def rho(self, e):
        return 0.5 * (self.nu + 1.0) * np.log1p(e * e / self.nu)

    def psi(self, e):
        return (self.nu + 1.0) * e / (self.nu + e * e)


def distribution_loss(nu: float | None):
    """The NLL for `nu` degrees of freedom (None: Gaussian)."""
    return GaussianNLL() if nu is None else StudentTNLL(nu)
