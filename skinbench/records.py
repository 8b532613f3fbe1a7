"""The run folder's files, each defined once: what the runner and trainer write and the report reads.

A run folder (``--out``) holds ``data.json``, one split CSV per (protocol, seed) and one folder
per cell. Each JSON file of a cell is a frozen dataclass below with ``write(folder)`` (atomic,
through ``skinbench.io``) and ``read(folder)``; the file names and the CSV columns are here
too. Every JSON file carries ``format_version``. Reading checks it and the keys, so a file that
is missing, truncated, of an unknown version or with other keys is a ``RecordError`` naming
the file and what to do, never a ``KeyError``. Files without ``format_version`` come from
skinbench 0.1.0, before the records were versioned (format 1), and are refused the same way.
docs/architecture.md and results/README.md list the same keys
(tests/test_records.py compares them with the dataclasses).

Leaf module: it imports neither Keras nor any other skinbench layer but ``errors`` and ``io``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pandas as pd

from skinbench.errors import RunError
from skinbench.io import read_json, write_csv, write_json

#: The version of the run-folder format this skinbench writes and reads (2: config.json's
#: ``schedule`` and ``deterministic``, timing.json's ``epoch_images`` and ``dtype_policy``;
#: 3: config.json's ``bn_momentum``; 4: config.json's ``schedule`` per recipe (``follows``,
#: ``learning_rate``, ``reduce_lr``, ``class_weights``, ``augment_per_class``; ``epoch_steps`` from the
#: training part) and the split files' ``lesion_id``).
FORMAT_VERSION = 4
VERSION_KEY = "format_version"

#: A cell's states: ``finished`` and ``failed`` are written to status.json; a cell folder without
#: status.json is ``pending`` (not started, running or killed).
FINISHED, FAILED, PENDING = "finished", "failed", "pending"
STATUSES = (FINISHED, FAILED)

# Files and folders of a run folder that are not JSON records.
HISTORY_FILE = "history.csv"
PREDICTIONS_FILE = "predictions.csv"
MODEL_FILE = "model.keras"  #: the kept model (inference.json says how to feed it)
EXPORT_DIR = "export"  #: ``skinbench export``'s files and their ExportReport records
EXPLAIN_DIR = "explain"  #: ``skinbench explain``'s figures
CLASS_MEANS = "class_means.png"  #: its mean attention map per class (``--per-class``)
TENSORBOARD_DIR = "tensorboard"  #: TensorBoard event files, train/ and validation/, one step per epoch
JOBS_DIR = "jobs"  #: (run folder) the scripts, pickles and logs of --executor local|slurm jobs, one folder per job
CHECKPOINT_DIR = "checkpoint"  #: resume state while a cell runs (train.state); removed when it finishes
DATA_LOCK_FILE = ".data.json.lock"  #: runs and shards take turns on it to merge their splits into data.json
#: history.csv: one row per epoch. ``seconds`` is the training pass, ``val_seconds`` the validation after it.
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds", "val_seconds")


#: A split file's columns: each image's lesion travels with its part, so the report can resample lesions.
SPLIT_COLUMNS = ("image_id", "lesion_id", "part")
#: The parts a split assigns images to.
PARTS = ("train", "val", "test")


def split_file(protocol: str, seed: int) -> str:
    """The run folder's file holding the split of (protocol, seed): SPLIT_COLUMNS."""
    return f"split-{protocol}-s{seed}.csv"


def write_split(path: Path, split: pd.DataFrame) -> Path:
    """Write a split file (SPLIT_COLUMNS of ``split``) atomically."""
    return write_csv(Path(path), split[list(SPLIT_COLUMNS)])


