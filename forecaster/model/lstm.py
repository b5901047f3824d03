"""An LSTM regressor in NumPy: stacked LSTM layers, then one linear layer on the last hidden state.

For each layer and step t, with input x_t (N, D), previous hidden state h (N, H) and cell state c (N, H)::

    i = σ(W_ii x_t + b_ii + W_hi h + b_hi)        input gate
    f = σ(W_if x_t + b_if + W_hf h + b_hf)        forget gate: how much of the old cell state to keep
    g = tanh(W_ig x_t + b_ig + W_hg h + b_hg)     candidate new memory
    o = σ(W_io x_t + b_io + W_ho h + b_ho)        output gate
    c = f ⊙ c + i ⊙ g
    h = o ⊙ tanh(c)

The hidden sequence of layer k is the input sequence of layer k+1; the forecast is y = h_T W_head^T + b_head (N, O).

Parameters are exchanged in PyTorch's `nn.LSTM` + `nn.Linear` layout (see `state_dict`). Internally the four gates'
weights are fused in PyTorch's shapes but in the gate order (o, i, f, g), so that the three sigmoid gates are one
block and the three gates driven by the cell gradient (i, f, g) are another:

    w_ih{k} (4H, D_k)   w_hh{k} (4H, H)   b_ih{k}, b_hh{k} (4H,)   head_w (O, H)   head_b (O,)

and activations are stored time-major and feature-major, with the batch last: x (T, D, N), gates (T, 4H, N),
h and c (T+1, H, N). Each step's gate block is then one contiguous (H, N) array, which is what makes the many small
element-wise operations of a step fast.

Speed: per step there is one GEMM, [W_hh | W_ih | b] (4H, H+D+1) x [h; x_t; 1] (H+D+1, N), that does the input
projection, the recurrence and the bias at once, and a handful of in-place element-wise operations on preallocated
buffers; the backward pass gets all weight gradients from one contraction over steps and batch. Sigmoid is computed
through tanh, σ(z) = (1 + tanh(z/2))/2, by halving the sigmoid gates' weights in the forward pass, so one `np.tanh`
call activates all four gates.

Initialisation follows PyTorch (every weight and bias uniform in ±1/√H, the head likewise), including its forget-gate
bias of zero: a forget bias of 1 helps long sequences remember, but with 30-step windows we prefer weights that
match PyTorch's exactly in distribution, so results are comparable with a torch model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from forecaster.model.losses import MeanSquaredError
from forecaster.model.optim import Adam, EarlyStopping, clip_grad_norm

_TO_INTERNAL = np.array([3, 0, 1, 2])  # internal block j (o, i, f, g) holds PyTorch block _TO_INTERNAL[j] (i, f, g, o)
_TO_TORCH = np.argsort(_TO_INTERNAL)


class StateDictError(ValueError):
    """A state dict whose keys or shapes do not fit the model."""


@dataclass
class _LayerCache:
    """What one layer's forward pass keeps for its backward pass (time-major, batch last)."""

    z: np.ndarray  # (T+1, K, N) stacked [h_{t-1}; x_t; 1] per step, K = H + D + 1
    gates: np.ndarray  # (T, 4H, N) activated gates (o, i, f, g)
    h: np.ndarray  # (T+1, H, N) hidden states (a view of z); h[0] is the initial (zero) state
    c: np.ndarray  # (T+1, H, N) cell states; c[0] is the initial (zero) state
    tanh_c: np.ndarray  # (T, H, N) tanh of c[1:]


