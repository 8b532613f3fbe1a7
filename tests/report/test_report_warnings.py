"""The report's warnings and definitions: what makes the paper split optimistic, absent classes, bootstrap streams."""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest

from skinbench.classes import CLASSES
from skinbench.eval.metrics import BOOTSTRAP_METRICS, compute_metrics
from skinbench.eval.predictions import read_predictions, write_predictions
from skinbench.records import PREDICTIONS_FILE, CellMetrics
from skinbench.report.build import build_report
from skinbench.report.runs import load_results
from skinbench.report.summary import bootstrap_stream, summarise

CELL = "densenet201-metadata-paper-s1"


def _section(text: str, heading: str) -> str:
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _drop_class(folder: Path, name: str) -> None:
    """Rewrite a cell's predictions.csv and metrics.json without the images of one class."""
    image_ids, y_true, probs = read_predictions(folder / PREDICTIONS_FILE)
    keep = y_true != CLASSES.index(name)
    write_predictions(folder / PREDICTIONS_FILE, list(np.asarray(image_ids)[keep]), y_true[keep], probs[keep])
    CellMetrics("val", int(keep.sum()), compute_metrics(y_true[keep], probs[keep])).write(folder)


def _copy_cell(shard: Path, source: str, seed: int) -> str:
    """A second cell with the same predictions as ``source`` under another seed (and so another cell id),
    the seed's split file a copy of the source's."""
    cell_id = source.rsplit("-s", 1)[0] + f"-s{seed}"
    shutil.copytree(shard / source, shard / cell_id)
    stem, old_seed = source.rsplit("-", 2)[1], source.rsplit("-s", 1)[1]
    shutil.copy(shard / f"split-{stem}-s{old_seed}.csv", shard / f"split-{stem}-s{seed}.csv")
    config = shard / cell_id / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "cell_id": cell_id, "seed": seed}))
    return cell_id


def test_paper_split_warning_names_leakage_and_model_selection(shards: list[Path]) -> None:
    path, _ = build_report(shards, bootstrap=0, plots=False)
    warnings = _section(path.read_text(), "Warnings")
    (line,) = [w for w in warnings.splitlines() if "paper split" in w]
    assert "Lesion leakage: it stratifies by diagnosis but ignores lesion_id" in line
    assert "Model selection on the reported part: it reports on its validation part" in line
    assert "ReduceLROnPlateau (validation loss), EarlyStopping (the validation quantity under Protocol)" in line
    assert "best-epoch weights (validation accuracy)" in line


def test_a_cell_lacking_a_class_is_warned_and_its_macro_means_skip_it(shards: list[Path]) -> None:
    _drop_class(shards[0] / CELL, "df")
    path, summary = build_report(shards, bootstrap=0, plots=False)
    warnings = _section(path.read_text(), "Warnings")
    assert "- 1 cell(s) lack a class in the evaluated part (named below)" in warnings
    assert f"- {CELL}: no true image of df among the evaluated images: left out of every macro mean" in warnings
    assert "metrics.json says" not in warnings  # the rewritten metrics.json agrees with predictions.csv
    (result,) = [r for r in summary.cells if r.cell.cell_id == CELL]
    assert result.metrics["per_class"]["df"]["support"] == 0
    assert result.metrics["balanced_accuracy"] == pytest.approx(result.metrics["macro_recall"])
    recall = [result.metrics["per_class"][c]["recall"] for c in CLASSES if c != "df"]
    assert result.metrics["macro_recall"] == pytest.approx(np.mean(recall))


def test_every_class_present_means_no_absent_class_warning(shards: list[Path]) -> None:
    path, _ = build_report(shards, bootstrap=0, plots=False)
    warnings = _section(path.read_text(), "Warnings")
    assert "lack a class" not in warnings and "no true image" not in warnings


def test_each_cell_has_its_own_reproducible_bootstrap_stream(shards: list[Path]) -> None:
    twin = _copy_cell(shards[0], CELL, seed=7)
    first, second = (summarise(load_results(shards), bootstrap_n=200) for _ in range(2))
    by_id = {r.cell.cell_id: r for r in first.cells}
    a, b = by_id[CELL], by_id[twin]
    np.testing.assert_array_equal(a.y_true, b.y_true)
    np.testing.assert_array_equal(a.probs, b.probs)
    for metric in BOOTSTRAP_METRICS:  # identical predictions, different resamples
        assert not np.array_equal(a.samples[metric], b.samples[metric]), metric
    for one, two in zip(first.cells, second.cells):  # the same cell twice: the same resamples
        assert one.cell.cell_id == two.cell.cell_id
        for metric in BOOTSTRAP_METRICS:
            np.testing.assert_array_equal(one.samples[metric], two.samples[metric])


def test_bootstrap_stream_is_the_stated_rule() -> None:
    stream = bootstrap_stream(0, CELL)
    assert list(stream.entropy) == [0, zlib.crc32(CELL.encode("utf-8"))]
    assert bootstrap_stream(0, CELL).generate_state(4).tolist() == stream.generate_state(4).tolist()
    assert bootstrap_stream(1, CELL).generate_state(4).tolist() != stream.generate_state(4).tolist()
    assert bootstrap_stream(0, CELL + "x").generate_state(4).tolist() != stream.generate_state(4).tolist()


def test_definitions_say_what_the_intervals_and_the_spread_cover(shards: list[Path]) -> None:
    path, _ = build_report(shards, bootstrap=100, plots=False)
    definitions = _section(path.read_text(), "Definitions")
    assert "It resamples the evaluated images only" in definitions
    assert "numpy.random.SeedSequence([base seed, CRC-32 of the UTF-8 cell id]) with base seed 0" in definitions
    assert "Each seed is both a new split and a new initialisation" in definitions
    assert "- Absent class: a class with no true image in a cell's evaluated part is left out of every macro mean" in definitions


def test_cells_timed_at_different_sharing_are_warned(shards: list[Path]) -> None:
    path, _ = build_report(shards, bootstrap=0, plots=False)
    assert "gpu_sharing" not in _section(path.read_text(), "Warnings")  # every fixture cell ran alone
    timing = shards[0] / CELL / "timing.json"
    timing.write_text(json.dumps({**json.loads(timing.read_text()), "gpu_sharing": 2}))
    path, _ = build_report(shards, bootstrap=0, plots=False)
    (line,) = [w for w in _section(path.read_text(), "Warnings").splitlines() if "gpu_sharing" in w]
    assert f"2 at once: 1 cell(s), e.g. {CELL}" in line and "1 at once:" in line
    assert "compare times per epoch and images per second only between cells of equal sharing" in line


def test_cells_trained_in_micro_batches_are_named(shards: list[Path]) -> None:
    path, _ = build_report(shards, bootstrap=0, plots=False)
    assert "gradient accumulation" not in _section(path.read_text(), "Warnings")  # every fixture cell ran whole batches
    timing = shards[0] / CELL / "timing.json"
    timing.write_text(json.dumps({**json.loads(timing.read_text()), "gradient_accumulation": 4, "micro_batch_size": 8}))
    path, _ = build_report(shards, bootstrap=0, plots=False)
    (line,) = [w for w in _section(path.read_text(), "Warnings").splitlines() if "gradient accumulation" in w]
    assert "1 cell(s) trained with gradient accumulation" in line and f"{CELL} (4 x 8)" in line
    assert "BatchNormalization normalised each micro-batch with its own statistics" in line