def read_split(path: Path) -> pd.DataFrame:
    """A split file as text columns; RecordError naming the file when it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise RecordError(f"{path}: missing; the run writes it before any cell trains: run the same command again")
    try:
        split = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise RecordError(f"{path}: cannot read ({exc}); delete it to make a new split") from None
    if tuple(split.columns) != SPLIT_COLUMNS or not split["part"].isin(PARTS).all():
        raise RecordError(
            f"{path} is not a split file of this skinbench (columns {','.join(SPLIT_COLUMNS)}; parts "
            f"{', '.join(PARTS)}); rerun into a new --out"
        )
    return split


class RecordError(RunError):
    """A run-folder file is missing, unreadable, of an unknown version or has other keys."""


R = TypeVar("R", bound="Record")


@dataclasses.dataclass(frozen=True)
class Record:
    """Base of the JSON records: a file name and the dataclass's fields as its keys."""

    FILE: ClassVar[str]

    def write(self, folder: Path) -> Path:
        """Write ``folder/FILE`` atomically, with ``format_version``."""
        return self.write_path(Path(folder) / self.FILE)

    def write_path(self, path: Path) -> Path:
        """Write the record to ``path`` (a record kept beside another file, e.g. an export's)."""
        return write_json(Path(path), {VERSION_KEY: FORMAT_VERSION, **dataclasses.asdict(self)})

    @classmethod
    def read(cls: type[R], folder: Path) -> R:
        """Read ``folder/FILE``; RecordError naming the file when it cannot be used."""
        return cls.read_path(Path(folder) / cls.FILE)

    @classmethod
    def read_path(cls: type[R], path: Path) -> R:
        """Read the record from ``path``; RecordError naming the file when it cannot be used."""
        path = Path(path)
        if not path.exists():
            raise RecordError(f"{path}: missing; rerun the cell (same command) or remove its folder")
        try:
            data = read_json(path)
        except (OSError, ValueError) as exc:
            raise RecordError(f"{path}: cannot read ({exc}); the file is truncated or not JSON: rerun the cell or remove its folder") from None
        if not isinstance(data, dict):
            raise RecordError(f"{path}: expected a JSON object")
        return cls.from_json(data, path)

    @classmethod
    def read_if_present(cls: type[R], folder: Path) -> R | None:
        """``read`` when the file exists, else None."""
        return cls.read(folder) if (Path(folder) / cls.FILE).exists() else None

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The file's keys besides ``format_version``."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_json(cls: type[R], data: dict[str, Any], path: Path | str = "") -> R:
        """The record from a file's object (``path`` names it in errors)."""
        data = dict(data)
        version = data.pop(VERSION_KEY, 1)  # unversioned: skinbench 0.1.0, format 1
        if version != FORMAT_VERSION:
            newer = isinstance(version, int) and version > FORMAT_VERSION
            raise RecordError(
                f"{path}: run-folder format {version!r}, but this skinbench reads format {FORMAT_VERSION}; "
                + ("upgrade skinbench to read it" if newer else "rerun the cell with this skinbench into a new --out")
            )
        return _build(cls, data, path)


def _build(cls: type, data: dict[str, Any], path: Path | str) -> Any:
    """A dataclass from a dict whose keys must be its fields; nested dataclasses and tuples converted."""
    names = {f.name for f in dataclasses.fields(cls)}
    missing, unknown = sorted(names - set(data)), sorted(set(data) - names)
    if missing or unknown:
        parts = [f"lacks {', '.join(missing)}" if missing else "", f"has unknown {', '.join(unknown)}" if unknown else ""]
        raise RecordError(
            f"{path}: {' and '.join(p for p in parts if p)}; it was not written by this version of skinbench "
            "(rerun the cell into a new --out)"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name in names:
        value, hint = data[name], hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise RecordError(f"{path}: {name} must be an object")
            value = _build(hint, value, f"{path} ({name})")
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class ScheduleRecord:
    """config.Schedule as the cell ran it (its batch size and epoch cap are config.json's
    ``batch_size`` and ``epochs``)."""

    name: str  #: a key of config.SCHEDULES
    follows: str  #: the paper's text, or the author's notebook (repository@commit: path)
    epoch_steps: int | None  #: batches per epoch; None: an epoch is one pass over the training part
    learning_rate: float  #: Adam's
    reduce_lr: bool  #: ReduceLROnPlateau on the validation loss
    class_weights: str | None  #: the loss's class-weight rule (config.BALANCED, config.MELANOMA_X5) or None
    augment_per_class: int | None  #: augmented recipe: each class grown to this many; None: the paper's growth
    monitor: str  #: EarlyStopping's quantity
    patience: int
    min_delta: float


@dataclasses.dataclass(frozen=True)
class DatasetRecord:
    name: str  #: catalogue.DATASETS
    synthetic: bool
    root: str
    n_images: int
    fingerprint: str


@dataclasses.dataclass(frozen=True)
class CellConfig(Record):
    """config.json: every resolved setting of a cell, written when it starts."""

    FILE: ClassVar[str] = "config.json"

    cell_id: str
    backbone: str
    recipe: str
    ablation: str | None  #: a key of catalogue.ABLATION_ROWS, None for matrix cells
    seed: int
    split: str
    image_size: int
    epochs: int
    batch_size: int
    weights: str
    attention: str | None  #: None: no soft attention (an ablation row without it)
    metadata: bool
    cut: str | None  #: None: the backbone's default cut
    extra_dense: int
    precision: str
    jit: bool
    deterministic: bool
    bn_momentum: float | None  #: every BatchNormalization layer's momentum; None: the backbone's own
    schedule: ScheduleRecord
    dataset: DatasetRecord
    backend: str

    def differences(self, other: CellConfig) -> list[str]:
        """``key: old -> new`` for every top-level key whose value differs."""
        mine, theirs = dataclasses.asdict(self), dataclasses.asdict(other)
        return [f"{key}: {mine[key]!r} -> {theirs[key]!r}" for key in mine if mine[key] != theirs[key]]


@dataclasses.dataclass(frozen=True)
class CellStatus(Record):
    """status.json: written last; a cell is finished only when it says so."""

    FILE: ClassVar[str] = "status.json"

    status: str  #: FINISHED or FAILED
    error: str | None
    finished_at: str
    traceback: str | None = None

    @classmethod
    def now(cls, status: str, error: str | None = None, traceback: str | None = None) -> CellStatus:
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        return cls(status, error, stamp, traceback)

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | str = "") -> CellStatus:
        record = super().from_json({"traceback": None, **data}, path)  # a finished cell has no traceback
        if record.status not in STATUSES:
            raise RecordError(f"{path}: unknown status {record.status!r} (expected {' or '.join(STATUSES)})")
        return record


