"""Add GPU bench measurements to skinbench/gpu_bench.csv (what ``--precision auto``, ``--dry-run``
and ``benchmarks/time_to_paper.py`` read).

Each row of a ``skinbench bench`` CSV (``benchmarks/gpu.sh``'s bench.csv) replaces the table's
row of the same setting (device, backend, backbone, recipe, image size, batch size, policy);
rows of other settings are kept.

Usage: python benchmarks/gpu_bench_table.py BENCH.csv [BENCH.csv ...] [--date YYYY-MM-DD] [--table FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from skinbench import gpu_bench
from skinbench.io import write_csv

TABLE = Path(__file__).resolve().parents[1] / "skinbench" / "gpu_bench.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", nargs="+", type=Path)
    parser.add_argument("--date", help="the measurement date, for bench CSVs without a date column")
    parser.add_argument("--table", type=Path, default=TABLE)
    options = parser.parse_args()
    new = pd.concat([gpu_bench.from_bench_csv(path, date=options.date) for path in options.bench], ignore_index=True)
    if new["date"].isna().any():
        parser.error("a bench CSV has no date column: give --date")
    table = pd.read_csv(options.table) if options.table.exists() else new.iloc[:0]
    write_csv(options.table, gpu_bench.merged(table, new))
    print(f"{len(new)} rows ({', '.join(sorted(set(new['device'] + ' ' + new['backend'])))}) merged into {options.table}")


if __name__ == "__main__":
    main()
