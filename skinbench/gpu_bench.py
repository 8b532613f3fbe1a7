"""The GPU measurements skinbench ships: ``skinbench/gpu_bench.csv``, one row per measured model.

Each row is one ``skinbench bench`` figure set on a GPU (device, backend, backbone, recipe,
image size, batch size and the Keras dtype policy it ran as), with the date and the file it
came from. Two things read it:

* ``--precision auto`` (``train.precision``): the policy with the most training images/s for
  the backbone on this GPU *under this backend*; a choice measured under JAX is never applied
  under TensorFlow;
* the plan of ``--dry-run`` and ``benchmarks/time_to_paper.py`` (``train.plan``): estimated
  GPU time per cell, each labelled with the GPU, backend and date it rests on.

``benchmarks/gpu_bench_table.py`` adds a bench CSV's rows (replacing rows of the same
setting). No backend is imported here.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from skinbench.errors import RunError

#: The table's columns; ``one_process_compile`` is False where several processes compiled at
#: once (the bench before its lock covered compiles), so ``compile_s`` is not a one-process figure.
COLUMNS = (
    "device", "backend", "backbone", "recipe", "image_size", "batch_size", "policy", "train_images_per_s",
    "infer_images_per_s", "compile_s", "predict_compile_s", "one_process_compile", "peak_memory_gib", "params",
    "date", "source",
)
#: The columns that name a setting: a newer row of the same setting replaces the older.
SETTING = ("device", "backend", "backbone", "recipe", "image_size", "batch_size", "policy")
#: ``skinbench bench``'s precision column -> the Keras policy (bench files before the ``policy``
#: column wrote ``mixed`` for mixed_float16, the only mixed policy they measured).
POLICY_OF_PRECISION = {"float32": "float32", "mixed": "mixed_float16", "mixed_float16": "mixed_float16",
                       "mixed_bfloat16": "mixed_bfloat16"}


@lru_cache(maxsize=1)
def shipped() -> pd.DataFrame:
    """The package's table."""
    with resources.files("skinbench").joinpath("gpu_bench.csv").open() as handle:
        return pd.read_csv(handle)


def from_bench_csv(path: Path, *, date: str | None = None) -> pd.DataFrame:
    """A ``skinbench bench`` CSV (``benchmarks/gpu.sh``'s bench.csv) in the table's columns.

    RunError naming the file when it is unreadable or lacks a column the table needs.
    """
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot read it as a bench CSV ({exc})") from None
    needed = ("device", "backend", "backbone", "recipe", "image_size", "batch_size", "precision", "train_images_per_s",
              "infer_images_per_s", "compile_s", "params")
    missing = [column for column in needed if column not in frame]
    if missing:
        raise RunError(f"{path}: not a skinbench bench CSV (no {', '.join(missing)} column)")
    policy = frame["policy"] if "policy" in frame else frame["precision"].map(POLICY_OF_PRECISION)
    return pd.DataFrame({
        **{column: frame[column] for column in ("device", "backend", "backbone", "recipe", "image_size", "batch_size")},
        "policy": policy,
        **{column: frame[column] for column in ("train_images_per_s", "infer_images_per_s", "compile_s")},
        "predict_compile_s": frame.get("predict_compile_s"),
        "one_process_compile": "predict_compile_s" in frame,  # the bench's lock covers compiles since that column
        "peak_memory_gib": frame.get("peak_memory_gib"),
        "params": frame["params"],
        "date": frame["date"] if "date" in frame else date,
        "source": str(path),
    }, columns=list(COLUMNS))


def merged(table: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``new``'s rows added, each replacing a row of the same setting."""
    keys = new.set_index(list(SETTING)).index
    kept = table[~table.set_index(list(SETTING)).index.isin(keys)]
    return pd.concat([kept, new], ignore_index=True)[list(COLUMNS)]


def fastest_policy(device: str, backend: str, backbone: str, table: pd.DataFrame | None = None) -> str | None:
    """The policy with the most training images/s for ``backbone`` on ``device`` under ``backend``
    (at its native size, the size the bench measures), or None when that was not measured."""
    table = shipped() if table is None else table
    rows = table[(table["device"] == device) & (table["backend"] == backend) & (table["backbone"] == backbone)]
    rows = rows.dropna(subset=["train_images_per_s"])
    if rows.empty:
        return None
    return str(rows.loc[rows["train_images_per_s"].astype(float).idxmax(), "policy"])