@dataclasses.dataclass(frozen=True)
class CpuRecord:
    model: str
    physical_cores: int | None
    logical_cores: int | None
    usable_cores: int | None


@dataclasses.dataclass(frozen=True)
class Environment(Record):
    """env.json: the machine and software a cell ran on."""

    FILE: ClassVar[str] = "env.json"

    skinbench: str
    python: str
    backend: str
    versions: dict[str, str | None]  #: keras, tensorflow, jax, jaxlib, torch, numpy
    gpus: list[dict[str, Any]]  #: ``{"name", "memory_gib"}`` per GPU; empty on CPU
    cpu: CpuRecord
    ram_gib: float
    platform: str
    hostname: str

    def device(self) -> str | None:
        """The accelerator(s), else the CPU model and its usable cores."""
        names = [g.get("name") for g in self.gpus if isinstance(g, dict) and g.get("name")]
        if names:
            return ", ".join(f"{name} x{names.count(name)}" for name in dict.fromkeys(names))
        if not self.cpu.model:
            return None
        cores = self.cpu.usable_cores or self.cpu.logical_cores
        return f"CPU {self.cpu.model}" + (f" ({cores} cores)" if cores else "")


@dataclasses.dataclass(frozen=True)
class ModelSummary(Record):
    """model.json: the trained model's size (models.accounting.summarize), and the bare Keras
    application's, as the paper's Tables 3 and 11 count it (models.accounting.backbone_summary:
    native size, include_top=True; None where the cell's backbone was not known)."""

    FILE: ClassVar[str] = "model.json"

    params: int
    trainable_params: int
    non_trainable_params: int
    depth: int  #: layers holding weights (the Keras applications convention)
    size_mb: float  #: MiB of float32 weights
    macs: int  #: multiply-accumulates per image of the layers with a kernel
    flops: int  #: 2 x macs
    backbone_params: int | None = None  #: the bare application's parameters
    backbone_depth: int | None = None  #: its layers holding weights
    backbone_size_mb: float | None = None  #: MiB of its float32 weights


@dataclasses.dataclass(frozen=True)
class Timing(Record):
    """timing.json: how long the epochs, the evaluation and single predictions took.

    The first epoch of every training process traces and compiles, so it is reported apart and
    left out of ``epoch_s`` (``traced_epochs`` lists those epochs, a resume adds one).
    """

    FILE: ClassVar[str] = "timing.json"

    first_epoch_s: float | None
    epoch_s: float | None  #: median training pass of the epochs that did not trace
    train_images_per_s: float | None  #: epoch_images / epoch_s
    eval_s: float
    latency_ms_b1: float
    latency_ms_b32: float
    epochs_run: int
    best_epoch: int | None
    n_train_images: int  #: images in the training part (after offline augmentation)
    epoch_images: int  #: images one epoch trains on: its batches, all full
    dtype_policy: str  #: the Keras dtype policy that ran (train.precision)
    replicas: int
    traced_epochs: tuple[int, ...]
    #: cells the executor ran at once on this cell's device (its GPU, else the machine's CPU): 1 alone,
    #: so a time per epoch is compared only with one measured under the same sharing; None in files
    #: written before it was recorded
    gpu_sharing: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | str = "") -> Timing:
        return super().from_json({"gpu_sharing": None, **data}, path)  # absent from earlier files


