"""forecaster: a stock price forecaster built on a NumPy LSTM, a command line (`forecast`) over a Python library.

The library's front door is `Home` (forecaster.api): `import forecaster as fc; home = fc.Home("stocks")`, then
`home.fetch(...)`, `home.train(...)`, `home.predict(...)` and so on, as the commands do. It and pandas are imported
on first use of `fc.Home`, so that `import forecaster` (and `forecast predict`) stays light. The errors, which the
CLI turns into exit codes, are forecaster.errors's.
"""

from forecaster.errors import (
    CorruptFile,
    DataUnavailable,
    ExitCode,
    ForecastError,
    InternalFailure,
    LockTimeout,
    ModelMissing,
    NetworkError,
    TickersFailed,
    UsageError,
)

__version__ = "0.1.0"

__all__ = ["CorruptFile", "DataUnavailable", "ExitCode", "ForecastError", "Home", "InternalFailure", "LockTimeout",
           "ModelMissing", "NetworkError", "TickersFailed", "UsageError", "__version__"]


def __getattr__(name: str):
    if name == "Home":
        from forecaster.api import Home

        return Home
    raise AttributeError(f"module 'forecaster' has no attribute {name!r}")
