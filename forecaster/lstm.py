"""An LSTM regressor in NumPy: stacked LSTM layers, then one linear layer on the last hidden state.

For each layer and step t, with input x_t (N, D), previous hidden state h (N, H) and cell state c (N, H)::

    i = σ(W_ii x_t + b_ii + W_hi h + b_hi)        input gate
    f = σ(W_if x_t + b_if + W_hf h + b_hf)        forget gate: how much of the old cell state to keep
    g = tanh(W_ig x_t + b_ig + W_hg h + b_hg)     candidate new memory
    o = σ(W_io x_t + b_io + W_ho h + b_ho)        output gate
    c = f ⊙ c + i ⊙ g
    h = o ⊙ tanh(c)

The hidden sequence of layer k is the input sequence of layer k+1; the forecast is y = h_T W_head^T + b_head (N, O).

Parameters are exchanged in PyTorch's `nn.LSTM` + `nn.Linear` layout (see `state_dict`). Internally each layer keeps
fused, transposed matrices with the gates in the order (i, f, o, g), so that the three sigmoid gates are one
contiguous block, and runs time-major (T, N, ·) so that each step's slice is contiguous:

    wx{k} (D_k, 4H)   wh{k} (H, 4H)   bx{k}, bh{k} (4H,)   head_w (H, O)   head_b (O,)

Speed: the input projection of all T steps is one GEMM; per step there is one (N, H) x (H, 4H) GEMM and a handful of
in-place element-wise operations on preallocated buffers. Sigmoid is computed through tanh, σ(z) = (1 + tanh(z/2))/2,
by halving the sigmoid gates' weights in the forward pass, so one `np.tanh` call activates all four gates.

Initialisation follows PyTorch (every weight and bias uniform in ±1/√H, the head likewise), including its forget-gate
bias of zero: a forget bias of 1 helps long sequences remember, but with 30-step windows we prefer weights that
match PyTorch's exactly in distribution, so results are comparable with a torch model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from forecaster.optim import Adam, EarlyStopping, clip_grad_norm

TORCH_GATE_ORDER = "ifgo"
_TO_INTERNAL = np.array([0, 1, 3, 2])  # internal block j holds PyTorch block _TO_INTERNAL[j]; it is its own inverse


class StateDictError(ValueError):
    """A state dict whose keys or shapes do not fit the model."""


@dataclass
class _LayerCache:
    """What one layer's forward pass keeps for its backward pass (time-major)."""

    x: np.ndarray  # (T, N, D) layer input
    gates: np.ndarray  # (T, N, 4H) activated gates (i, f, o, g)
    h: np.ndarray  # (T+1, N, H) hidden states; h[0] is the initial (zero) state
    c: np.ndarray  # (T+1, N, H) cell states; c[0] is the initial (zero) state
    tanh_c: np.ndarray  # (T, N, H) tanh of c[1:]