@dataclasses.dataclass(frozen=True)
class CellMetrics(Record):
    """metrics.json: ``eval.metrics.compute_metrics`` of predictions.csv, and the part it covers.

    ``values`` (accuracy, balanced accuracy, macro/weighted means, per class, confusion
    matrix...) is stored at the top level of the file beside ``part`` and ``n_images``.
    """

    FILE: ClassVar[str] = "metrics.json"

    part: str  #: the reported part: val (paper split) or test
    n_images: int
    values: dict[str, Any]

    def write_path(self, path: Path) -> Path:
        return write_json(Path(path), {VERSION_KEY: FORMAT_VERSION, **self.values, "part": self.part, "n_images": self.n_images})

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | str = "") -> CellMetrics:
        data = dict(data)
        version = data.pop(VERSION_KEY, 1)
        missing = [key for key in ("part", "n_images", "accuracy", "balanced_accuracy") if key not in data]
        if missing:
            raise RecordError(f"{path}: lacks {', '.join(missing)}; rerun the cell or remove its folder")
        base = super().from_json({VERSION_KEY: version, "part": data.pop("part"), "n_images": data.pop("n_images"), "values": {}}, path)
        return dataclasses.replace(base, values=data)


@dataclasses.dataclass(frozen=True)
class InferenceInfo(Record):
    """inference.json: what predicting with the cell's kept model needs besides model.keras.

    Images are decoded and resized as in training (``data.cache.load_image`` at ``image_size``
    by ``resize_rule``); a metadata model's features come from ``metadata_encoder``
    (``data.metadata.MetadataEncoder.to_dict``, fitted on the cell's training part).
    """

    FILE: ClassVar[str] = "inference.json"

    model_file: str  #: the Keras model with its best-validation weights, beside this file
    model_bytes: int  #: its size on disk
    backbone: str
    image_size: int
    resize_rule: str
    classes: tuple[str, ...]  #: the order of the model's outputs (skinbench.classes.CLASSES)
    metadata_encoder: dict[str, Any] | None  #: None: an image-only model


@dataclasses.dataclass(frozen=True)
class ExportReport(Record):
    """An exported model's measurements (``skinbench export``), kept beside the file as ``<file>.json``."""

    FILE: ClassVar[str] = "export.json"

    cell_id: str
    format: str  #: tflite, tflite-fp16, tflite-int8 or saved_model
    file: str  #: the exported file's name, beside this record
    size_mb: float  #: MiB on disk
    device: str  #: the CPU the latency was measured on
    latency_ms_1_thread: dict[str, float] | None  #: median, q1, q3, runs (LiteRT, batch 1); None for saved_model
    latency_ms_all_threads: dict[str, float] | None
    threads: int  #: what "all threads" was
    n_images: int  #: images of the reported part compared with the Keras model
    argmax_agreement: float  #: share of those images with the same predicted class
    confident_images: int  #: those whose Keras top-two probabilities differ by at least deploy.export.MARGIN
    confident_agreement: float | None  #: argmax agreement on them (None when there are none)
    max_probability_difference: float
    accuracy_change: float  #: exported - Keras
    balanced_accuracy_change: float


@dataclasses.dataclass(frozen=True)
class LesionAttention(Record):
    """Where the soft attention falls on a synthetic set's known lesions (``skinbench explain --per-class``),
    in ``<cell>/explain/``. Each figure is a mean over images of the share of alpha inside the lesion."""

    FILE: ClassVar[str] = "lesion_attention.json"

    n_images: int
    trained: float  #: the cell's model
    randomised: float  #: the same architecture with fresh weights (deploy.explain.randomised)
    area: float  #: the lesion's share of the map: what attention spread evenly would give
    trained_above_randomised: int  #: images whose trained share exceeds their randomised share
    per_class: dict[str, dict[str, float]]  #: class code -> n_images, trained, randomised, area


