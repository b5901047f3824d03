"""forecaster: a command-line stock price forecaster built on a NumPy LSTM."""

__version__ = "0.1.0"
