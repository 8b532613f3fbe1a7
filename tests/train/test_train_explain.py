"""`skinbench explain`: one PNG per image, the mean map per class, the randomised-weights check and the attention inside known lesions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skinbench.classes import CLASSES, CLASS_NAMES
from skinbench.eval.predictions import read_predictions
from skinbench.records import LesionAttention
from train_helpers import TWO_CELLS, long_epochs

METADATA = TWO_CELLS[1]
#: matplotlib's perceptually uniform sequential colormaps (equal steps of value, equal steps of lightness).
PERCEPTUALLY_UNIFORM = {"viridis", "magma", "cividis", "inferno", "plasma"}


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


@pytest.mark.slow  # about 50 s on a 2-core CPU; the default suite keeps under 15 minutes
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


def _maps(fig) -> list:
    """The figure's drawn maps: its 2-D image artists (an RGB photograph is 3-D)."""
    return [image for ax in fig.axes for image in ax.get_images() if image.get_array().ndim == 2]


def _assert_each_map_has_a_colour_bar(fig) -> None:
    maps = _maps(fig)
    bars = [image.colorbar for image in maps if image.colorbar is not None]
    assert {image.get_cmap().name for image in maps} <= PERCEPTUALLY_UNIFORM
    assert bars and all(bar.ax.get_ylabel().strip() for bar in bars)  # each colour bar says what its values are
    assert all(any(image.norm is bar.norm for bar in bars) for image in maps)  # every map is read on a colour bar


def _verdict(e) -> tuple[str, str]:
    code = CLASSES[e.predicted]
    return f"predicted {CLASS_NAMES[code]} ({code}), p = {e.probabilities[e.predicted]:.2f}", f"true {CLASS_NAMES[e.truth]} ({e.truth})"


def test_figures_draw_maps_a_reader_can_read(two_cells: Path) -> None:
    """Every map in a perceptually uniform colormap read on a labelled colour bar; each figure says the
    predicted class with its probability and the true class; the class means over a representative image."""
    from skinbench.deploy.explain import by_class, class_means_figure, explain, figure, per_class_images, representative
    from skinbench.deploy.model import load_cell

    kept = load_cell(two_cells / METADATA)
    chosen, metadata, files = per_class_images(kept, 2)
    found = explain(kept, [files[i] for i in chosen], metadata.reset_index(), truths=chosen)
    assert [e.truth for e in found] == list(chosen.values())
    for e in found[:2]:
        fig = figure(e)
        assert len(_maps(fig)) == 2 + e.heads.shape[-1]  # alpha and Grad-CAM over the image, then each head
        _assert_each_map_has_a_colour_bar(fig)
        assert all(part in fig.get_suptitle() for part in _verdict(e))
    grouped = by_class(found)
    fig = class_means_figure(grouped)
    _assert_each_map_has_a_colour_bar(fig)
    panels = [ax for ax in fig.axes if any(image.get_array().ndim == 3 for image in ax.get_images())]
    assert len(panels) == len(grouped)
    for ax, (code, group) in zip(panels, grouped.items()):
        photo, mean = ax.get_images()
        shown = representative(group)
        assert np.array_equal(photo.get_array(), shown.image)  # the class mean is drawn over the representative image
        assert np.allclose(mean.get_array(), np.mean([e.alpha for e in group], axis=0))
        title = " ".join(ax.get_title().split())
        assert title.startswith(f"{code}:") and shown.image_id in title and all(part in title for part in _verdict(shown))


def test_the_representative_image_is_the_one_whose_map_is_closest_to_the_class_mean() -> None:
    from skinbench.deploy.explain import Explanation, representative

    def made(image_id: str, level: float) -> Explanation:
        heads = np.full((2, 2, 1), level)
        return Explanation(image_id, np.zeros((4, 4, 3), np.uint8), np.array([1.0]), heads, None, heads[..., 0], truth="mel")

    assert representative([made("low", 0.0), made("high", 3.0), made("middle", 1.2)]).image_id == "middle"


def test_known_truths_come_from_the_given_csv_then_the_cells_dataset(two_cells: Path) -> None:
    import pandas as pd

    from skinbench.deploy.explain import known_truths
    from skinbench.deploy.model import cell_dataset, load_cell

    kept = load_cell(two_cells / METADATA)
    _, rows, _ = cell_dataset(kept)
    first, second = rows.index[:2]
    given = pd.DataFrame({"image_id": [first], "dx": ["VASC"]})
    assert known_truths(kept, [first, second, "elsewhere"], given) == {first: "vasc", second: rows.loc[second, "dx"]}


def test_the_console_lists_every_flagged_map(two_cells: Path, tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    import skinbench.deploy.explain

    monkeypatch.setattr(skinbench.deploy.explain, "UNCHANGED", -1.01)  # every map is flagged
    out = tmp_path / "explain"
    result = invoke(["explain", str(two_cells / METADATA), "--per-class", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = sorted(out.glob("ISIC_*.png"))
    assert len(figures) > 3 and f"{len(figures)} map(s) barely change" in " ".join(result.output.split())
    listed = [line.split()[0] for line in result.output.splitlines() if "rank correlation" in line and line.startswith("  ")]
    assert sorted(listed) == [str(f) for f in figures]
