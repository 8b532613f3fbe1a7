"""The run folder's files, each defined once: what the runner and trainer write and the report reads.

A run folder (``--out``) holds ``data.json``, one split CSV per (split, seed) and one folder
per cell. Each JSON file of a cell is a frozen dataclass below with ``write(folder)`` (atomic,
through ``skinbench.io``) and ``read(folder)``; the file names and the CSV columns are here
too. Every JSON file carries ``format_version``. Reading checks it, the keys and each value's
type, so a file that is missing, truncated, of an unknown version, with other keys or a value
of the wrong type is a ``RecordError`` naming the file (and the key) and what to do, never a
``KeyError`` or ``TypeError``. Files without ``format_version`` come from skinbench 0.1.0, before
the records were versioned (format 1), and are refused the same way. Since format 4,
metrics.json records the SHA-256 of the predictions.csv it was computed from, and
``cell_damage`` checks a finished cell's files against each other (the report, ``skinbench
status`` and ``skinbench run`` call it). docs/architecture.md and results/README.md list the
same keys (tests/test_records.py compares them with the dataclasses).

Leaf module: it imports neither Keras nor any other skinbench layer but ``errors`` and ``io``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import types
import typing
import zipfile
from pathlib import Path
from typing import Any, ClassVar, TypedDict, TypeVar

import pandas as pd

from skinbench.errors import RunError
from skinbench.io import read_json, write_csv, write_json

#: The version of the run-folder format this skinbench writes and reads (2: config.json's
#: ``schedule`` and ``deterministic``, timing.json's ``epoch_images`` and ``dtype_policy``;
#: 3: config.json's ``bn_momentum``; 4: config.json's ``schedule`` per recipe (``follows``,
#: ``learning_rate``, ``reduce_lr``, ``class_weights``, ``augment_per_class``; ``epoch_steps`` from the
#: training part) and ``gradient_accumulation``, the split files' ``lesion_id``, timing.json's
#: ``gradient_accumulation``, ``micro_batch_size``, ``peak_memory_gib`` and
#: ``peak_memory_upper_bound``, job.json's ``require_gpu``, metrics.json's
#: ``predictions_sha256``, and history.csv's ``val_loss`` unweighted for every recipe).
FORMAT_VERSION = 4
VERSION_KEY = "format_version"

#: A cell's states: ``finished`` and ``failed`` are written to status.json; a cell folder without
#: status.json is ``pending`` (not started, running or killed). ``damaged`` is no status.json
#: value: the report and ``skinbench status`` call a finished cell so when ``cell_damage`` finds
#: one of its files missing, unreadable or changed.
FINISHED, FAILED, PENDING, DAMAGED = "finished", "failed", "pending", "damaged"
STATUSES = (FINISHED, FAILED)

# Files and folders of a run folder that are not JSON records.
HISTORY_FILE = "history.csv"
PREDICTIONS_FILE = "predictions.csv"
#: The validation part's predictions by the evaluated weights: what calibration and operating
#: points are fitted on (report.clinical); cells trained before it was written lack it.
VAL_PREDICTIONS_FILE = "predictions-val.csv"
MODEL_FILE = "model.keras"  #: the kept model (inference.json says how to feed it)
EXPORT_DIR = "export"  #: ``skinbench export``'s files and their ExportReport records
EXPLAIN_DIR = "explain"  #: ``skinbench explain``'s figures
CLASS_MEANS = "class_means.png"  #: its mean attention map per class (``--per-class``)
TENSORBOARD_DIR = "tensorboard"  #: TensorBoard event files, train/ and validation/, one step per epoch
JOBS_DIR = "jobs"  #: (run folder) the scripts, pickles and logs of --executor local|slurm jobs, one folder per job
CHECKPOINT_DIR = "checkpoint"  #: resume state while a cell runs (train.state); removed when it finishes
DATA_LOCK_FILE = ".data.json.lock"  #: runs and shards take turns on it to merge their splits into data.json
CELL_LOCK_FILE = ".cell.lock"  #: (cell folder) held by the one process that trains or repairs the cell (train.celllock)
#: history.csv: one row per epoch. ``seconds`` is the training pass, ``val_seconds`` the validation after it.
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds", "val_seconds")


#: A split file's columns: each image's lesion travels with its part, so the report can resample lesions.
SPLIT_COLUMNS = ("image_id", "lesion_id", "part")
#: The parts a split assigns images to.
PARTS = ("train", "val", "test")


def split_file(split: str, seed: int) -> str:
    """The run folder's file holding split ``split`` drawn under ``seed``: SPLIT_COLUMNS."""
    return f"split-{split}-s{seed}.csv"


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


