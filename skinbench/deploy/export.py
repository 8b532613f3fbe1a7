"""``skinbench export``: a kept cell as a TFLite file for a phone (or a SavedModel), measured.

Keras 3's ``model.export`` writes a TensorFlow SavedModel (the model's preprocessing and soft
attention inside, uint8 images in); TensorFlow's converter turns it into TFLite, in float32,
with float16 weights, or with int8 weights and activations calibrated on images of the
cell's training part (float inputs and outputs stay, so the app feeds the same tensors). The
file then runs in the LiteRT interpreter (``ai-edge-litert``) on this CPU: batch-1 latency
with one thread and with all, and agreement with the Keras model on the cell's reported part.
Everything is printed and kept beside the file as ``<file>.json`` (records.ExportReport), where
the report's deployment table finds it.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import keras
import numpy as np
import pandas as pd

from skinbench.catalogue import EXPORT_FORMATS
from skinbench.deploy.model import KeptModel, cell_dataset, load_cell, load_images, metadata_features
from skinbench.errors import RunError
from skinbench.eval.metrics import compute_metrics
from skinbench.eval.predictions import read_predictions
from skinbench.records import EXPORT_DIR, PREDICTIONS_FILE, CellConfig, ExportReport, split_file

#: Images of the training part that calibrate int8 activations.
REPRESENTATIVE_IMAGES = 100
#: A top-two probability gap at least this wide is "confident": int8 outputs move in steps of
#: 1/256, so an image whose two best classes are closer can swap them without the model changing.
MARGIN = 0.01
#: Timed interpreter calls per latency figure, after WARMUP untimed ones.
LATENCY_RUNS, WARMUP = 50, 5


def default_path(folder: Path, fmt: str) -> Path:
    """Where a format goes in the cell folder: ``export/model-<format>.tflite`` or ``export/saved_model``."""
    return Path(folder) / EXPORT_DIR / ("saved_model" if fmt == "saved_model" else f"model-{fmt}.tflite")


def report_path(path: Path) -> Path:
    """The ExportReport kept beside an exported file."""
    return Path(f"{path}.json")


def export_cell(
    folder: Path, fmt: str, out: Path | None = None, *, overwrite: bool = False, log: Callable[[str], None] = print
) -> ExportReport:
    """Export ``folder``'s kept model as ``fmt``, measure it, and write the file and its report.

    It writes only the exported file (or SavedModel folder) and its ``<file>.json``. Where
    either exists already it is replaced only with ``overwrite``, and only when it is an
    earlier export of the same format (``check_target``).
    """
    if fmt not in EXPORT_FORMATS:
        raise RunError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    if keras.backend.backend() != "tensorflow":
        raise RunError(f"export converts through TensorFlow: run it with KERAS_BACKEND=tensorflow (now {keras.backend.backend()})")
    path = Path(out) if out is not None else default_path(folder, fmt)
    check_target(path, fmt, overwrite=overwrite)
    kept = load_cell(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    reported = _reported_part(kept)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=path.parent) as tmp:
        saved = Path(tmp) / "saved_model"
        try:
            kept.model.export(str(saved), format="tf_saved_model", verbose=False)
        except Exception as exc:
            raise RunError(f"{kept.folder}: the model cannot be exported as a SavedModel ({_first_line(exc)})") from None
        if fmt == "saved_model":
            check_target(path, fmt, overwrite=overwrite)  # unchanged while the model was exported
            if path.exists():
                os.replace(path, Path(tmp) / "earlier")  # removed with the temporary folder
            os.replace(saved, path)
            predict = _saved_model_predictor(path)
            latency = None
        else:
            flat = _convert(saved, fmt, kept)
            partial = Path(tmp) / path.name
            partial.write_bytes(flat)
            os.replace(partial, path)
            predict = _interpreter_predictor(path, threads=1)
            latency = (_latency(path, kept, 1), _latency(path, kept, os.cpu_count() or 1))
    record = _measure(kept, fmt, path, reported, predict, latency)
    record.write_path(report_path(path))
    log(_summary(record, path))
    return record


def check_target(path: Path, fmt: str, *, overwrite: bool) -> None:
    """RunError unless the export may write ``path`` and its ``<file>.json``: each absent, or with
    ``overwrite`` an earlier export of ``fmt`` (never a folder or file holding anything else)."""
    for target in (path, report_path(path)):
        if not (target.exists() or target.is_symlink()):
            continue
        if not overwrite:
            raise RunError(f"{target} exists; pass --overwrite to replace an earlier export there, or choose another --out")
        problem = _not_an_export(target, path, fmt)
        if problem:
            raise RunError(
                f"{target}: {problem}; export replaces only an earlier export of the same format: choose another --out"
            )


#: What Keras's ``model.export`` (TensorFlow's SavedModel writer) puts in a SavedModel folder.
SAVED_MODEL_PARTS = frozenset({"saved_model.pb", "variables", "assets", "fingerprint.pb"})
#: The FlatBuffer identifier at bytes 4-8 of every TFLite file.
TFLITE_IDENTIFIER = b"TFL3"


def _not_an_export(target: Path, path: Path, fmt: str) -> str | None:
    """None when ``target`` is ``path`` or its record from an earlier ``fmt`` export, else what it is instead."""
    if target.is_symlink():
        return "a link, not an earlier export"
    if target == report_path(path):
        try:
            record = ExportReport.read_path(target)
        except RunError:  # a damaged record of ours, beside the export it describes, is replaced with it
            export_problem = _not_an_export(path, path, fmt) if path.exists() else "no export beside it"
            return None if export_problem is None else f"not the record of an earlier {fmt} export"
        return None if (record.format, record.file) == (fmt, path.name) else f"the record of a {record.format} export of {record.file}"
    if fmt == "saved_model":
        if not target.is_dir():
            return "a file, not an earlier SavedModel export"
        others = sorted(p.name for p in target.iterdir() if p.name not in SAVED_MODEL_PARTS)
        if others or not (target / "saved_model.pb").is_file():
            return f"a folder holding {', '.join(others[:5]) or 'no saved_model.pb'}, not only an earlier SavedModel export"
        return None
    if not target.is_file():
        return "a folder, not an earlier TFLite export"
    with open(target, "rb") as handle:
        head = handle.read(8)
    return None if head[4:8] == TFLITE_IDENTIFIER else "not a TFLite file"


def _convert(saved: Path, fmt: str, kept: KeptModel) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    if fmt in ("tflite-fp16", "tflite-int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if fmt == "tflite-fp16":
        converter.target_spec.supported_types = [tf.float16]
    if fmt == "tflite-int8":
        converter.representative_dataset = lambda: _representative(kept)
    try:
        return converter.convert()
    except Exception as exc:
        raise RunError(f"{kept.folder}: the TFLite converter failed for {fmt} ({_first_line(exc)})") from None


def _inputs(kept: KeptModel, ids: list[str], metadata: pd.DataFrame, files: dict[str, Path]) -> list[dict[str, np.ndarray]]:
    """One batch-1 input per image, built as in training."""
    missing = [i for i in ids if i not in files]
    if missing:
        raise RunError(f"{len(missing)} image(s) of the cell are missing from its dataset folder, e.g. {missing[0]}")
    images, usable, failed = load_images(kept, [files[i] for i in ids])
    if failed:
        path, reason = next(iter(failed.items()))
        raise RunError(f"{path}: cannot be read ({reason})")
    features = metadata_features(kept, metadata.loc[ids].reset_index()) if kept.needs_metadata else None
    return [
        {"image": images[k:k + 1], **({"metadata": features[k:k + 1]} if features is not None else {})}
        for k in range(len(usable))
    ]


def _reported_part(kept: KeptModel) -> tuple[list[dict[str, np.ndarray]], np.ndarray, np.ndarray]:
    """(batch-1 inputs, true labels, the Keras model's probabilities from predictions.csv) of the reported part."""
    ids, labels, probs = read_predictions(kept.folder / PREDICTIONS_FILE)
    _, metadata, files = cell_dataset(kept)
    return _inputs(kept, ids, metadata, files), labels, probs


def _representative(kept: KeptModel) -> Iterator[list[np.ndarray]]:
    """Up to REPRESENTATIVE_IMAGES images of the cell's training part, in the SavedModel's input order."""
    config, metadata, files = cell_dataset(kept)
    split = pd.read_csv(kept.folder.parent / split_file(config.split, config.seed))
    train = split.loc[split["part"] == "train", "image_id"].tolist()
    chosen = sorted(np.random.default_rng(0).permutation(len(train))[:REPRESENTATIVE_IMAGES])
    for sample in _inputs(kept, [train[i] for i in chosen], metadata, files):
        yield {name: value.astype(np.float32) if name == "metadata" else value for name, value in sample.items()}


def _interpreter_predictor(path: Path, threads: int) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner("serving_default")
    return lambda inputs: np.asarray(next(iter(runner(**inputs).values())))


def _saved_model_predictor(path: Path) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    return lambda inputs: np.asarray(next(iter(serve(**{k: tf.constant(v) for k, v in inputs.items()}).values())))


def _latency(path: Path, kept: KeptModel, threads: int) -> dict[str, float]:
    """Median and quartiles of LATENCY_RUNS batch-1 interpreter calls (ms), after WARMUP calls."""
    predict = _interpreter_predictor(path, threads)
    size = kept.info.image_size
    sample = {"image": np.zeros((1, size, size, 3), np.uint8)}
    if kept.needs_metadata:
        from skinbench.data.metadata import MetadataEncoder

        features = MetadataEncoder.from_dict(kept.info.metadata_encoder).n_features
        sample["metadata"] = np.zeros((1, features), np.float32)
    for _ in range(WARMUP):
        predict(sample)
    times = []
    for _ in range(LATENCY_RUNS):
        start = time.perf_counter()
        predict(sample)
        times.append(1000 * (time.perf_counter() - start))
    q1, median, q3 = statistics.quantiles(times, n=4)
    return {"median": round(median, 4), "q1": round(q1, 4), "q3": round(q3, 4), "runs": LATENCY_RUNS}


def _measure(kept, fmt, path, reported, predict, latency) -> ExportReport:
    from skinbench.train.env import cpu_model

    inputs, labels, keras_probs = reported
    probs = np.concatenate([predict(sample) for sample in inputs]).astype(np.float64)
    exported, original = compute_metrics(labels, probs), compute_metrics(labels, keras_probs)
    agree = probs.argmax(axis=1) == keras_probs.argmax(axis=1)
    top_two = np.sort(keras_probs, axis=1)[:, -2:]
    confident = (top_two[:, 1] - top_two[:, 0]) >= MARGIN
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    return ExportReport(
        cell_id=CellConfig.read(kept.folder).cell_id,
        format=fmt,
        file=path.name,
        size_mb=round(size / 2**20, 3),
        device=f"CPU {cpu_model()}",
        latency_ms_1_thread=latency[0] if latency else None,
        latency_ms_all_threads=latency[1] if latency else None,
        threads=os.cpu_count() or 1,
        n_images=len(labels),
        argmax_agreement=float(np.mean(agree)),
        confident_images=int(confident.sum()),
        confident_agreement=float(np.mean(agree[confident])) if confident.any() else None,
        max_probability_difference=float(np.abs(probs - keras_probs).max()),
        accuracy_change=exported["accuracy"] - original["accuracy"],
        balanced_accuracy_change=exported["balanced_accuracy"] - original["balanced_accuracy"],
    )


def _summary(record: ExportReport, path: Path) -> str:
    lines = [f"{path} ({record.format}, {record.size_mb:.2f} MiB)"]
    if record.latency_ms_1_thread:
        one, every = record.latency_ms_1_thread, record.latency_ms_all_threads
        lines.append(
            f"  batch-1 latency on {record.device}: {one['median']:.2f} ms (1 thread, quartiles {one['q1']:.2f}-{one['q3']:.2f}), "
            f"{every['median']:.2f} ms ({record.threads} threads), {one['runs']} runs each"
        )
    lines.append(
        f"  against the Keras model on {record.n_images} reported images: argmax agreement {record.argmax_agreement:.1%} "
        f"({_share(record.confident_agreement)} on the {record.confident_images} with a top-two gap of at least {MARGIN}), "
        f"largest probability difference {record.max_probability_difference:.2e}, accuracy change "
        f"{record.accuracy_change:+.4f}, balanced accuracy change {record.balanced_accuracy_change:+.4f}"
    )
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
