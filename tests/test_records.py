"""The run-folder records: round trips, clear errors on bad files, and the docs' key lists."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path

import numpy as np
import pytest

from skinbench.eval.metrics import compute_metrics
from skinbench.records import (
    FORMAT_VERSION,
    LesionAttention,
    FAILED,
    FINISHED,
    HISTORY_COLUMNS,
    PENDING,
    CellConfig,
    CellMetrics,
    CellStatus,
    CpuRecord,
    DataInfo,
    DatasetRecord,
    ScheduleRecord,
    Environment,
    ExportReport,
    ExternalInfo,
    InferenceInfo,
    ModelSummary,
    Record,
    RecordError,
    Timing,
    read_history,
    status_of,
    write_history,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = CellConfig(
    cell_id="resnet50-metadata-paper-s0", backbone="resnet50", recipe="metadata", ablation=None, seed=0,
    split="paper", image_size=64, epochs=2, batch_size=16, weights="none", attention="paper", metadata=True,
    cut=None, extra_dense=0, precision="float32", jit=False,
    deterministic=False, bn_momentum=0.9, gradient_accumulation=None, schedule=ScheduleRecord("code", "x@abc: a.ipynb", 90, 1e-3, True, "balanced", None, "val_loss", 35, 0.001),
    dataset=DatasetRecord("synthetic", True, "/tmp/x", 300, "abc"), backend="tensorflow",
)
TIMING = Timing(1.5, 1.0, 200.0, 0.3, 2.0, 0.5, 2, 2, 200, 200, "mixed_bfloat16", 1, (1,), 1, 16, 3.5, False)
EXAMPLES: list[Record] = [
    CONFIG,
    CellStatus(FAILED, "MemoryError: x", "2026-01-01T00:00:00+00:00", "Traceback ..."),
    Environment("0.1.0", "3.11", "jax", {"keras": "3.0"}, [{"name": "H200", "memory_gib": 141.0}],
                CpuRecord("x86", 2, 4, 4), 24.0, "Linux", "node"),
    ModelSummary(10, 8, 2, 5, 0.1, 100, 200),
    TIMING,
    CellMetrics("val", 3, {"accuracy": 0.5, "balanced_accuracy": 0.4}, "0" * 64),
    DataInfo("synthetic", True, "/tmp/x", "ham10000", True, "abc", 300, {"mel": 300}, {}, [], {"paper-s0": {"val": {"mel": 30}}}),
    InferenceInfo("model.keras", 1234, "resnet50", 64, "crop", ("akiec", "bcc"),
                  {"age_mean": 50.0, "age_sd": 15.0, "vocabularies": {"sex": ["female", "male"]}}),
    ExportReport("c", "tflite-int8", "model-tflite-int8.tflite", 0.2, "CPU x", {"median": 1.0, "q1": 0.9, "q3": 1.1, "runs": 50},
                 {"median": 0.5, "q1": 0.4, "q3": 0.6, "runs": 50}, 2, 30, 0.9, 10, 1.0, 0.002, 0.0, 0.0),
    LesionAttention(14, 0.4, 0.3, 0.25, 11, {"mel": {"n_images": 2, "trained": 0.4, "randomised": 0.3, "area": 0.25}}),
    ExternalInfo("isic2019", "ISIC 2019", "/data/isic2019", "all images but HAM10000's", "lesion_id", 120, 100,
                 {"SCC": 12, "UNK": 8}, {"in HAM10000 (left out by image id)": 40}, False, 0, "2026-01-01T00:00:00+00:00"),
]


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: r.FILE)
def test_round_trip(record: Record, tmp_path: Path) -> None:
    path = record.write(tmp_path)
    assert path == tmp_path / record.FILE
    assert json.loads(path.read_text())["format_version"] == FORMAT_VERSION
    assert type(record).read(tmp_path) == record


def test_a_nested_record_comes_back_typed(tmp_path: Path) -> None:
    CONFIG.write(tmp_path)
    back = CellConfig.read(tmp_path)
    assert isinstance(back.schedule, ScheduleRecord) and back.schedule.patience == 35
    TIMING.write(tmp_path)
    assert Timing.read(tmp_path).traced_epochs == (1,)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match=re.escape(str(tmp_path / "timing.json")) + ": missing"):
        Timing.read(tmp_path)
    assert Timing.read_if_present(tmp_path) is None


def test_a_truncated_file_is_named(tmp_path: Path) -> None:
    text = (CONFIG.write(tmp_path)).read_text()
    (tmp_path / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(RecordError, match="config.json: cannot read .*truncated"):
        CellConfig.read(tmp_path)


@pytest.mark.parametrize(("version", "advice"), [(FORMAT_VERSION + 1, "upgrade skinbench"), (FORMAT_VERSION - 1, "rerun the cell")])
def test_an_unknown_version_is_refused(tmp_path: Path, version: int, advice: str) -> None:
    data = {**json.loads(TIMING.write(tmp_path).read_text()), "format_version": version}
    (tmp_path / "timing.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match=f"format {version}, but this skinbench reads format {FORMAT_VERSION}; {advice}"):
        Timing.read(tmp_path)


def test_a_file_without_a_version_is_refused_as_format_1(tmp_path: Path) -> None:
    data = json.loads(CONFIG.write(tmp_path).read_text())
    del data["format_version"]
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match=f"config.json: run-folder format 1, but this skinbench reads format {FORMAT_VERSION}; rerun"):
        CellConfig.read(tmp_path)


def test_missing_and_unknown_keys_are_named(tmp_path: Path) -> None:
    data = json.loads(ModelSummary(10, 8, 2, 5, 0.1, 100, 200).write(tmp_path).read_text())
    del data["flops"]
    data["gflops"] = 1
    (tmp_path / "model.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match="model.json: lacks flops and has unknown gflops"):
        ModelSummary.read(tmp_path)
    nested = json.loads(CONFIG.write(tmp_path).read_text())
    del nested["schedule"]["patience"]
    (tmp_path / "config.json").write_text(json.dumps(nested))
    with pytest.raises(RecordError, match=r"\(schedule\): lacks patience"):
        CellConfig.read(tmp_path)


def test_status(tmp_path: Path) -> None:
    assert status_of(tmp_path) == PENDING
    CellStatus.now(FINISHED).write(tmp_path)
    assert status_of(tmp_path) == FINISHED and CellStatus.read(tmp_path).traceback is None
    (tmp_path / "status.json").write_text(json.dumps({"format_version": FORMAT_VERSION, "status": "done", "error": None, "finished_at": "x"}))
    with pytest.raises(RecordError, match="unknown status 'done'"):
        status_of(tmp_path)


def test_config_differences() -> None:
    other = dataclasses.replace(CONFIG, epochs=5)
    assert CONFIG.differences(other) == ["epochs: 2 -> 5"]


def test_history_columns(tmp_path: Path) -> None:
    row = dict(zip(HISTORY_COLUMNS, range(len(HISTORY_COLUMNS))))
    write_history(tmp_path, [row, row])
    assert list(read_history(tmp_path).columns) == list(HISTORY_COLUMNS)
    (tmp_path / "history.csv").write_text("epoch,loss\n1,0.5\n")
    with pytest.raises(RecordError, match="history.csv: lacks the column"):
        read_history(tmp_path)


def _documented_keys(doc: Path, file: str) -> set[str]:
    """The backticked names on the doc's line ``- `<file>`: ...`` (its key list)."""
    lines = [line for line in doc.read_text().splitlines() if line.startswith(f"- `{file}`:")]
    assert len(lines) == 1, f"{doc} must list the keys of {file} on one line starting with - `{file}`:"
    return set(re.findall(r"`([a-z_0-9]+)`", lines[0].split(":", 1)[1]))


