"""`skinbench explain`: one PNG per image, the mean map per class, the randomised-weights check and the attention inside known lesions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skinbench.classes import CLASSES
from skinbench.eval.predictions import read_predictions
from skinbench.records import LesionAttention
from train_helpers import TWO_CELLS, long_epochs

METADATA = TWO_CELLS[1]


def test_per_class_maps_and_the_sanity_check(two_cells: Path, tmp_path: Path, invoke) -> None:
    out = tmp_path / "explain"
    result = invoke(["explain", str(two_cells / METADATA), "--per-class", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ids, labels, _ = read_predictions(two_cells / METADATA / "predictions.csv")
    first_of_each = {label: image for image, label in reversed(list(zip(ids, labels)))}
    assert sorted(p.stem for p in out.glob("ISIC_*.png")) == sorted(first_of_each.values())
    assert (out / "class_means.png").stat().st_size > 0
    assert "rank correlation of trained and randomised-weight attention maps: median" in " ".join(result.output.split())


def test_explanations_hold_the_maps_and_differ_from_randomised_weights(two_cells: Path) -> None:
    from skinbench.deploy.explain import explain, per_class_images
    from skinbench.deploy.model import load_cell

    kept = load_cell(two_cells / METADATA)
    chosen, metadata, files = per_class_images(kept, 1)
    found = explain(kept, [files[i] for i in chosen], metadata.reset_index())
    assert [e.image_id for e in found] == list(chosen)
    for e in found:
        assert e.heads.shape[-1] == 16 and np.allclose(e.heads.sum(axis=(0, 1)), 1.0, atol=1e-4)  # a softmax per head
        assert e.grad_cam is not None and e.grad_cam.shape == e.heads.shape[:2] and (e.grad_cam >= 0).all()
        assert e.probabilities.argmax() == e.predicted and -1.0 <= e.randomised_correlation <= 1.0
    assert any(not np.allclose(e.alpha, e.random_alpha) for e in found)


def test_nothing_to_explain_and_no_model(two_cells: Path, tmp_path: Path, invoke) -> None:
    result = invoke(["explain", str(two_cells / METADATA)])
    assert result.exit_code == 2 and "nothing to explain" in result.output
    result = invoke(["explain", str(tmp_path), "--per-class", "1"])
    assert result.exit_code == 2 and "has no kept model" in result.output


def test_a_trained_models_attention_falls_on_the_lesion_more_than_randomised_weights(
    tmp_path: Path, run_args: list[str], invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The synthetic set knows each image's lesion: a tiny model trained for 8 x 896 steps puts
    more of its attention there than the same model with fresh weights, whose maps spread about
    evenly (their share is near the lesion's area)."""
    out = tmp_path / "run"
    long_epochs(monkeypatch)
    result = invoke(["run", "--allow-cpu", "--backbones", "tiny", "--recipes", "augmented", "--epochs", "8", "--out", str(out), *run_args])
    assert result.exit_code == 0, result.output
    cell = out / "tiny-augmented-paper-s0"
    result = invoke(["explain", str(cell), "--per-class", "2"])
    assert result.exit_code == 0, result.output
    assert "share of attention inside the lesion" in " ".join(result.output.split())
    lesion = LesionAttention.read(cell / "explain")
    assert lesion.n_images >= 6 and set(lesion.per_class) <= set(CLASSES)  # classes with a reported image
    assert abs(lesion.randomised - lesion.area) < 0.02
    assert lesion.trained > lesion.randomised + 0.05
    assert lesion.trained_above_randomised >= 0.9 * lesion.n_images
