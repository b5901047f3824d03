"""Risk: walk-forward evaluation against the baselines, the backtests of interval bounds, the live track record."""
