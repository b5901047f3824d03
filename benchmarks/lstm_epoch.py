"""Training-epoch and inference speed of the NumPy LSTM, against PyTorch on the same workload when it is installed.

Standard workload: 2,500 windows x 30 steps x 1 feature, hidden 64, one layer, linear head, batch 64, Adam (lr 1e-3),
global-norm gradient clipping at 1.0, float32, shuffled mini-batches.

Each library runs in its own process (one library's idle threads slow the other inside a shared process), and the
processes alternate, so slow phases of a shared machine hit both. Per process: one warm-up epoch, then the median of
`--epochs` timed epochs, and the median latency of a single-window forecast. The script first checks that both
implementations compute the same forecasts from the same weights.

    python benchmarks/lstm_epoch.py [--rounds 3] [--epochs 5]
    pip install torch==2.13.0   # optional, for the comparison (the `bench` extra); never a runtime dependency
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_WINDOWS, STEPS, FEATURES, HIDDEN, BATCH, LR, CLIP = 2500, 30, 1, 64, 64, 1e-3, 1.0


def workload(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standardised daily-return-like windows and next-step targets, float32."""
    rng = np.random.default_rng(seed)
    series = rng.standard_normal(N_WINDOWS + STEPS).astype(np.float32)
    X = np.lib.stride_tricks.sliding_window_view(series[:-1], STEPS)[:N_WINDOWS, :, None].copy()
    y = series[STEPS: STEPS + N_WINDOWS, None].copy()
    return X, y


def run_numpy(epochs: int, weights_path: str) -> dict:
    """Times the public `LSTMRegressor.fit` epoch by epoch (its callback marks the end of each epoch)."""
    from forecaster.model.lstm import LSTMRegressor

    X, y = workload()
    model = LSTMRegressor(FEATURES, HIDDEN, seed=0)
    np.savez(weights_path, **model.state_dict())
    check = model.forward(X[:256]).ravel().tolist()
    marks = [time.perf_counter()]
    model.fit(X, y, epochs=epochs + 1, batch_size=BATCH, lr=LR, clip_norm=CLIP,
              callback=lambda *progress: marks.append(time.perf_counter()))
    times = np.diff(marks)[1:].tolist()  # the first epoch is the warm-up
    one = X[:1]
    latency = _median_latency(lambda: model.forward(one))
    return {"epoch_s": times, "latency_ms": latency, "check": check}


def run_torch(epochs: int, weights_path: str) -> dict:
    import torch

    X, y = (torch.from_numpy(a) for a in workload())

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(FEATURES, HIDDEN, batch_first=True)
            self.head = torch.nn.Linear(HIDDEN, 1)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    torch.manual_seed(0)
    model = Net()
    state = np.load(weights_path)
    model.load_state_dict({k: torch.from_numpy(state[k]) for k in state.files})
    with torch.no_grad():
        check = model(X[:256]).ravel().tolist()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.MSELoss()

    def epoch():
        order = torch.randperm(len(X))
        for start in range(0, len(X), BATCH):
            batch = order[start: start + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(X[batch]), y[batch])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            optimizer.step()

    times = _time_epochs(epoch, epochs)
    one = X[:1]
    with torch.no_grad():
        latency = _median_latency(lambda: model(one))
    return {"epoch_s": times, "latency_ms": latency, "check": check, "threads": torch.get_num_threads()}


def _time_epochs(epoch, epochs: int) -> list[float]:
    epoch()  # warm-up
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    return times


def _median_latency(call, repeats: int = 300) -> float:
    for _ in range(20):
        call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def torch_available() -> bool:
    done = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    return done.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating process pairs")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per process (after one warm-up)")
    parser.add_argument("--worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run = run_numpy if args.worker == "numpy" else run_torch
        print(json.dumps(run(args.epochs, args.weights)))
        return

    libraries = ["numpy", "torch"] if torch_available() else ["numpy"]
    results: dict[str, list[dict]] = {lib: [] for lib in libraries}
    with tempfile.TemporaryDirectory() as folder:
        weights = str(Path(folder) / "weights.npz")
        for _ in range(args.rounds):
            for lib in libraries:
                done = subprocess.run([sys.executable, __file__, "--worker", lib, "--epochs", str(args.epochs),
                                       "--weights", weights], capture_output=True, text=True, check=True)
                results[lib].append(json.loads(done.stdout.strip().splitlines()[-1]))

    print(f"workload: {N_WINDOWS} windows x {STEPS} steps x {FEATURES} feature, hidden {HIDDEN}, batch {BATCH}, "
          f"Adam, clip {CLIP}, float32; {args.rounds} process(es) per library x {args.epochs} epochs")
    medians = {}
    for lib, runs in results.items():
        epoch_times = [t for run in runs for t in run["epoch_s"]]
        medians[lib] = statistics.median(epoch_times)
        latency = statistics.median(run["latency_ms"] for run in runs)
        print(f"{lib:>6}: epoch median {medians[lib] * 1000:7.1f} ms (min {min(epoch_times) * 1000:.1f}, "
              f"max {max(epoch_times) * 1000:.1f}); single-window forecast {latency:.3f} ms")
    if "torch" in results:
        difference = np.abs(np.array(results["numpy"][0]["check"]) - np.array(results["torch"][0]["check"])).max()
        print(f"same weights, same forecasts: max |numpy - torch| = {difference:.2e} over 256 windows")
        print(f"ratio numpy/torch (epoch time): {medians['numpy'] / medians['torch']:.2f}")
    else:
        print("PyTorch is not installed: no comparison (pip install torch==2.13.0)")


if __name__ == "__main__":
    main()
