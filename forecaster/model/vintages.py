"""Pretrained pools shipped inside the package ("vintages"), how a ticker is served by one, and how they are built.

A vintage is a pooled model in the format of forecaster.model.serving (weights, the pooled HAR, input spreads and
the pooled calibration) trained on the daily histories of many tickers (the 1,500 US stocks and ETFs named by
SOURCE) strictly before its cut date, with no ticker sections: a user's ticker is calibrated against it as
`forecast train NEW` calibrates a newcomer against a home's pool (forecaster.model.training.add_ticker: its own
level, offset, input means and calibration, shrunk toward the vintage's pooled values), in seconds.

Each vintage is a folder `vintages/<last date>/` beside this module, named by the last date of its data, with
`meta.json` (whose `vintage` section gives its cut, last date, source and size) and the weights it names. It goes by
the name `shipped <last date>` wherever a model is named. $FORECAST_VINTAGES names another folder of vintages (one
built with `build_vintage`, or none at all: an empty folder).

Honest evaluation: a test starting on day d may use only a vintage whose data ends before d (`latest(before=d)`).

`build_vintage` is what `scripts/build_vintages.py` runs: the same files, cut and seed give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from forecaster.errors import CorruptFile, ModelMissing, UsageError

if TYPE_CHECKING:  # the model stack is imported where a vintage is read or built, not by every command's start
    from forecaster.data.bars import Bars
    from forecaster.model.serving import Model, TrainingConfig

SOURCE = ("1,500 daily histories (1,192 US stocks and 308 ETFs, split- and dividend-adjusted OHLC) of the public "
          "'Huge Stock Market Dataset' (daily US prices to 2017-11-10), as copied in the GitHub repository "
          "guyr18/stock-market-big-data (commit acbb17c, folders Data/Stocks and Data/ETFs)")
VINTAGES_ENV = "FORECAST_VINTAGES"
SHIPPED = "shipped"  # a vintage's name is "shipped <last date>"
REINSTALL = "reinstall forecaster as it was installed (e.g. 'pip install --force-reinstall .' in its checkout)"


@dataclass(frozen=True)
class Vintage:
    """A shipped pool: the last date of its data (its name) and its folder."""

    last_date: dt.date
    directory: Path

    @property
    def name(self) -> str:
        return f"{SHIPPED} {self.last_date}"

    def load(self) -> Model:
        """The vintage's model; CorruptFile naming the file when a file of it is missing or damaged."""
        from forecaster.model.serving import Model

        advice = repair_advice()
        try:
            model = Model.read(self.directory, f"the {self.name} vintage", advice)
        except ModelMissing:
            raise CorruptFile(f"{self.directory / 'meta.json'} is missing: the {self.name} vintage is incomplete; "
                              f"{advice}") from None
        if not model.meta.get("vintage") or model.meta["tickers"]:
            raise CorruptFile(f"{self.directory / 'meta.json'} is not a shipped vintage; {advice}")
        if model.meta["vintage"]["last_date"] != str(self.last_date):  # the folder's name is what evaluate trusts
            raise CorruptFile(f"{self.directory / 'meta.json'} is the vintage of data to "
                              f"{model.meta['vintage']['last_date']}, in the folder of {self.last_date}; {advice}")
        return model


def repair_advice() -> str:
    """What to do about a vintage that is missing or damaged: reinstall forecaster, or rebuild those of
    $FORECAST_VINTAGES."""
    return REINSTALL if VINTAGES_ENV not in os.environ else f"rebuild it, or unset ${VINTAGES_ENV}"


def vintages_dir() -> Path:
    """The folder of vintages: $FORECAST_VINTAGES, else the one inside the package. UsageError when the variable
    names no folder (a typo must not pass for "no shipped network": an empty folder says that)."""
    override = os.environ.get(VINTAGES_ENV)
    if not override:
        return Path(str(resources.files("forecaster.model").joinpath("vintages")))
    if not Path(override).is_dir():
        raise UsageError(f"${VINTAGES_ENV} is {override!r}, which is no folder (an empty folder means no shipped "
                         "network; unset it for the ones forecaster ships)")
    return Path(override)


def vintages() -> list[Vintage]:
    """Every vintage, oldest first (folders whose name is no date are not vintages)."""
    found = []
    directory = vintages_dir()
    try:
        entries = list(directory.iterdir())
    except OSError:
        return []
    for entry in entries:
        try:
            found.append(Vintage(dt.date.fromisoformat(entry.name), entry))
        except ValueError:
            continue
    return sorted(found, key=lambda v: v.last_date)


def latest(before: dt.date | None = None) -> Vintage | None:
    """The newest vintage (whose data ends before `before`, when given), or None."""
    usable = [v for v in vintages() if before is None or v.last_date < before]
    return usable[-1] if usable else None


# ------------------------------------------------------------------------------------------------------- build
def build_vintage(bars_by_ticker: dict[str, Bars], cut: dt.date, config: TrainingConfig, out_dir: Path,
                  source: str = SOURCE) -> tuple[Path, list[tuple[str, str]]]:
    """Train a vintage on every ticker's bars before `cut` and write it to out_dir/<last date>/ (replacing a vintage
    of that date); returns the folder and the tickers left out with the reason (too short, too still, no real OHLC,
    a degenerate band). Deterministic: the same bars, cut and config give the same bytes."""
    from forecaster.model.guards import check_trainable
    from forecaster.model.serving import weights_bytes
    from forecaster.model.training import train_model
    from forecaster.model.windows import resolve_features

    members, skipped = {}, []
    for ticker, bars in sorted(bars_by_ticker.items()):
        history = bars.before(cut)
        try:
            check_trainable(history, ticker)
        except Exception as error:  # a ticker's trouble leaves it out of the vintage, named
            skipped.append((ticker, str(error)))
            continue
        if len(history) < config.min_join_rows:
            skipped.append((ticker, f"{len(history)} rows before {cut}"))
        elif resolve_features(config.features, history, ticker)[0] != "range":
            skipped.append((ticker, "no real OHLC"))
        else:
            members[ticker] = history
    model = train_model(members, None, config, "pooled")
    last_date = max(bars.last_date for bars in members.values())
    meta = {**model.meta, "created_at": f"{cut}T00:00:00+00:00", "notes": [], "tickers": {},
            "vintage": {"last_date": last_date, "cut": str(cut), "source": source, "tickers": len(members),
                        "rows": int(sum(len(bars) for bars in members.values())),
                        "data_sha256": _digest(members)}}
    weights = weights_bytes(model.network.state_dict())
    digest = hashlib.sha256(weights).hexdigest()
    meta = {**meta, "weights_file": f"weights-{digest[:16]}.npz", "weights_sha256": digest}
    directory = Path(out_dir) / last_date
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("weights-*.npz"):
        old.unlink()
    (directory / meta["weights_file"]).write_bytes(weights)
    (directory / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return directory, skipped


def _digest(members: dict[str, Bars]) -> str:
    """One SHA-256 over every member's canonical price file, in ticker order: which data a vintage learned from."""
    from forecaster.data.bars import format_csv

    digest = hashlib.sha256()
    for ticker in sorted(members):
        digest.update(ticker.encode() + b"\n" + format_csv(members[ticker]).encode())
    return digest.hexdigest()
