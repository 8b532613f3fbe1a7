"""Make skinbench/precision_choices.csv (what ``--precision auto`` uses) from a ``skinbench bench`` CSV.

For every (GPU, backbone) the bench measured under more than one precision, the policy with
the most training images/s is the choice; the row keeps each measured figure and the date.

Usage: python benchmarks/precision_choices.py BENCH.csv [BENCH.csv ...] [--out skinbench/precision_choices.csv]
Rows of an older file for other GPUs are kept; a GPU measured again is replaced.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

#: bench's precision column -> the Keras policy (older bench files wrote ``mixed`` for mixed_float16).
POLICY = {"float32": "float32", "mixed": "mixed_float16", "mixed_float16": "mixed_float16", "mixed_bfloat16": "mixed_bfloat16"}
OUT = Path(__file__).resolve().parents[1] / "skinbench" / "precision_choices.csv"


def choices(bench: pd.DataFrame, source: str) -> pd.DataFrame:
    """One row per (GPU, backbone): the fastest policy and every policy's images/s."""
    bench = bench.assign(policy=bench["precision"].map(POLICY))
    rows = []
    for (gpu, backbone), group in bench.groupby(["device", "backbone"], sort=False):
        speeds = group.set_index("policy")["train_images_per_s"]
        if len(speeds) < 2:
            continue
        row = {"gpu": gpu, "backbone": backbone, "policy": speeds.idxmax()}
        row |= {f"{policy}_images_per_s": speeds.get(policy) for policy in dict.fromkeys(POLICY.values())}
        rows.append(row | {"measured": group["date"].iloc[0], "source": source})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    options = parser.parse_args()
    new = pd.concat([choices(pd.read_csv(path), str(path)) for path in options.bench], ignore_index=True)
    old = pd.read_csv(options.out) if options.out.exists() else new.iloc[:0]
    kept = old[~old["gpu"].isin(new["gpu"])]
    pd.concat([kept, new], ignore_index=True).to_csv(options.out, index=False)
    print(f"{len(new)} choices for {', '.join(new['gpu'].unique())} written to {options.out}")


if __name__ == "__main__":
    main()