@dataclasses.dataclass(frozen=True)
class DataInfo(Record):
    """data.json (run folder): the dataset, its class counts, dropped rows and each split's sizes."""

    FILE: ClassVar[str] = "data.json"

    name: str
    synthetic: bool
    root: str
    layout: str  #: ``ham10000`` or ``isic2018``
    has_metadata: bool
    fingerprint: str  #: changes when the CSV or any image changes
    n_images: int
    class_counts: dict[str, int]
    dropped: dict[str, int]  #: reason -> rows dropped
    problems: list[str]
    splits: dict[str, dict[str, dict[str, int]]]  #: ``<protocol>-s<seed>`` -> part -> class -> images


@dataclasses.dataclass(frozen=True)
class SourceRecord:
    """train.rundata.DataSource as the submitting command gave it."""

    name: str  #: catalogue.DATASETS
    data_dir: str | None
    strict: bool
    synthetic_count: int  #: the synthetic set the profile generates (``--dataset synthetic``)
    synthetic_size: tuple[int, int]
    synthetic_seed: int


@dataclasses.dataclass(frozen=True)
class CellJob(Record):
    """job.json (cell folder): what a job of ``--executor local|slurm`` reads besides config.json.

    Written by the submitting command before it submits the cell; the job receives only the run
    folder and the cell id and reads this, config.json and the prepared data.
    """

    FILE: ClassVar[str] = "job.json"

    executor: str  #: local or slurm
    source: SourceRecord
    cache_root: str  #: skinbench.paths.cache_root() of the submitting command, where the data was prepared
    settings: dict[str, Any]  #: config.Settings, field by field
    gpu: str | None  #: the GPU the local executor gave the job (CUDA_VISIBLE_DEVICES); None: the scheduler's
    gpu_sharing: int  #: cells the executor runs at once on that GPU (Timing.gpu_sharing)
    submitted_at: str


@dataclasses.dataclass(frozen=True)
class JobIds(Record):
    """jobs.json (run folder): the executor's job of each submitted cell, written once they are submitted."""

    FILE: ClassVar[str] = "jobs.json"

    executor: str  #: local or slurm
    submitted_at: str  #: the latest submission
    logs: str  #: the folder of the executor's scripts, pickles and logs (``<run>/jobs/``)
    array_job_ids: tuple[str, ...]  #: SLURM array jobs, oldest first (empty for local)
    cells: dict[str, str]  #: cell id -> the job id of its latest submission


@dataclasses.dataclass(frozen=True)
class CellProgress(Record):
    """progress.json (cell folder): where a cell runs and how far it is, rewritten at its start and after each epoch.

    ``skinbench status`` reads it while the cell runs, on this machine or another.
    """

    FILE: ClassVar[str] = "progress.json"

    phase: str  #: starting, training, evaluating, finished, failed or requeued
    epochs_done: int
    resumed_from: int  #: epochs its checkpoint held when this attempt started (0: a fresh start)
    max_epochs: int  #: the epoch cap (early stopping may end sooner)
    best_epoch: int | None
    best_val_accuracy: float | None
    last_epoch: dict[str, float] | None  #: the last epoch's row of history.csv
    epoch_s: float | None  #: training + validation seconds of an epoch (median of those that did not trace)
    train_s: float  #: training + validation seconds of every epoch so far, over all attempts
    started_at: str  #: when this attempt started (ISO 8601, UTC)
    updated_at: str
    executor: str  #: inline, local or slurm
    host: str
    pid: int
    gpu: str | None  #: CUDA_VISIBLE_DEVICES of the process, None when unset
    gpu_sharing: int
    job_id: str | None  #: the executor's job id; None inline


def write_history(folder: Path, rows: list[dict[str, Any]]) -> Path:
    """history.csv from the trainer's per-epoch rows (HISTORY_COLUMNS, in that order)."""
    return write_csv(Path(folder) / HISTORY_FILE, pd.DataFrame(rows, columns=list(HISTORY_COLUMNS)))


def read_history(folder: Path) -> pd.DataFrame | None:
    """history.csv, or None when absent; RecordError when unreadable or without HISTORY_COLUMNS."""
    path = Path(folder) / HISTORY_FILE
    if not path.exists():
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: cannot read ({exc})") from None
    missing = [c for c in HISTORY_COLUMNS if c not in frame.columns]
    if missing:
        raise RecordError(f"{path}: lacks the column(s) {', '.join(missing)}")
    return frame


def status_of(folder: Path) -> str:
    """FINISHED, FAILED or PENDING (no status.json: never run, running or killed)."""
    status = CellStatus.read_if_present(folder)
    return PENDING if status is None else status.status

