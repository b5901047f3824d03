"""Build the pretrained pools shipped in the package (forecaster.model.vintages) from a folder of daily histories.

    python scripts/build_vintages.py [--data-dir ../shared/universe-train] [--out forecaster/model/vintages]
                                     [--cut 2011-01-03 --cut 2015-01-02 --cut 2017-11-11] [--seed 0] [--epochs N]

Each --cut gives a vintage trained only on bars strictly before that date, written to OUT/<its last date>/. Files are
read in place, in the layouts `forecast import` reads (`abr_b.us.txt` is ABR-B). The same files, cuts and seed give
the same bytes (`--check` rebuilds into a temporary folder and compares with OUT).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecaster.data.bars import read_csv  # noqa: E402
from forecaster.data.fetch_jobs import symbol_from_file_name  # noqa: E402
from forecaster.errors import ForecastError  # noqa: E402
from forecaster.model.serving import TrainingConfig  # noqa: E402
from forecaster.model.vintages import build_vintage  # noqa: E402

DEFAULT_CUTS = ("2011-01-03", "2015-01-02", "2017-11-11")


def read_universe(folder: Path) -> tuple[dict, list[tuple[str, str]]]:
    """ticker -> bars of every readable file of `folder`, and the files left out with the reason."""
    bars, skipped = {}, []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".csv", ".txt") and p.stem[:1] != "."):
        if path.name.lower() == "readme.md":
            continue
        try:
            ticker = symbol_from_file_name(path.name)
            bars[ticker] = read_csv(path)
        except ForecastError as error:
            skipped.append((path.name, str(error)))
    return bars, skipped


def _contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "universe-train")
    parser.add_argument("--out", type=Path, default=ROOT / "forecaster" / "model" / "vintages")
    parser.add_argument("--cut", action="append", dest="cuts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=TrainingConfig.epochs)
    parser.add_argument("--check", action="store_true", help="rebuild into a temporary folder and compare with OUT")
    args = parser.parse_args(argv)
    cuts = [dt.date.fromisoformat(c) for c in (args.cuts or DEFAULT_CUTS)]
    config = TrainingConfig(seed=args.seed, epochs=args.epochs, market="none")
    universe, unreadable = read_universe(args.data_dir)
    print(f"{len(universe)} histories read from {args.data_dir.name}/, {len(unreadable)} unreadable", file=sys.stderr)
    for name, reason in unreadable:
        print(f"  left out {name}: {reason}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) if args.check else args.out
        for cut in cuts:
            started = time.perf_counter()
            directory, skipped = build_vintage(universe, cut, config, out)
            print(f"vintage {directory.name} (before {cut}): {len(universe) - len(skipped)} tickers, "
                  f"{len(skipped)} left out, {time.perf_counter() - started:.0f} s", file=sys.stderr)
            if args.check:
                shipped = args.out / directory.name
                same = shipped.is_dir() and _contents(directory) == _contents(shipped)
                print(f"  {'identical to' if same else 'DIFFERS from'} {shipped}", file=sys.stderr)
                if not same:
                    return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