def _record_keys(record: type) -> set[str]:
    """The record's keys and those of the records nested in it."""
    hints = typing.get_type_hints(record)
    keys = set()
    for field in dataclasses.fields(record):
        keys.add(field.name)
        if dataclasses.is_dataclass(hints[field.name]):
            keys |= {f.name for f in dataclasses.fields(hints[field.name])}
    return keys


@pytest.mark.parametrize("doc", ["docs/architecture.md", "results/README.md"])
@pytest.mark.parametrize("record", [type(r) for r in EXAMPLES], ids=lambda r: r.FILE)
def test_docs_list_every_key(doc: str, record: type) -> None:
    expected = {"format_version"} | _record_keys(record)
    if record is CellMetrics:  # its values are compute_metrics' keys, at the top level of the file
        expected = (expected - {"values"}) | set(compute_metrics(np.arange(7), np.eye(7)))
    assert _documented_keys(ROOT / doc, record.FILE) == expected


@pytest.mark.parametrize("doc", ["docs/architecture.md", "results/README.md"])
def test_docs_list_the_history_columns(doc: str) -> None:
    assert _documented_keys(ROOT / doc, "history.csv") == set(HISTORY_COLUMNS)


INFERENCE = EXAMPLES[7]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d["metadata_encoder"].update(age_sd="x"), "metadata_encoder.age_sd must be a number, not 'x'"),
        (lambda d: d["metadata_encoder"].pop("age_sd"), "metadata_encoder lacks age_sd"),
        (lambda d: d["metadata_encoder"]["vocabularies"].update(sex="female"), "metadata_encoder.vocabularies.sex must be a list"),
        (lambda d: d.update(image_size="64"), "image_size must be an integer, not '64'"),
        (lambda d: d.update(image_size=True), "image_size must be an integer, not True"),
        (lambda d: d.update(classes=["akiec", 3]), r"classes\[1\] must be a string, not 3"),
        (lambda d: d.update(metadata_encoder=[]), "metadata_encoder must be an object"),
    ],
    ids=["text-for-number", "missing-key", "text-for-list", "text-for-integer", "bool-for-integer", "number-in-list", "list-for-object"],
)
def test_wrong_types_are_named_with_the_file_and_key(tmp_path: Path, change, fragment: str) -> None:
    assert INFERENCE.FILE == "inference.json"
    data = json.loads(INFERENCE.write(tmp_path).read_text())
    change(data)
    (tmp_path / "inference.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match=re.escape(str(tmp_path / "inference.json")) + ": " + fragment) as error:
        InferenceInfo.read(tmp_path)
    assert "\n" not in str(error.value) and "run the same skinbench run command again" in str(error.value)


def test_a_number_may_be_written_as_an_integer(tmp_path: Path) -> None:
    data = json.loads(INFERENCE.write(tmp_path).read_text())
    data["metadata_encoder"]["age_mean"] = 50
    (tmp_path / "inference.json").write_text(json.dumps(data))
    assert InferenceInfo.read(tmp_path).metadata_encoder["age_mean"] == 50


def test_the_same_data_elsewhere_is_no_difference() -> None:
    moved = dataclasses.replace(CONFIG, dataset=dataclasses.replace(CONFIG.dataset, root="/elsewhere"))
    assert CONFIG.differences(moved) == []
    other = dataclasses.replace(CONFIG, dataset=dataclasses.replace(CONFIG.dataset, root="/elsewhere", fingerprint="def"))
    assert [d.split(":")[0] for d in CONFIG.differences(other)] == ["dataset"]