class LSTMRegressor:
    """LSTM layers + a linear head, trained with MSE by backpropagation through time and Adam.

    Parameters
    ----------
    input_size : features per time step, D >= 1
    hidden_size : units per LSTM layer, H >= 1
    num_layers : stacked LSTM layers, >= 1
    output_size : outputs of the linear head, O >= 1
    dtype : np.float32 (default, fast) or np.float64 (gradient checks)
    seed : seeds the initial weights and the mini-batch order; same seed and data give bit-identical results
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, output_size: int = 1,
                 dtype=np.float32, seed: int = 0):
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers),
                            ("output_size", output_size)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.output_size = int(num_layers), int(output_size)
        self.seed = int(seed)
        self.params: dict[str, np.ndarray] = {}
        self.history_: list[tuple[int, float, float | None]] = []
        self.best_epoch_: int | None = None
        rng = np.random.default_rng(self.seed)
        bound = 1.0 / np.sqrt(self.hidden_size)
        self.load_state_dict({key: rng.uniform(-bound, bound, shape) for key, shape in self._torch_shapes().items()})

    # ------------------------------------------------------------------------------------------- parameters
    def _torch_shapes(self) -> dict[str, tuple[int, ...]]:
        H, shapes = self.hidden_size, {}
        for k in range(self.num_layers):
            d_in = self.input_size if k == 0 else H
            shapes[f"lstm.weight_ih_l{k}"] = (4 * H, d_in)
            shapes[f"lstm.weight_hh_l{k}"] = (4 * H, H)
            shapes[f"lstm.bias_ih_l{k}"] = (4 * H,)
            shapes[f"lstm.bias_hh_l{k}"] = (4 * H,)
        shapes["head.weight"] = (self.output_size, H)
        shapes["head.bias"] = (self.output_size,)
        return shapes

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters under PyTorch's names and shapes (`nn.LSTM(batch_first=True)` as `lstm`, `nn.Linear` as
        `head`), gate row blocks in PyTorch's order (input, forget, cell candidate, output). Copies."""
        return self._to_torch(self.params)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Load PyTorch-layout parameters (see `state_dict`); refuses missing or unexpected keys and wrong shapes."""
        shapes = self._torch_shapes()
        missing = sorted(set(shapes) - set(state))
        unexpected = sorted(set(state) - set(shapes))
        if missing or unexpected:
            parts = ([f"missing keys {missing}"] if missing else []) + (
                [f"unexpected keys {unexpected}"] if unexpected else [])
            raise StateDictError("state dict does not fit the model: " + "; ".join(parts))
        arrays = {}
        for key, shape in shapes.items():
            array = np.asarray(state[key])
            if array.shape != shape:
                raise StateDictError(f"{key} has shape {array.shape}, expected {shape}")
            if not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)):
                raise StateDictError(f"{key} holds non-finite or non-numeric values")
            arrays[key] = array
        H = self.hidden_size
        params = {}
        for k in range(self.num_layers):
            params[f"wx{k}"] = _rows_to_internal(arrays[f"lstm.weight_ih_l{k}"], H).T
            params[f"wh{k}"] = _rows_to_internal(arrays[f"lstm.weight_hh_l{k}"], H).T
            params[f"bx{k}"] = _rows_to_internal(arrays[f"lstm.bias_ih_l{k}"], H)
            params[f"bh{k}"] = _rows_to_internal(arrays[f"lstm.bias_hh_l{k}"], H)
        params["head_w"] = arrays["head.weight"].T
        params["head_b"] = arrays["head.bias"]
        self.params = {name: np.ascontiguousarray(p, dtype=self.dtype) for name, p in params.items()}

    def _to_torch(self, internal: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        H, out = self.hidden_size, {}
        for k in range(self.num_layers):
            out[f"lstm.weight_ih_l{k}"] = np.ascontiguousarray(_rows_to_internal(internal[f"wx{k}"].T, H))
            out[f"lstm.weight_hh_l{k}"] = np.ascontiguousarray(_rows_to_internal(internal[f"wh{k}"].T, H))
            out[f"lstm.bias_ih_l{k}"] = _rows_to_internal(internal[f"bx{k}"], H).copy()
            out[f"lstm.bias_hh_l{k}"] = _rows_to_internal(internal[f"bh{k}"], H).copy()
        out["head.weight"] = np.ascontiguousarray(internal["head_w"].T)
        out["head.bias"] = internal["head_b"].copy()
        return out

    # ---------------------------------------------------------------------------------------------- forward
    def forward(self, X: np.ndarray) -> np.ndarray:
        """Forecasts for a batch of windows: X (N, T, D) -> (N, O)."""
        return self._forward(self._check_inputs(X), keep=False)[0]

    predict = forward

    def _check_inputs(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[2] != self.input_size or X.shape[1] < 1:
            raise ValueError(f"X must have shape (N, T, {self.input_size}), got {X.shape}")
        return X

    def _forward(self, X: np.ndarray, keep: bool):
        """X (N, T, D) -> (y (N, O), layer caches or None)."""
        sequence = np.ascontiguousarray(X.transpose(1, 0, 2), dtype=self.dtype)  # (T, N, D)
        caches = []
        for k in range(self.num_layers):
            cache = self._layer_forward(k, sequence)
            caches.append(cache)
            sequence = cache.h[1:]
        last_hidden = caches[-1].h[-1]  # (N, H)
        y = last_hidden @ self.params["head_w"]
        y += self.params["head_b"]
        return y, (caches if keep else None)

    def _layer_forward(self, k: int, x: np.ndarray) -> _LayerCache:
        """One LSTM layer over a whole sequence: x (T, N, D) -> cache with h (T+1, N, H)."""
        T, N, D = x.shape
        H = self.hidden_size
        half = self._sigmoid_prescale()
        wx = self.params[f"wx{k}"] * half  # (D, 4H), sigmoid columns halved
        wh = self.params[f"wh{k}"] * half  # (H, 4H)
        bias = (self.params[f"bx{k}"] + self.params[f"bh{k}"]) * half  # (4H,)
        gates = np.matmul(x.reshape(T * N, D), wx).reshape(T, N, 4 * H)  # pre-activations of all steps
        gates += bias
        h = np.empty((T + 1, N, H), dtype=self.dtype)
        c = np.empty((T + 1, N, H), dtype=self.dtype)
        h[0] = 0
        c[0] = 0
        tanh_c = np.empty((T, N, H), dtype=self.dtype)
        recurrent = np.empty((N, 4 * H), dtype=self.dtype)
        input_times_candidate = np.empty((N, H), dtype=self.dtype)
        for t in range(T):
            a = gates[t]
            if t:
                np.matmul(h[t], wh, out=recurrent)
                a += recurrent
            np.tanh(a, out=a)  # sigmoid gates now hold tanh(z/2), the candidate tanh(z)
            sig = a[:, : 3 * H]
            sig *= 0.5
            sig += 0.5  # σ(z) = (1 + tanh(z/2)) / 2
            i, f, o, g = a[:, :H], a[:, H: 2 * H], a[:, 2 * H: 3 * H], a[:, 3 * H:]
            np.multiply(f, c[t], out=c[t + 1])
            np.multiply(i, g, out=input_times_candidate)
            c[t + 1] += input_times_candidate
            np.tanh(c[t + 1], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=h[t + 1])
        return _LayerCache(x, gates, h, c, tanh_c)

    def _sigmoid_prescale(self) -> np.ndarray:
        H = self.hidden_size
        scale = np.ones(4 * H, dtype=self.dtype)
        scale[: 3 * H] = 0.5
        return scale

    def step(self, x_t: np.ndarray, state: list[tuple[np.ndarray, np.ndarray]] | None = None):
        """Advance every layer by one time step, written as the textbook equations on the PyTorch-layout weights.

        x_t (N, D); state: per layer (h, c), each (N, H), or None for zeros. Returns (y (N, O), new state), where y
        is the head applied to the top layer's new h. Running a window step by step equals `forward`.
        """
        weights = self.state_dict()
        H, x = self.hidden_size, np.asarray(x_t, dtype=self.dtype)
        if state is None:
            zeros = np.zeros((x.shape[0], H), dtype=self.dtype)
            state = [(zeros, zeros)] * self.num_layers
        new_state = []
        for k, (h, c) in enumerate(state):
            z = (x @ weights[f"lstm.weight_ih_l{k}"].T + weights[f"lstm.bias_ih_l{k}"]
                 + h @ weights[f"lstm.weight_hh_l{k}"].T + weights[f"lstm.bias_hh_l{k}"])
            i, f, g, o = (z[:, j * H: (j + 1) * H] for j in range(4))
            i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
            c = f * c + i * g
            h = o * np.tanh(c)
            new_state.append((h, c))
            x = h
        y = x @ weights["head.weight"].T + weights["head.bias"]
        return y, new_state

    # --------------------------------------------------------------------------------------------- backward
    def loss_and_grads(self, X: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean squared error over all elements of y (N, O) and its gradients, keyed and shaped like `state_dict`."""
        loss, grads = self._loss_and_internal_grads(self._check_inputs(X), self._check_targets(y, len(X)))
        return loss, self._to_torch(grads)

    def loss_and_input_grad(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """MSE and its gradient with respect to the inputs X (N, T, D)."""
        X = self._check_inputs(X)
        loss, _, dX = self._loss_and_internal_grads(X, self._check_targets(y, len(X)), input_grad=True)
        return loss, dX

    def loss(self, X: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> float:
        """MSE of the forecasts on (X, y), computed in batches."""
        X, y = self._check_inputs(X), self._check_targets(y, len(X))
        total = 0.0
        for start in range(0, len(X), batch_size):
            residual = self._forward(X[start: start + batch_size], keep=False)[0] - y[start: start + batch_size]
            total += float(np.vdot(residual, residual))
        return total / y.size

    def _check_targets(self, y: np.ndarray, n: int) -> np.ndarray:
        y = np.asarray(y, dtype=self.dtype)
        if y.ndim == 1 and self.output_size == 1:
            y = y[:, None]
        if y.shape != (n, self.output_size):
            raise ValueError(f"y must have shape ({n}, {self.output_size}), got {y.shape}")
        return y

    def _loss_and_internal_grads(self, X, y, input_grad: bool = False):
        prediction, caches = self._forward(X, keep=True)
        residual = prediction - y  # (N, O)
        loss = float(np.vdot(residual, residual)) / residual.size
        d_prediction = residual * (2.0 / residual.size)  # dL/dy
        last_hidden = caches[-1].h[-1]
        grads = {"head_w": last_hidden.T @ d_prediction, "head_b": d_prediction.sum(axis=0)}
        d_hidden_last = d_prediction @ self.params["head_w"].T  # (N, H) gradient into h_T of the top layer
        d_sequence = None  # (T, N, H) gradient into every h of the layer above's input
        for k in reversed(range(self.num_layers)):
            need_dx = k > 0 or input_grad
            d_sequence = self._layer_backward(k, caches[k], d_sequence, d_hidden_last, grads, need_dx)
            d_hidden_last = None
        if input_grad:
            return loss, grads, d_sequence.transpose(1, 0, 2)
        return loss, grads

    def _layer_backward(self, k, cache: _LayerCache, d_h_seq, d_h_last, grads, need_dx):
        """BPTT through layer k. d_h_seq (T, N, H): dL/dh_t from the layer above (None for the top layer, whose
        only gradient is d_h_last (N, H) at the last step). Fills grads[...k]; returns dL/dx (T, N, D) or None."""
        x, gates, h, c, tanh_c = cache.x, cache.gates, cache.h, cache.c, cache.tanh_c
        T, N, D = x.shape
        H = self.hidden_size
        wh = self.params[f"wh{k}"]
        d_pre = np.empty((T, N, 4 * H), dtype=self.dtype)  # dL/d(pre-activation) of (i, f, o, g)
        d_h = d_h_last.copy() if d_h_last is not None else np.zeros((N, H), dtype=self.dtype)
        d_c = np.zeros((N, H), dtype=self.dtype)
        scratch = np.empty((N, H), dtype=self.dtype)
        sig_deriv = np.empty((N, 3 * H), dtype=self.dtype)
        for t in reversed(range(T)):
            if d_h_seq is not None:
                d_h += d_h_seq[t]
            a, dz = gates[t], d_pre[t]
            i, f, o, g = a[:, :H], a[:, H: 2 * H], a[:, 2 * H: 3 * H], a[:, 3 * H:]
            d_i, d_f, d_o, d_g = dz[:, :H], dz[:, H: 2 * H], dz[:, 2 * H: 3 * H], dz[:, 3 * H:]
            np.multiply(d_h, tanh_c[t], out=d_o)  # h = o tanh(c)
            np.multiply(tanh_c[t], tanh_c[t], out=scratch)
            np.subtract(1, scratch, out=scratch)
            scratch *= o
            scratch *= d_h
            d_c += scratch  # dL/dc_t = carried + dh o (1 - tanh²c)
            np.multiply(d_c, g, out=d_i)  # c = f c_prev + i g
            np.multiply(d_c, c[t], out=d_f)
            np.multiply(d_c, i, out=d_g)
            d_c *= f  # carried to c_{t-1}
            sig = a[:, : 3 * H]
            np.subtract(1, sig, out=sig_deriv)
            sig_deriv *= sig  # σ' = σ(1 - σ)
            dz[:, : 3 * H] *= sig_deriv
            np.multiply(g, g, out=scratch)
            np.subtract(1, scratch, out=scratch)
            d_g *= scratch  # tanh' = 1 - tanh²
            if t:
                np.matmul(dz, wh.T, out=d_h)  # carried to h_{t-1}
        flat = d_pre.reshape(T * N, 4 * H)
        grads[f"wx{k}"] = x.reshape(T * N, D).T @ flat
        grads[f"wh{k}"] = h[:-1].reshape(T * N, H).T @ flat
        grads[f"bx{k}"] = flat.sum(axis=0)
        grads[f"bh{k}"] = grads[f"bx{k}"].copy()
        if not need_dx:
            return None
        return (flat @ self.params[f"wx{k}"].T).reshape(T, N, D)

    # --------------------------------------------------------------------------------------------- training
    def fit(self, X: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int = 64, lr: float = 1e-3,
            clip_norm: float | None = 1.0, X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            patience: int | None = None,
            callback: Callable[[int, float, float | None], None] | None = None) -> LSTMRegressor:
        """Train with Adam on shuffled mini-batches, clipping the global gradient norm at `clip_norm`.

        With a validation set, the validation loss is computed after every epoch; with `patience`, training stops
        after that many epochs without improvement, and the weights of the best epoch are restored.
        `callback(epoch, train_loss, val_loss)` is called after every epoch. Returns self; `history_` holds
        (epoch, train_loss, val_loss) per epoch and `best_epoch_` the epoch whose weights are kept.
        """
        X = self._check_inputs(X).astype(self.dtype, copy=False)
        y = self._check_targets(y, len(X))
        if epochs < 1 or batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")
        has_val = X_val is not None and y_val is not None and len(X_val) > 0
        if patience is not None and not has_val:
            raise ValueError("early stopping (patience) needs a validation set")
        rng = np.random.default_rng([self.seed, 1])
        optimizer = Adam(self.params, lr=lr)
        stopper = EarlyStopping(patience)
        self.history_ = []
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(X))
            total = 0.0
            for start in range(0, len(X), batch_size):
                batch = order[start: start + batch_size]
                loss, grads = self._loss_and_internal_grads(X[batch], y[batch])
                clip_grad_norm(grads, clip_norm)
                optimizer.step(self.params, grads)
                total += loss * len(batch)
            train_loss = total / len(X)
            val_loss = self.loss(X_val, y_val) if has_val else None
            self.history_.append((epoch, train_loss, val_loss))
            if callback is not None:
                callback(epoch, train_loss, val_loss)
            if has_val:
                stopper.update(epoch, val_loss, self.params)
                if stopper.should_stop:
                    break
        if has_val and stopper.best_state is not None:
            self.params = stopper.best_state
            self.best_epoch_ = stopper.best_epoch
        else:
            self.best_epoch_ = len(self.history_)
        return self


def _rows_to_internal(array: np.ndarray, H: int) -> np.ndarray:
    """Permute the four gate row blocks between PyTorch's (i, f, g, o) and the internal (i, f, o, g) order."""
    blocks = array.reshape(4, H, *array.shape[1:])
    return blocks[_TO_INTERNAL].reshape(array.shape)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))