#: What an error about a damaged file of a cell tells the user to do: ``skinbench run`` checks a
#: finished cell's files and repairs them (train.repair).
REPAIR = "run the same skinbench run command again to repair the cell"


R = TypeVar("R", bound="Record")


@dataclasses.dataclass(frozen=True)
class Record:
    """Base of the JSON records: a file name and the dataclass's fields as its keys."""

    FILE: ClassVar[str]
    #: What an error about the file tells the user to do.
    REMEDY: ClassVar[str] = REPAIR

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
            raise RecordError(f"{path}: missing; {cls.REMEDY}")
        try:
            data = read_json(path)
        except (OSError, ValueError) as exc:
            raise RecordError(f"{path}: cannot read ({exc}); the file is truncated or not JSON: {cls.REMEDY}") from None
        if not isinstance(data, dict):
            raise RecordError(f"{path}: expected a JSON object; {cls.REMEDY}")
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
        return _build(cls, data, path, cls.REMEDY)


def _build(cls: type, data: dict[str, Any], path: Path | str, remedy: str) -> Any:
    """A dataclass from a dict whose keys must be its fields and values their types; nested
    dataclasses and tuples converted. ``remedy`` ends the error about a value of the wrong type."""
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
                raise RecordError(f"{path}: {name} must be an object; {remedy}")
            value = _build(hint, value, f"{path} ({name})", remedy)
        else:
            problem = _type_problem(value, hint, name)
            if problem:
                raise RecordError(f"{path}: {problem}; the file is damaged or was not written by skinbench: {remedy}")
            if typing.get_origin(hint) is tuple:
                value = tuple(value)
        values[name] = value
    return cls(**values)


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", type(None): "null"}


