"""The tables benchmarks/gpu.sh writes from what its steps ran.

Usage (from gpu.sh):
  python benchmarks/gpu_tables.py epochs RUN_DIR OUT.csv         one row per finished cell
  python benchmarks/gpu_tables.py jobs RUN_DIR ALONE_RUN_DIR OUT.csv  cells run at once, and the one run alone
  python benchmarks/gpu_tables.py missing BACKBONES PRECISIONS    the bench rows this GPU has not measured
  python benchmarks/gpu_tables.py merge PARTS_DIR OUT.csv          the bench's CSVs as one, dated

A table is written only when it has rows; without any the command exits 1, saying so.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from skinbench.records import FINISHED, CellConfig, Timing, read_history, status_of


def _finished(run: Path) -> list[Path]:
    return [config.parent for config in sorted(Path(run).glob(f"*/{CellConfig.FILE}")) if status_of(config.parent) == FINISHED]


def epochs_rows(run: Path) -> list[dict]:
    """timing.json of each finished cell, with its validation times from history.csv (``val_s``: the
    median of the epochs that did not trace; ``first_val_s``: the first epoch's) over ``n_val_images``."""
    rows = []
    for cell in _finished(run):
        config, timing, history = CellConfig.read(cell), Timing.read(cell), read_history(cell)
        later = history[~history["epoch"].isin(timing.traced_epochs)]
        rows.append({
            "cell": cell.name, "backbone": config.backbone, "recipe": config.recipe, "image_size": config.image_size,
            "precision": config.precision, **{k: v for k, v in vars(timing).items() if k != "traced_epochs"},
            "first_val_s": float(history["val_seconds"].iloc[0]),
            "val_s": float(later["val_seconds"].median()) if len(later) else None,
            "n_val_images": len(pd.read_csv(cell / "predictions.csv")),
        })
    return rows


def jobs_rows(run: Path, alone: Path) -> list[dict]:
    """The cells of ``run`` (several at once) and ``alone``'s cells of the same backbones (one at a time)."""
    together = epochs_rows(run)
    backbones = {row["backbone"] for row in together}
    single = [{**row, "gpu_sharing": 1} for row in epochs_rows(alone) if row["backbone"] in backbones]
    return [*single, *together] if single and together else []


def missing(backbones: str, precisions: str) -> list[str]:
    """``backbone precision`` for each pair the shipped GPU bench lacks on this GPU and backend."""
    import keras

    from skinbench import gpu_bench
    from skinbench.train.env import accelerator_name

    table = gpu_bench.shipped()
    mine = table[(table["device"] == accelerator_name()) & (table["backend"] == keras.backend.backend())]
    have = set(zip(mine["backbone"], mine["policy"]))
    return [f"{b} {p}" for b in backbones.split(",") for p in precisions.split(",")
            if (b, gpu_bench.POLICY_OF_PRECISION.get(p, p)) not in have]


def merged(parts: Path) -> pd.DataFrame:
    frames = [pd.read_csv(path) for path in sorted(Path(parts).glob("*.csv"))]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(frame) and "date" not in frame:
        frame.insert(0, "date", datetime.now(timezone.utc).date().isoformat())
    return frame


def _write(rows: pd.DataFrame | list[dict], out: Path, what: str) -> None:
    frame = pd.DataFrame(rows)
    if frame.empty:
        sys.exit(f"gpu_tables: no {what}: {out} not written")
    frame.to_csv(out, index=False)
    print(frame.to_string(index=False))


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "epochs":
        _write(epochs_rows(Path(args[0])), Path(args[1]), "finished cell")
    elif command == "jobs":
        _write(jobs_rows(Path(args[0]), Path(args[1])), Path(args[2]), "cells run at once beside one run alone")
    elif command == "missing":
        print("\n".join(missing(*args)))
    elif command == "merge":
        _write(merged(Path(args[0])), Path(args[1]), "bench row")
    else:
        sys.exit(f"gpu_tables: unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
