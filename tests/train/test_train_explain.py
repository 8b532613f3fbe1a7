"""`skinbench explain`: one PNG per image, the mean map per class, and the randomised-weights check."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skinbench.eval.predictions import read_predictions
from train_helpers import TWO_CELLS

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