def _type_problem(value: Any, hint: Any, key: str) -> str | None:
    """None when ``value`` (as read from JSON) has the type ``hint``, else what is wrong with it, naming ``key``.

    Handles the hints the records use: str, int, float (an integer is a number), bool, None,
    ``X | None``, ``list[X]``, ``tuple[X, ...]``, ``dict[K, V]``, a TypedDict and Any.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return None
    if origin in (typing.Union, types.UnionType):
        problems = [_type_problem(value, arg, key) for arg in args]
        if None in problems:
            return None
        specific = [p for arg, p in zip(args, problems) if arg is not type(None)]
        return specific[0] if len(specific) == 1 else f"{key} has the wrong type ({value!r})"
    if typing.is_typeddict(hint):
        if not isinstance(value, dict):
            return f"{key} must be an object, not {value!r}"
        fields = typing.get_type_hints(hint)
        missing = sorted(set(fields) - set(value))
        if missing:
            return f"{key} lacks {', '.join(missing)}"
        return next((p for name, sub in fields.items() if (p := _type_problem(value[name], sub, f"{key}.{name}"))), None)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            return f"{key} must be a list, not {value!r}"
        return next((p for i, item in enumerate(value) if (p := _type_problem(item, args[0], f"{key}[{i}]"))), None)
    if origin is dict:
        if not isinstance(value, dict):
            return f"{key} must be an object, not {value!r}"
        return next((p for k, item in value.items() if (p := _type_problem(item, args[1], f"{key}.{k}"))), None)
    kinds = (int, float) if hint is float else hint
    if isinstance(value, kinds) and not (isinstance(value, bool) and hint in (int, float)):
        return None
    return f"{key} must be {_TYPE_NAMES.get(hint, hint.__name__)}, not {value!r}"


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
    #: micro-batches per batch as asked (None: automatic, 1, and a retry with micro-batches after
    #: an out-of-memory error; timing.json says what ran)
    gradient_accumulation: int | None
    schedule: ScheduleRecord
    dataset: DatasetRecord
    backend: str

    def differences(self, other: CellConfig) -> list[str]:
        """``key: old -> new`` for every top-level key whose value differs.

        The dataset's ``root`` is where the data was read, not what it is: the same data (the
        same fingerprint) copied or unpacked elsewhere is no difference.
        """
        mine, theirs = dataclasses.asdict(self), dataclasses.asdict(other)

        def compared(config: dict[str, Any], key: str) -> Any:
            return {**config[key], "root": None} if key == "dataset" else config[key]

        return [f"{key}: {mine[key]!r} -> {theirs[key]!r}" for key in mine if compared(mine, key) != compared(theirs, key)]


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
    gradient_accumulation: int  #: micro-batches per batch that ran (1: none; config.json says whether it was asked for)
    micro_batch_size: int  #: samples per training step (batch_size / gradient_accumulation)
    peak_memory_gib: float | None  #: the GPU's peak allocated memory during the cell (None on a CPU)
    #: True when the backend (JAX) keeps one peak per process and this cell did not raise it: the
    #: cell's own peak is at most peak_memory_gib
    peak_memory_upper_bound: bool
    #: cells the executor ran at once on this cell's device (its GPU, else the machine's CPU): 1 alone,
    #: so a time per epoch is compared only with one measured under the same sharing
    gpu_sharing: int | None = None


@dataclasses.dataclass(frozen=True)
class CellMetrics(Record):
    """metrics.json: ``eval.metrics.compute_metrics`` of predictions.csv, the part it covers, and
    what predictions.csv held when the metrics were computed from it.

    ``values`` (accuracy, balanced accuracy, macro/weighted means, per class, confusion
    matrix...) is stored at the top level of the file beside ``part``, ``n_images`` (the rows of
    predictions.csv) and ``predictions_sha256``. Written after predictions.csv, beside it, the
    record takes that file's SHA-256 when none is given, so every metrics.json names the
    predictions it was computed from and ``cell_damage`` finds a predictions.csv cut or changed
    since.
    """

    FILE: ClassVar[str] = "metrics.json"

    part: str  #: the reported part: val (paper split) or test
    n_images: int  #: rows of predictions.csv
    values: dict[str, Any]
    predictions_sha256: str = ""  #: SHA-256 of predictions.csv as written ("": read from the file beside it when written)

    def write_path(self, path: Path) -> Path:
        path = Path(path)
        digest = self.predictions_sha256 or file_sha256(path.parent / PREDICTIONS_FILE)
        return write_json(path, {
            VERSION_KEY: FORMAT_VERSION, **self.values, "part": self.part, "n_images": self.n_images, "predictions_sha256": digest,
        })

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | str = "") -> CellMetrics:
        data = dict(data)
        version = data.pop(VERSION_KEY, 1)
        fields = ("part", "n_images", "predictions_sha256")
        missing = [key for key in (*fields, "accuracy", "balanced_accuracy") if key not in data]
        if missing and version == FORMAT_VERSION:
            raise RecordError(f"{path}: lacks {', '.join(missing)}; {cls.REMEDY}")
        base = super().from_json({VERSION_KEY: version, **{key: data.pop(key, None) for key in fields}, "values": {}}, path)
        return dataclasses.replace(base, values=data)


class EncoderRecord(TypedDict):
    """inference.json's ``metadata_encoder``: ``data.metadata.MetadataEncoder`` fitted on the cell's training part."""

    age_mean: float
    age_sd: float
    vocabularies: dict[str, list[str]]  #: sex and localization -> the values seen in training


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
    metadata_encoder: EncoderRecord | None  #: None: an image-only model


#: (cell folder) ``skinbench evaluate``'s results, one folder per dataset: ExternalInfo, metrics.json
#: (CellMetrics of predictions.csv: the images whose class has a HAM10000 counterpart),
#: unmapped.csv (the others, by their own class) and groups.csv (each scored image's group).
EXTERNAL_DIR = "external"
UNMAPPED_FILE = "unmapped.csv"
GROUPS_FILE = "groups.csv"
#: groups.csv's columns: each scored image's group (lesion, patient or case) and its own class.
GROUP_COLUMNS = ("image", "group", "source_class")


@dataclasses.dataclass(frozen=True)
class ExternalInfo(Record):
    """external.json: a kept model scored on another dataset (``skinbench evaluate``), in
    ``<cell>/external/<dataset>/``."""

    FILE: ClassVar[str] = "external.json"
    REMEDY: ClassVar[str] = "run skinbench evaluate on the cell again"

    dataset: str  #: the registry's name (data.datasets.DATASETS)
    title: str
    root: str  #: the folder it was read from
    scored_part: str  #: which of its images are scored
    group_key: str  #: what the report's intervals resample together (lesion, patient or case)
    n_images: int  #: images scored
    n_mapped: int  #: of which with a HAM10000 counterpart (predictions.csv)
    unmapped: dict[str, int]  #: its classes without a counterpart -> images (unmapped.csv)
    excluded: dict[str, int]  #: rows left out, by reason (HAM10000's images, missing files, unreadable)
    metadata: bool  #: the model took the set's age, sex and site
    shared_with_training: int | None  #: its images that duplicate one of the cell's training part (None: not checked)
    evaluated_at: str


@dataclasses.dataclass(frozen=True)
class ExportReport(Record):
    """An exported model's measurements (``skinbench export``), kept beside the file as ``<file>.json``."""

    FILE: ClassVar[str] = "export.json"
    REMEDY: ClassVar[str] = "export the cell in that format again (skinbench export ... --overwrite)"

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
    REMEDY: ClassVar[str] = "run skinbench explain --per-class on the cell again"

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
    REMEDY: ClassVar[str] = "delete it and run the same skinbench run command again: it writes data.json anew (each cell's config.json still names its data)"

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
    splits: dict[str, dict[str, dict[str, int]]]  #: ``<split>-s<seed>`` -> part -> class -> images