class LSTMRegressor:
    """LSTM layers + a linear head, trained by backpropagation through time and Adam (on MSE, or another loss of
    forecaster.model.losses such as a distribution's negative log-likelihood).

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
        # All parameters live in one flat buffer (and their gradients in another), so that Adam and gradient
        # clipping are a few operations on one array; `params` and `_grads` hold named views into them.
        shapes = self._internal_shapes()
        self._flat = np.zeros(sum(int(np.prod(shape)) for shape in shapes.values()), dtype=self.dtype)
        self._flat_grads = np.zeros_like(self._flat)
        self.params: dict[str, np.ndarray] = _views(self._flat, shapes)
        self._grads: dict[str, np.ndarray] = _views(self._flat_grads, shapes)
        self.history_: list[tuple[int, float, float | None]] = []
        self.best_epoch_: int | None = None
        self._workspaces: dict[tuple, dict[str, np.ndarray]] = {}
        rng = np.random.default_rng(self.seed)
        bound = 1.0 / np.sqrt(self.hidden_size)
        self.load_state_dict({key: rng.uniform(-bound, bound, shape) for key, shape in self._torch_shapes().items()})

    # ------------------------------------------------------------------------------------------- parameters
    def _internal_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for key, shape in self._torch_shapes().items():
            if key.startswith("lstm."):
                torch_name, layer = key[len("lstm."):].rsplit("_l", 1)
                shapes[_internal_name(torch_name, int(layer))] = shape
        shapes["head_w"] = (self.output_size, self.hidden_size)
        shapes["head_b"] = (self.output_size,)
        return shapes

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
        for k in range(self.num_layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                self.params[_internal_name(name, k)][...] = _rows_to_internal(arrays[f"lstm.{name}_l{k}"], H)
        self.params["head_w"][...] = arrays["head.weight"]
        self.params["head_b"][...] = arrays["head.bias"]

    def _to_torch(self, internal: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        H, out = self.hidden_size, {}
        for k in range(self.num_layers):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                out[f"lstm.{name}_l{k}"] = _rows_to_torch(internal[_internal_name(name, k)], H)
        out["head.weight"] = internal["head_w"].copy()
        out["head.bias"] = internal["head_b"].copy()
        return out

    # ---------------------------------------------------------------------------------------------- forward
    def forward(self, X: np.ndarray) -> np.ndarray:
        """Forecasts for a batch of windows: X (N, T, D) -> (N, O)."""
        return self._forward(self._check_inputs(X), keep=False)[0]


    def _check_inputs(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[2] != self.input_size or X.shape[1] < 1:
            raise ValueError(f"X must have shape (N, T, {self.input_size}), got {X.shape}")
        return X

    def _forward(self, X: np.ndarray, keep: bool):
        """X (N, T, D) -> (y (N, O), layer caches or None)."""
        sequence = np.ascontiguousarray(X.transpose(1, 2, 0), dtype=self.dtype)  # (T, D, N)
        caches = []
        for k in range(self.num_layers):
            cache = self._layer_forward(k, sequence)
            caches.append(cache)
            sequence = cache.h[1:]
        last_hidden = caches[-1].h[-1]  # (H, N)
        y = (self.params["head_w"] @ last_hidden).T + self.params["head_b"]  # (N, O)
        return y, (caches if keep else None)

    def _layer_forward(self, k: int, x: np.ndarray) -> _LayerCache:
        """One LSTM layer over a whole sequence: x (T, D, N) -> cache with h (T+1, H, N).

        Each step is one GEMM, gates_t = W z_t with W = [W_hh | W_ih | b_ih + b_hh] (4H, K) and the stacked column
        z_t = [h_{t-1}; x_t; 1] (K, N), K = H + D + 1: input projection, recurrence and bias at once. The z_t live in
        one array `z` (T+1, K, N) whose first H rows of step t+1 receive h_t.

        The returned arrays live in a workspace reused by the next call with the same shape (no page faults from
        fresh multi-megabyte allocations on every mini-batch); callers use a cache before the next forward pass.
        """
        T, D, N = x.shape
        H = self.hidden_size
        K = H + D + 1
        work = self._workspace(("forward", k, T, N), z=(T + 1, K, N), gates=(T, 4 * H, N), c=(T + 1, H, N),
                               tanh_c=(T, H, N), input_times_candidate=(H, N))
        z, gates, c, tanh_c = work["z"], work["gates"], work["c"], work["tanh_c"]
        input_times_candidate = work["input_times_candidate"]
        bias = self.params[f"b_ih{k}"] + self.params[f"b_hh{k}"]
        weights = np.concatenate([self.params[f"w_hh{k}"], self.params[f"w_ih{k}"], bias[:, None]], axis=1)
        weights *= self._sigmoid_prescale()  # sigmoid rows halved: σ(z) = (1 + tanh(z/2)) / 2
        z[0, :H] = 0
        z[:T, H: H + D] = x
        z[T, H: H + D] = 0
        z[:, H + D] = 1
        c[0] = 0
        for t in range(T):
            a = gates[t]  # (4H, N)
            np.matmul(weights, z[t], out=a)
            np.tanh(a, out=a)  # sigmoid gates now hold tanh(z/2), the candidate tanh(z)
            sig = a[: 3 * H]
            sig *= 0.5
            sig += 0.5
            o, i, f, g = a[:H], a[H: 2 * H], a[2 * H: 3 * H], a[3 * H:]
            np.multiply(f, c[t], out=c[t + 1])
            np.multiply(i, g, out=input_times_candidate)
            c[t + 1] += input_times_candidate
            np.tanh(c[t + 1], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=z[t + 1, :H])
        return _LayerCache(z, gates, z[:, :H], c, tanh_c)

    def _workspace(self, key, **shapes) -> dict[str, np.ndarray]:
        """Preallocated buffers for `key`, created on first use (a handful of shapes are kept)."""
        work = self._workspaces.get(key)
        if work is None:
            if len(self._workspaces) > 16:
                self._workspaces.clear()
            work = {name: np.empty(shape, dtype=self.dtype) for name, shape in shapes.items()}
            self._workspaces[key] = work
        return work

    def _sigmoid_prescale(self) -> np.ndarray:
        H = self.hidden_size
        scale = np.ones((4 * H, 1), dtype=self.dtype)
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
    def loss_and_grads(self, X: np.ndarray, y: np.ndarray, loss=None) -> tuple[float, dict[str, np.ndarray]]:
        """`loss` (default: mean squared error, see model.losses) of the forecasts for targets y (N, O), and its
        gradients, keyed and shaped like `state_dict`."""
        value, grads = self._loss_and_internal_grads(self._check_inputs(X), self._check_targets(y, len(X)),
                                                     loss=loss)
        return value, self._to_torch(grads)

    def loss_and_input_grad(self, X: np.ndarray, y: np.ndarray, loss=None) -> tuple[float, np.ndarray]:
        """`loss` and its gradient with respect to the inputs X (N, T, D)."""
        X = self._check_inputs(X)
        value, _, dX = self._loss_and_internal_grads(X, self._check_targets(y, len(X)), input_grad=True, loss=loss)
        return value, dX

    def loss(self, X: np.ndarray, y: np.ndarray, batch_size: int = 1024, loss=None) -> float:
        """`loss` (default MSE) of the forecasts on (X, y): the batches' values weighted by their sizes."""
        loss = loss or MeanSquaredError()
        X, y = self._check_inputs(X), self._check_targets(y, len(X))
        total = 0.0
        for start in range(0, len(X), batch_size):
            batch = slice(start, start + batch_size)
            total += loss(self._forward(X[batch], keep=False)[0], y[batch])[0] * len(X[batch])
        return total / len(X)

    def _check_targets(self, y: np.ndarray, n: int) -> np.ndarray:
        y = np.asarray(y, dtype=self.dtype)
        if y.ndim == 1 and self.output_size == 1:
            y = y[:, None]
        if y.shape != (n, self.output_size):
            raise ValueError(f"y must have shape ({n}, {self.output_size}), got {y.shape}")
        return y

    def _loss_and_internal_grads(self, X, y, input_grad: bool = False, loss=None):
        prediction, caches = self._forward(X, keep=True)
        value, d_prediction = (loss or MeanSquaredError())(prediction, y)  # dL/dy (N, O)
        d_prediction = d_prediction.astype(self.dtype, copy=False)
        last_hidden = caches[-1].h[-1]  # (H, N)
        grads = self._grads
        np.matmul(d_prediction.T, last_hidden.T, out=grads["head_w"])
        np.sum(d_prediction, axis=0, out=grads["head_b"])
        d_hidden_last = self.params["head_w"].T @ d_prediction.T  # (H, N) gradient into the top layer's h_T
        d_sequence = None  # (T, D, N) gradient into the layer's input sequence
        for k in reversed(range(self.num_layers)):
            need_dx = k > 0 or input_grad
            d_sequence = self._layer_backward(k, caches[k], d_sequence, d_hidden_last, grads, need_dx)
            d_hidden_last = None
        if input_grad:
            return value, grads, d_sequence.transpose(2, 0, 1)
        return value, grads

    def _layer_backward(self, k, cache: _LayerCache, d_h_seq, d_h_last, grads, need_dx):
        """BPTT through layer k. d_h_seq (T, H, N): dL/dh_t from the layer above (None for the top layer, whose
        only gradient is d_h_last (H, N) at the last step). Fills grads[...k]; returns dL/dx (T, D, N) or None."""
        z, gates, c, tanh_c = cache.z, cache.gates, cache.c, cache.tanh_c
        T, H, N = tanh_c.shape
        D = z.shape[1] - H - 1
        work = self._workspace(("backward", k, T, N), d_pre=(T, 4 * H, N), d_h=(H, N), d_c=(H, N),
                               scratch=(H, N), sig_deriv=(3 * H, N))
        d_pre, d_h, d_c, scratch, sig_deriv = (work[name] for name in ("d_pre", "d_h", "d_c", "scratch",
                                                                         "sig_deriv"))
        w_hh_t = np.ascontiguousarray(self.params[f"w_hh{k}"].T)  # (H, 4H)
        if d_h_last is not None:
            d_h[...] = d_h_last
        else:
            d_h[...] = 0
        d_c[...] = 0
        for t in reversed(range(T)):
            if d_h_seq is not None:
                d_h += d_h_seq[t]
            a, dz = gates[t], d_pre[t]  # dz: dL/d(pre-activation) of (o, i, f, g), (4H, N)
            o, i, f, g = a[:H], a[H: 2 * H], a[2 * H: 3 * H], a[3 * H:]
            d_o, d_i, d_f, d_g = dz[:H], dz[H: 2 * H], dz[2 * H: 3 * H], dz[3 * H:]
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
            sig = a[: 3 * H]
            np.subtract(1, sig, out=sig_deriv)
            sig_deriv *= sig  # σ' = σ(1 - σ)
            dz[: 3 * H] *= sig_deriv
            np.multiply(g, g, out=scratch)
            np.subtract(1, scratch, out=scratch)
            d_g *= scratch  # tanh' = 1 - tanh²
            if t:
                np.matmul(w_hh_t, dz, out=d_h)  # carried to h_{t-1}
        # dW = Σ_t dz_t z_t^T over steps and batch, for the stacked W = [W_hh | W_ih | b]: one contraction.
        d_weights = np.tensordot(d_pre, z[:T], axes=([0, 2], [0, 2]))  # (4H, K)
        grads[f"w_hh{k}"][...] = d_weights[:, :H]
        grads[f"w_ih{k}"][...] = d_weights[:, H: H + D]
        grads[f"b_ih{k}"][...] = d_weights[:, H + D]
        grads[f"b_hh{k}"][...] = d_weights[:, H + D]
        if not need_dx:
            return None
        return np.matmul(self.params[f"w_ih{k}"].T, d_pre)  # (T, D, N)

    # --------------------------------------------------------------------------------------------- training
    def fit(self, X: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int = 64, lr: float = 1e-3,
            clip_norm: float | None = 1.0, X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            patience: int | None = None, callback: Callable[[int, float, float | None], None] | None = None,
            loss=None) -> LSTMRegressor:
        """Train with Adam on shuffled mini-batches of (X (N, T, D), y (N, O)), clipping the global gradient norm at
        `clip_norm`, to minimise `loss` (default: mean squared error; see forecaster.model.losses).

        With a validation set, the validation loss is computed after every epoch; with `patience`, training stops
        after that many epochs without improvement, and the weights of the best epoch are restored.
        `callback(epoch, train_loss, val_loss)` is called after every epoch. Returns self; `history_` holds
        (epoch, train_loss, val_loss) per epoch and `best_epoch_` the epoch whose weights are kept.
        """
        X = self._check_inputs(X).astype(self.dtype, copy=False)
        y = self._check_targets(y, len(X))
        if batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")

        def batches(rng: np.random.Generator):
            order = rng.permutation(len(X))
            for start in range(0, len(X), batch_size):
                batch = order[start: start + batch_size]
                yield X[batch], y[batch]

        has_val = X_val is not None and y_val is not None and len(X_val) > 0
        return self.fit_batches(batches, epochs=epochs, lr=lr, clip_norm=clip_norm,
                                validation=(X_val, y_val) if has_val else None, patience=patience,
                                callback=callback, loss=loss)

    def fit_batches(self, batches: Callable[[np.random.Generator], object], *, epochs: int, lr: float = 1e-3,
                    clip_norm: float | None = 1.0, validation: tuple[np.ndarray, np.ndarray] | None = None,
                    patience: int | None = None, callback: Callable[[int, float, float | None], None] | None = None,
                    loss=None) -> LSTMRegressor:
        """`fit` on the mini-batches that `batches(rng)` yields for each epoch, (X (B, T, D), y (B, O)) each: the
        caller decides what an epoch is (all windows shuffled, or a sample of a pool's windows cut on demand). The
        generator `rng` is seeded by the model's seed, so the same seed and data give the same model."""
        if epochs < 1:
            raise ValueError("epochs and batch_size must be positive")
        if patience is not None and validation is None:
            raise ValueError("early stopping (patience) needs a validation set")
        if validation is not None:
            X_val = self._check_inputs(validation[0]).astype(self.dtype, copy=False)
            y_val = self._check_targets(validation[1], len(X_val))
        rng = np.random.default_rng([self.seed, 1])
        everything, gradient = {"all": self._flat}, {"all": self._flat_grads}
        optimizer = Adam(everything, lr=lr)
        stopper = EarlyStopping(patience)
        self.history_ = []
        for epoch in range(1, epochs + 1):
            total, count = 0.0, 0
            for X_batch, y_batch in batches(rng):
                X_batch = self._check_inputs(X_batch).astype(self.dtype, copy=False)
                value, _ = self._loss_and_internal_grads(X_batch, self._check_targets(y_batch, len(X_batch)),
                                                         loss=loss)  # fills self._flat_grads
                clip_grad_norm(gradient, clip_norm)
                optimizer.step(everything, gradient)
                total += value * len(X_batch)
                count += len(X_batch)
            train_loss = total / max(count, 1)
            val_loss = self.loss(X_val, y_val, loss=loss) if validation is not None else None
            self.history_.append((epoch, train_loss, val_loss))
            if callback is not None:
                callback(epoch, train_loss, val_loss)
            if validation is not None:
                stopper.update(epoch, val_loss, everything)
                if stopper.should_stop:
                    break
        if validation is not None and stopper.best_state is not None:
            self._flat[...] = stopper.best_state["all"]
            self.best_epoch_ = stopper.best_epoch
        else:
            self.best_epoch_ = len(self.history_)
        return self


def _views(flat: np.ndarray, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Consecutive named views of the given shapes into the 1-D array `flat`."""
    views, offset = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        views[name] = flat[offset: offset + size].reshape(shape)
        offset += size
    return views


def _internal_name(torch_name: str, layer: int) -> str:
    """'weight_ih', 0 -> 'w_ih0'; 'bias_hh', 1 -> 'b_hh1'."""
    return f"{torch_name[0]}_{torch_name.split('_')[1]}{layer}"


def _rows_to_internal(array: np.ndarray, H: int) -> np.ndarray:
    """Permute the four gate row blocks from PyTorch's (i, f, g, o) order to the internal (o, i, f, g)."""
    return array.reshape(4, H, *array.shape[1:])[_TO_INTERNAL].reshape(array.shape)


def _rows_to_torch(array: np.ndarray, H: int) -> np.ndarray:
    """Permute the four gate row blocks from the internal (o, i, f, g) order to PyTorch's (i, f, g, o)."""
    return array.reshape(4, H, *array.shape[1:])[_TO_TORCH].reshape(array.shape)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))
