"""Optimisation pieces for the NumPy LSTM: Adam, global-norm gradient clipping, early stopping.

Parameters and gradients are name-keyed dicts of arrays; every update is in place.
"""

from __future__ import annotations

import math

import numpy as np


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float | None) -> float:
    """Scale all gradients in place so that their global L2 norm is at most `max_norm`; return the norm before.

    Same rule as torch.nn.utils.clip_grad_norm_: g <- g * max_norm / (norm + 1e-6) when norm > max_norm.
    """
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if max_norm is not None and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction, state kept per parameter name.

    m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  p <- p - lr * m_hat / (sqrt(v_hat) + eps)
    with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t), exactly as torch.optim.Adam.
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.m = {name: np.zeros_like(p) for name, p in params.items()}
        self.v = {name: np.zeros_like(p) for name, p in params.items()}
        self._scratch = {name: np.empty_like(p) for name, p in params.items()}
        self.steps = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.steps += 1
        correction1 = 1 - self.beta1**self.steps
        correction2 = 1 - self.beta2**self.steps
        step_size = self.lr / correction1
        root_correction2 = math.sqrt(correction2)
        for name, p in params.items():
            g, m, v, scratch = grads[name], self.m[name], self.v[name], self._scratch[name]
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            np.multiply(g, g, out=scratch)
            scratch *= 1 - self.beta2
            v += scratch
            np.sqrt(v, out=scratch)
            scratch /= root_correction2
            scratch += self.eps
            np.divide(m, scratch, out=scratch)
            scratch *= step_size
            p -= scratch


class EarlyStopping:
    """Tracks the best validation loss; `should_stop` after `patience` epochs without improvement."""

    def __init__(self, patience: int | None):
        self.patience = patience
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_state: dict[str, np.ndarray] | None = None
        self._epochs_without_improvement = 0

    def update(self, epoch: int, loss: float, params: dict[str, np.ndarray]) -> None:
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, epoch
            self.best_state = {name: p.copy() for name, p in params.items()}
            self._epochs_without_improvement = 0
        else:
            self._epochs_without_improvement += 1

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self._epochs_without_improvement >= self.patience