@dataclasses.dataclass(frozen=True)
class CellJob(Record):
    """job.json (cell folder): what a job of ``--executor local|slurm`` reads besides its task.

    Written by the submitting command before it submits the cell. The job's task carries the run
    specification and the cell (``train.jobs.CellTask``), from which the job rebuilds config.json;
    this file holds what belongs to the job alone: where the data was prepared, its GPU.
    """

    FILE: ClassVar[str] = "job.json"

    executor: str  #: local or slurm
    cache_root: str  #: skinbench.paths.cache_root() of the submitting command, where the data was prepared
    gpu: str | None  #: the GPU the local executor gave the job (CUDA_VISIBLE_DEVICES); None: the scheduler's
    gpu_sharing: int  #: cells the executor runs at once on that GPU (Timing.gpu_sharing)
    require_gpu: bool  #: the job fails its cell when it finds no GPU (no --allow-cpu, larger than smoke and demo)
    submitted_at: str

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | str = "") -> CellJob:
        """As every record; a job.json of an earlier skinbench, whose jobs read their data source and
        settings from it (``source``, ``settings``), is refused saying how to resubmit the cell."""
        if "settings" in data or "source" in data:
            raise RecordError(
                f"{path}: written by an earlier skinbench, whose jobs read their settings from it; "
                "run the same command again to resubmit the cell"
            )
        return super().from_json(data, path)


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


def kept_model_problem(folder: Path) -> str | None:
    """What is wrong with a cell's kept model (inference.json and the model file it names), None when it looks whole.

    Cheap enough for every finished cell of a run: it reads inference.json, the model file's
    size and its zip directory (a .keras file is a zip archive), not the weights.
    """
    folder = Path(folder)
    try:
        info = InferenceInfo.read(folder)
    except RecordError as exc:
        return str(exc)
    path = folder / info.model_file
    if not path.is_file():
        return f"{path}: missing, though {folder / InferenceInfo.FILE} names it"
    size = path.stat().st_size
    if size != info.model_bytes:
        return f"{path}: {size:,} bytes, but {InferenceInfo.FILE} records {info.model_bytes:,}: the file is truncated or was replaced"
    if not zipfile.is_zipfile(path):
        return f"{path}: not a Keras archive (a .keras file is a zip archive): the file is damaged"
    return None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def cell_damage(folder: Path, *, kept_model: bool = True) -> dict[str, str]:
    """What is wrong with a finished cell's result files: file name -> one line naming it and the
    remedy; empty when they are whole.

    It reads every record the report reads (metrics.json, timing.json, model.json, env.json,
    history.csv), checks predictions.csv against the row count and SHA-256 metrics.json recorded
    and, with ``kept_model``, the kept model (``kept_model_problem``) when the cell kept one.
    """
    folder = Path(folder)
    problems: dict[str, str] = {}
    read = {}
    for record in (CellMetrics, Timing, ModelSummary, Environment):
        try:
            read[record] = record.read(folder)
        except RecordError as exc:
            problems[record.FILE] = str(exc)
    try:
        if read_history(folder) is None:
            problems[HISTORY_FILE] = f"{folder / HISTORY_FILE}: missing; {REPAIR}"
    except RecordError as exc:
        problems[HISTORY_FILE] = f"{exc}; {REPAIR}"
    if CellMetrics in read:
        predictions = _predictions_problem(folder, read[CellMetrics])
        if predictions:
            problems[PREDICTIONS_FILE] = f"{predictions}; {REPAIR}"
    if kept_model and ((folder / InferenceInfo.FILE).exists() or (folder / MODEL_FILE).exists()):
        model = kept_model_problem(folder)
        if model:
            problems[MODEL_FILE] = model if model.endswith(REPAIR) else f"{model}; {REPAIR}"
    return problems


def _predictions_problem(folder: Path, metrics: CellMetrics) -> str | None:
    """None when predictions.csv is the file metrics.json was computed from, else what differs."""
    path = folder / PREDICTIONS_FILE
    if not path.is_file():
        return f"{path}: missing, though the cell finished"
    if file_sha256(path) == metrics.predictions_sha256:
        return None
    with open(path, "rb") as handle:
        rows = max(sum(1 for line in handle if line.strip()) - 1, 0)  # less the header
    return (
        f"{path}: changed since the cell wrote it ({rows} rows where {CellMetrics.FILE} counts {metrics.n_images}"
        f"{', and other bytes' if rows == metrics.n_images else ''})"
    )


def status_of(folder: Path) -> str:
    """FINISHED, FAILED or PENDING (no status.json: never run, running or killed)."""
    status = CellStatus.read_if_present(folder)
    return PENDING if status is None else status.status

