"""Write the report's test fixture: two shards of one run folder, with deterministic fake predictions.

    python tests/report/make_fixture.py [OUT]   (default: tests/report/fixtures)

Every file is written through ``skinbench.records``, as the runner writes it. No model is trained: each cell's
probabilities are a softmax of noise plus a per-cell bonus on the true class. Shard ``a``
holds finished cells (two seeds of one group) and a failed cell; shard ``b`` holds more
finished cells, two ablation rows (one on a 1x1 cut) and a pending cell. The report's golden
files are built from these two. Shard ``c``, which the claims and leak tests add, holds the
other ablation rows the claims compare and the lesion-split twins of one group (two seeds),
scored lower than on the paper split, as leakage would make them. The cells say they ran on
HAM10000 (a synthetic run's report compares nothing with the paper, and these files test the
comparisons); ``write_cell(synthetic=True)`` makes a synthetic one.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from skinbench.catalogue import ABLATION_ROWS
from skinbench.classes import CLASSES
from skinbench.eval.metrics import compute_metrics
from skinbench.eval.predictions import write_predictions
from skinbench.records import (
    FAILED,
    FINISHED,
    PENDING,
    PREDICTIONS_FILE,
    VAL_PREDICTIONS_FILE,
    CellConfig,
    CellMetrics,
    CellStatus,
    CpuRecord,
    DataInfo,
    DatasetRecord,
    ScheduleRecord,
    Environment,
    ModelSummary,
    Timing,
    split_file,
    write_history,
    write_split,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FINGERPRINT = "fixture-0001"
CLASS_COUNTS = {"akiec": 46, "bcc": 72, "bkl": 154, "df": 16, "mel": 156, "nv": 938, "vasc": 18}
SEEDS = (0, 1)
SKILL = {"densenet201": 2.2, "inceptionresnetv2": 2.6, "mobilenetv3large": 1.8, "resnet50": 1.5, "nasnetmobile": 1.7}
MODEL = {  # the trained model (made-up): params, depth, size_mb, flops per image
    "densenet201": (19_400_000, 402, 74.0, 8.6e9),
    "inceptionresnetv2": (54_800_000, 449, 209.0, 13.2e9),
    "mobilenetv3large": (4_300_000, 118, 16.5, 0.44e9),
    "resnet50": (24_600_000, 107, 94.0, 7.8e9),
    "nasnetmobile": (5_200_000, 308, 20.0, 1.1e9),
}
#: The bare Keras application (native size, include_top=True) as Keras 3 builds it: parameters and
#: depth (the keras.io applications table; MobileNetV3Large's depth as models.accounting counts it).
BACKBONE = {
    "densenet201": (20_242_984, 402),
    "inceptionresnetv2": (55_873_736, 449),
    "mobilenetv3large": (5_507_432, 110),
    "resnet50": (25_636_712, 107),
    "nasnetmobile": (5_326_716, 389),
}
#: Added to SKILL for an ablation row, so the claims table has a clear verdict of each kind:
#: [:240] against plain MobileNetV3Large contradicted, [:230] with against without metadata
#: supported, Dense(512) (no difference) not resolved.
ABLATION_BONUS = {"cut240": 0.3, "cut230-nometa": -1.0, "plain": 1.5}
#: Subtracted from SKILL on a split: the fixture's stand-in for what the paper split gains (the lesion split
#: loses leakage and selection; the leaky split keeps the leakage).
PENALTY = {"leaky": 0.4, "lesion": 1.0}
#: config.json's schedule: the paper's text (its class weights follow the recipe).
SCHEDULE = dict(name="paper", follows="the paper's text", epoch_steps=None, learning_rate=1e-3, reduce_lr=True,
                augment_per_class=None, monitor="val_accuracy", patience=25, min_delta=0.0)
EPOCH_S = {"densenet201": 41.0, "inceptionresnetv2": 88.0, "mobilenetv3large": 9.5, "resnet50": 30.0, "nasnetmobile": 14.0}

# shard -> (backbone, recipe, ablation, seed, status[, split]); the split is "paper" unless given
CELLS = {
    "a": [
        ("densenet201", "metadata", None, 0, FINISHED),
        ("densenet201", "metadata", None, 1, FINISHED),
        ("inceptionresnetv2", "metadata", None, 0, FINISHED),
        ("mobilenetv3large", "metadata", None, 0, FINISHED),
        ("resnet50", "metadata", None, 0, FAILED),
    ],
    "b": [
        ("densenet201", "augmented", None, 0, FINISHED),
        ("mobilenetv3large", "metadata", "cut240", 0, FINISHED),
        ("mobilenetv3large", "metadata", "cut230", 0, FINISHED),
        ("nasnetmobile", "metadata", None, 0, PENDING),
    ],
    "c": [
        ("mobilenetv3large", "metadata", "cut230-nometa", 0, FINISHED),
        ("mobilenetv3large", "metadata", "plain", 0, FINISHED),
        ("mobilenetv3large", "metadata", "cut246", 0, FINISHED),
        ("mobilenetv3large", "metadata", "cut246-dense512", 0, FINISHED),
        ("densenet201", "metadata", None, 0, FINISHED, "lesion"),
        ("densenet201", "metadata", None, 1, FINISHED, "lesion"),
    ],
}


def dataset() -> pd.DataFrame:
    """image_id, lesion_id and label of the fixture's 1,400 images: in each class, the first 60% of its
    images come two to a lesion, the rest one to a lesion."""
    labels = np.repeat(np.arange(len(CLASSES)), [CLASS_COUNTS[c] for c in CLASSES])
    lesions = []
    for label, name in enumerate(CLASSES):
        count = CLASS_COUNTS[name]
        paired = int(0.6 * count) // 2 * 2
        lesions += [f"LES_{name}_{k // 2 if k < paired else k:04d}" for k in range(count)]
    return pd.DataFrame({"image_id": [f"SYN_{i:07d}" for i in range(len(labels))], "lesion_id": lesions, "label": labels})


def split(frame: pd.DataFrame, seed: int, split_name: str = "paper") -> pd.DataFrame:
    """A stratified split: ``paper`` makes every tenth image of each class (after a seeded shuffle)
    validation, lesions ignored; ``leaky`` every seventh image test and the one after it validation,
    lesions ignored; ``lesion`` every seventh lesion of each class test and the one after it
    validation, each lesion whole."""
    rng = np.random.default_rng(seed)
    part = np.full(len(frame), "train", dtype=object)
    if split_name in ("paper", "leaky"):
        order = rng.permutation(len(frame))
        for label in range(len(CLASSES)):
            members = order[frame["label"].to_numpy()[order] == label]
            if split_name == "paper":
                part[members[::10]] = "val"
            else:
                part[members[::7]] = "test"
                part[members[1::7]] = "val"
    else:
        lesions = frame.drop_duplicates("lesion_id")
        order = lesions.iloc[rng.permutation(len(lesions))]
        for label in range(len(CLASSES)):
            members = order.loc[order["label"] == label, "lesion_id"].to_numpy()
            part[frame["lesion_id"].isin(members[::7]).to_numpy()] = "test"
            part[frame["lesion_id"].isin(members[1::7]).to_numpy()] = "val"
    return pd.DataFrame({"image_id": frame["image_id"], "lesion_id": frame["lesion_id"], "part": part})


def _write_validation(folder: Path, val: pd.DataFrame, cell_id: str, bonus: float) -> None:
    """predictions-val.csv of a cell reported on another part, from a stream of its own (so the
    reported part's numbers stay as they were)."""
    rng = np.random.default_rng(zlib.crc32(f"{cell_id}-val".encode()))
    y_true = val["label"].to_numpy()
    logits = rng.normal(0.0, 1.0, (len(val), len(CLASSES)))
    logits[np.arange(len(val)), y_true] += bonus
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    write_predictions(folder / VAL_PREDICTIONS_FILE, val["image_id"].tolist(), y_true, probs)


def write_cell(run: Path, frame: pd.DataFrame, parts: pd.DataFrame, backbone: str, recipe: str,
               ablation: str | None, seed: int, status: str, split: str = "paper", root: str = "synthetic",
               synthetic: bool = False) -> None:
    middle = f"ablation-{ablation}" if ablation else recipe
    cell_id = f"{backbone}-{middle}-{split}-s{seed}"
    folder = run / cell_id
    if not (run / split_file(split, seed)).exists():  # the run folder's split of this seed, as the runner writes it
        write_split(run / split_file(split, seed), parts)
    row = ABLATION_ROWS.get(ablation or "")
    CellConfig(
        cell_id=cell_id, backbone=backbone, recipe=recipe, ablation=ablation, seed=seed, split=split, image_size=64,
        epochs=3, batch_size=32, weights="none", attention="paper" if row is None or row.attention else None,
        metadata=recipe == "metadata" and (row is None or row.metadata), cut=row.cut_key if row else None,
        extra_dense=row.extra_dense if row else 0, precision="float32", jit=False,
        deterministic=False, bn_momentum=None, gradient_accumulation=None, schedule=ScheduleRecord(**SCHEDULE, class_weights="balanced" if recipe == "metadata" else None),
        dataset=DatasetRecord("synthetic" if synthetic else "ham10000", synthetic, root, len(frame), FINGERPRINT),
        backend="tensorflow",
    ).write(folder)
    Environment(
        skinbench="0.1.0", python="3.11.0", backend="tensorflow",
        versions={"keras": "3.0.0", "tensorflow": "2.16.0", "numpy": "2.0.0"}, gpus=[],
        cpu=CpuRecord("x86_64", 2, 2, 2), ram_gib=8.0, platform="Linux", hostname="fixture",
    ).write(folder)
    if status == PENDING:  # a running cell has only its config, env and checkpoint/ (not read by the report)
        return
    rng = np.random.default_rng(zlib.crc32(cell_id.encode()))
    bonus = SKILL[backbone] + ABLATION_BONUS.get(ablation or "", 0.0) - PENALTY.get(split, 0.0)
    epochs = 3
    history = pd.DataFrame({
        "epoch": np.arange(1, epochs + 1),
        "loss": np.round(1.6 / np.arange(1, epochs + 1) + rng.uniform(0, 0.1, epochs), 4),
        "accuracy": np.round(0.5 + 0.1 * np.arange(epochs) + rng.uniform(0, 0.05, epochs), 4),
        "val_loss": np.round(1.8 / np.arange(1, epochs + 1) + rng.uniform(0, 0.1, epochs), 4),
        "val_accuracy": np.round(0.45 + 0.1 * np.arange(epochs) + rng.uniform(0, 0.05, epochs), 4),
        "learning_rate": [0.001] * epochs,
        "seconds": np.round(EPOCH_S[backbone] * np.r_[3.0, np.ones(epochs - 1)] + rng.uniform(0, 1, epochs), 2),
        "val_seconds": [round(0.1 * EPOCH_S[backbone], 2)] * epochs,
    })
    if status == FAILED:  # failed before its evaluation: no history.csv or results yet
        CellStatus(
            FAILED, "ResourceExhaustedError: out of memory allocating tensor with shape [32,2048,7,7]",
            "2025-01-01T00:00:00+00:00", "Traceback (most recent call last):\n  ...",
        ).write(folder)
        return
    write_history(folder, history.to_dict("records"))
    reported = "val" if split == "paper" else "test"
    val = frame[(parts["part"] == reported).to_numpy()]
    y_true = val["label"].to_numpy()
    logits = rng.normal(0.0, 1.0, (len(val), len(CLASSES)))
    logits[np.arange(len(val)), y_true] += bonus
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    write_predictions(folder / PREDICTIONS_FILE, val["image_id"].tolist(), y_true, probs)
    CellMetrics(reported, len(val), compute_metrics(y_true, probs)).write(folder)
    if reported == "val":  # the validation part is the reported part: the same predictions
        write_predictions(folder / VAL_PREDICTIONS_FILE, val["image_id"].tolist(), y_true, probs)
    else:
        _write_validation(folder, frame[(parts["part"] == "val").to_numpy()], cell_id, bonus)
    params, depth, size_mb, flops = MODEL[backbone]
    params += 4096 * 22 if recipe == "metadata" else 0
    backbone_params, backbone_depth = BACKBONE[backbone]
    ModelSummary(
        params, params - 60_000, 60_000, depth, size_mb, int(flops / 2), int(flops),
        backbone_params=backbone_params, backbone_depth=backbone_depth, backbone_size_mb=backbone_params * 4 / 2**20,
    ).write(folder)
    n_train = int((parts["part"] == "train").sum())
    epoch_s = float(np.median(history["seconds"].iloc[1:]))
    Timing(
        first_epoch_s=float(history["seconds"].iloc[0]), epoch_s=epoch_s,
        train_images_per_s=round(n_train / epoch_s, 3), eval_s=1.5, latency_ms_b1=12.0, latency_ms_b32=3.1,
        epochs_run=epochs, best_epoch=epochs, n_train_images=n_train, epoch_images=n_train, dtype_policy="float32", replicas=1,
        traced_epochs=(1,), gradient_accumulation=1, micro_batch_size=32, peak_memory_gib=None,
        peak_memory_upper_bound=False, gpu_sharing=1,
    ).write(folder)
    CellStatus(FINISHED, None, "2025-01-01T00:00:00+00:00").write(folder)


def main(out: Path = FIXTURES) -> None:
    frame = dataset()
    for shard, cells in CELLS.items():
        run = out / f"shard-{shard}"
        split_names = ["paper", *sorted({split for _, _, _, _, _, *given in cells for split in given} - {"paper"})]
        splits = {(split_name, seed): split(frame, seed, split_name) for split_name in split_names for seed in SEEDS}
        sizes = {
            f"{split_name}-s{seed}": {
                part: {c: int(((parts["part"] == part) & (frame["label"] == i)).sum()) for i, c in enumerate(CLASSES)}
                for part in (("train", "val") if split_name == "paper" else ("train", "val", "test"))
            }
            for (split_name, seed), parts in splits.items()
        }
        DataInfo(
            name="ham10000", synthetic=False, root="synthetic", layout="ham10000", has_metadata=True,
            fingerprint=FINGERPRINT, n_images=len(frame), class_counts=CLASS_COUNTS, dropped={}, problems=[],
            splits=sizes,
        ).write(run)
        for (split_name, seed), parts in splits.items():
            write_split(run / split_file(split_name, seed), parts)
        for backbone, recipe, ablation, seed, status, *given in cells:
            split_name = given[0] if given else "paper"
            write_cell(run, frame, splits[split_name, seed], backbone, recipe, ablation, seed, status, split_name)

if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURES)
