"""``skinbench explain``: what a kept cell's soft attention looks at, and whether that means anything.

For each image one PNG: the image; the soft-attention map alpha (the sum of the 16 heads'
softmax maps) over it; the 16 head maps; Grad-CAM on the cut tensor (the feature map soft
attention reads) for the predicted class; the predicted class with its probability and the
true class where it is known. Every map is drawn in ``COLORMAP`` (perceptually uniform, so
equal steps of value look like equal steps of colour) beside a colour bar naming its values.

A sanity check in the manner of Adebayo et al. (2018), "Sanity checks for saliency maps": the
same model with freshly initialised weights gives maps for the same images, and the Spearman
rank correlation of each image's trained and randomised alpha maps is printed; a map that
barely changes (correlation above ``UNCHANGED``) reflects the architecture and the image
rather than what was learned, and is flagged.

``--per-class N``: for N reported images of each class, the mean alpha map per class, drawn over
that class's representative image (the one whose own map is closest to the mean). On a
synthetic set, where each image's lesion mask is known (``data.synthetic.lesion_masks``), the
share of alpha that falls inside the lesion, for the trained and the randomised model, beside
the lesion's share of the map's area (what attention spread evenly would give): a measurable
check that the maps follow the lesion.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from skinbench.classes import CLASSES, CLASS_NAMES
from skinbench.deploy.model import KeptModel, cell_dataset, load_images, metadata_features
from skinbench.errors import RunError
from skinbench.io import write_atomic
from skinbench.records import CellConfig, LesionAttention

#: Rank correlation above which a map is "unchanged" by randomising the weights.
UNCHANGED = 0.9
CUT_LAYER = "head_pool"  #: its input is the cut tensor (models.build)
COLORMAP = "viridis"  #: perceptually uniform, legible in greyscale and to colour-blind readers
OVERLAY = 0.45  #: opacity of a map drawn over its image
ALPHA_LABEL = "alpha: attention weight per map cell\n(sum of the heads' softmax maps)"


@dataclass(frozen=True)
class Explanation:
    """The maps of one image."""

    image_id: str
    image: np.ndarray  #: uint8 (S, S, 3) as the model saw it
    probabilities: np.ndarray
    heads: np.ndarray  #: (h, w, K) softmax maps
    grad_cam: np.ndarray | None  #: (h, w), None where the backend cannot take the gradient
    random_alpha: np.ndarray  #: alpha of the randomised model
    lesion: np.ndarray | None = None  #: (h, w): the share of each map cell inside the lesion, when known
    truth: str | None = None  #: the image's true class (a CLASSES code), when known

    @property
    def alpha(self) -> np.ndarray:
        return self.heads.sum(axis=-1)

    @property
    def predicted(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def verdict(self) -> str:
        """The predicted class with its probability, and the true class (or that it is unknown)."""
        code = CLASSES[self.predicted]
        truth = f"{CLASS_NAMES[self.truth]} ({self.truth})" if self.truth else "unknown"
        return f"predicted {CLASS_NAMES[code]} ({code}), p = {self.probabilities[self.predicted]:.2f}; true {truth}"

    @property
    def randomised_correlation(self) -> float:
        from scipy.stats import spearmanr

        with warnings.catch_warnings():  # a constant map (a 1x1 cut) has no rank order: handled below
            warnings.simplefilter("ignore")
            value = spearmanr(self.alpha.ravel(), self.random_alpha.ravel()).statistic
        return float(value) if np.isfinite(value) else 1.0  # a constant map is unchanged by definition

    @property
    def lesion_share(self) -> float | None:
        """Share of the trained model's alpha inside the lesion (None without a mask)."""
        return None if self.lesion is None else _share(self.alpha, self.lesion)

    @property
    def random_lesion_share(self) -> float | None:
        return None if self.lesion is None else _share(self.random_alpha, self.lesion)

    @property
    def lesion_area(self) -> float | None:
        """The lesion's share of the map: what attention spread evenly would put inside it."""
        return None if self.lesion is None else float(self.lesion.mean())


def _share(alpha: np.ndarray, lesion: np.ndarray) -> float:
    return float((alpha * lesion).sum() / alpha.sum())


def explain(
    kept: KeptModel, paths: list[Path], metadata=None, *, lesions: dict[str, np.ndarray] | None = None,
    truths: dict[str, str] | None = None, warn: Callable[[str], None] = lambda m: None,
) -> list[Explanation]:
    """Maps for every readable image (a metadata model needs ``metadata`` rows for them).

    ``lesions``: image id -> lesion mask at the image's size, for the images whose mask is known;
    ``truths``: image id -> true class code, for the images whose class is known.
    """
    from skinbench.models.build import attention_maps_model

    try:
        maps_model = attention_maps_model(kept.model)
    except Exception as exc:
        raise RunError(f"{kept.folder}: {exc}; explain needs a model with soft attention") from None
    images, usable, failed = load_images(kept, paths)
    for path, reason in failed.items():
        warn(f"{path}: cannot be read ({reason}); left out")
    if not usable:
        raise RunError("no usable image to explain")
    inputs = {"image": images}
    if kept.needs_metadata:
        if metadata is None:
            raise RunError(f"{kept.folder} is a metadata model: pass --metadata CSV (HAM10000 schema) for the images")
        rows = metadata.drop_duplicates("image_id").set_index("image_id")
        missing = [p.stem for p in usable if p.stem not in rows.index]
        if missing:
            raise RunError(f"the metadata CSV has no row for {', '.join(missing[:3])}")
        inputs["metadata"] = metadata_features(kept, rows.loc[[p.stem for p in usable]].reset_index())
    probabilities = _forward(kept.model, inputs)
    heads = _forward(maps_model, inputs)
    random_heads = _forward(attention_maps_model(randomised(kept.model)), inputs)
    cams = grad_cam(kept.model, inputs, probabilities.argmax(axis=1))
    lesions, truths = lesions or {}, truths or {}
    grid = heads.shape[1:3]
    return [
        Explanation(
            p.stem, images[k], probabilities[k], heads[k], None if cams is None else cams[k], random_heads[k].sum(-1),
            _on_grid(lesions[p.stem], kept, grid) if p.stem in lesions else None, truths.get(p.stem),
        )
        for k, p in enumerate(usable)
    ]


def _forward(model: keras.Model, inputs: dict) -> np.ndarray:
    """One eager pass: each of explain's models runs once, so compiling a predict function per model
    (``predict_on_batch``) would cost time and make TensorFlow warn about retracing."""
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def _on_grid(mask: np.ndarray, kept: KeptModel, grid: tuple[int, int]) -> np.ndarray:
    """A full-size lesion mask framed as the model's input is, then averaged over each map cell."""
    from PIL import Image

    from skinbench.data.cache import fit

    framed = fit(Image.fromarray(mask.astype(np.float32), mode="F"), kept.info.image_size, kept.info.resize_rule)
    return np.asarray(framed.resize((grid[1], grid[0]), Image.Resampling.BOX), dtype=np.float64)


def known_lesions(kept: KeptModel, image_ids: list[str]) -> dict[str, np.ndarray]:
    """The lesion masks of ``image_ids`` when the cell's dataset is a synthetic set that records them, else {}."""
    from skinbench.data.synthetic import PARAMETERS_FILE, lesion_masks

    root = Path(CellConfig.read(kept.folder).dataset.root)
    return lesion_masks(root, image_ids) if (root / PARAMETERS_FILE).is_file() else {}


def known_truths(kept: KeptModel, image_ids: list[str], metadata=None) -> dict[str, str]:
    """The true class of each of ``image_ids`` found in the ``dx`` column of ``metadata`` (the user's
    CSV) or, failing that, of the cell's dataset's metadata CSV; images found in neither are left out."""
    from skinbench.data.ham10000 import METADATA_CSV, read_table

    dataset_csv = Path(CellConfig.read(kept.folder).dataset.root) / METADATA_CSV
    wanted, truths = set(image_ids), {}
    for table in (metadata, read_table(dataset_csv) if dataset_csv.is_file() else None):
        if table is None or not {"image_id", "dx"} <= set(table.columns):
            continue
        for image_id, dx in zip(table["image_id"], table["dx"].str.lower()):
            if image_id in wanted and dx in CLASSES:
                truths.setdefault(image_id, dx)
    return truths


def lesion_attention(explanations: list[Explanation]) -> LesionAttention | None:
    """lesion_attention.json's figures over the explanations with a known mask (None when there are none)."""
    known = [e for e in explanations if e.lesion is not None]
    if not known:
        return None

    def means(group: list[Explanation]) -> dict[str, float]:
        return {
            "n_images": len(group),
            "trained": float(np.mean([e.lesion_share for e in group])),
            "randomised": float(np.mean([e.random_lesion_share for e in group])),
            "area": float(np.mean([e.lesion_area for e in group])),
        }

    per_class = {code: means(group) for code, group in by_class(known).items()}
    overall = means(known)
    better = sum(e.lesion_share > e.random_lesion_share for e in known)
    return LesionAttention(
        n_images=overall["n_images"], trained=overall["trained"], randomised=overall["randomised"], area=overall["area"],
        trained_above_randomised=better, per_class=per_class,
    )


def per_class_images(kept: KeptModel, n: int) -> tuple[dict[str, str], object, dict[str, Path]]:
    """Up to ``n`` images of each class from the cell's reported part: (id -> true class, metadata rows, files by id)."""
    from skinbench.eval.predictions import read_predictions
    from skinbench.records import PREDICTIONS_FILE

    ids, labels, _ = read_predictions(kept.folder / PREDICTIONS_FILE)
    _, metadata, files = cell_dataset(kept)
    chosen = {i: CLASSES[label] for label in range(len(CLASSES)) for i in [x for x, y in zip(ids, labels) if y == label][:n]}
    return chosen, metadata.loc[[i for i in chosen if i in metadata.index]], files


def by_class(explanations: list[Explanation]) -> dict[str, list[Explanation]]:
    """The explanations grouped by their image's true class, in CLASSES order (images of no known class left out)."""
    groups: dict[str, list[Explanation]] = {code: [] for code in CLASSES}
    for e in explanations:
        if e.truth is not None:
            groups[e.truth].append(e)
    return {code: group for code, group in groups.items() if group}


def randomised(model: keras.Model) -> keras.Model:
    """The same architecture with freshly initialised weights (seeded, so the check repeats)."""
    keras.utils.set_random_seed(0)
    return keras.models.clone_model(model)


def grad_cam(model: keras.Model, inputs: dict, classes: np.ndarray) -> np.ndarray | None:
    """Grad-CAM (Selvaraju et al. 2017) on the cut tensor for ``classes``; None off TensorFlow."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    features = model.get_layer(CUT_LAYER).input
    probe = keras.Model(model.inputs, [features, model.output])
    with tf.GradientTape() as tape:
        maps, probabilities = probe(inputs, training=False)
        score = tf.gather(probabilities, classes, axis=1, batch_dims=1)
    gradients = tape.gradient(score, maps)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    return tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1)).numpy()


def _overlay(ax, image: np.ndarray, values: np.ndarray, norm: Normalize) -> AxesImage:
    """``image`` with the map ``values`` stretched over it (bilinear), coloured on ``norm``'s scale."""
    ax.imshow(image)
    ax.axis("off")
    return ax.imshow(values, cmap=COLORMAP, norm=norm, alpha=OVERLAY, interpolation="bilinear", extent=ax.get_images()[0].get_extent())


def _scale(*maps: np.ndarray) -> Normalize:
    """One colour scale spanning ``maps``' values."""
    return Normalize(min(float(m.min()) for m in maps), max(float(m.max()) for m in maps))


def _colour_bar(fig, drawn: AxesImage, axes, label: str) -> None:
    """A colour bar for ``drawn`` beside ``axes``, saying what its values are, in full colour (not at the overlay's opacity)."""
    bar = fig.colorbar(drawn, ax=axes, shrink=0.8)
    bar.solids.set_alpha(1.0)
    bar.set_label(label, fontsize=6)
    bar.ax.tick_params(labelsize=6)


def figure(explanation: Explanation) -> Figure:
    """The image, alpha over it, Grad-CAM over it, and the 16 head maps, each map read on a colour bar."""
    e = explanation
    heads = e.heads.shape[-1]
    columns = 4
    rows = -(-heads // columns)
    fig = Figure(figsize=(2.3 * columns + 1, 2.3 * (rows + 1) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    inside = (f"; alpha inside the lesion {e.lesion_share:.2f} (randomised {e.random_lesion_share:.2f}, "
              f"lesion area {e.lesion_area:.2f})" if e.lesion is not None else "")
    fig.suptitle(f"{e.image_id}: {e.verdict}\nrank correlation with randomised weights {e.randomised_correlation:.2f}"
                 f"{' (flagged)' if e.randomised_correlation > UNCHANGED else ''}{inside}", fontsize=9, wrap=True)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, rows])
    image, attention, cam = top.subplots(1, 3)
    image.imshow(e.image)
    image.set_title("image", fontsize=8)
    image.axis("off")
    _colour_bar(top, _overlay(attention, e.image, e.alpha, _scale(e.alpha)), attention, ALPHA_LABEL)
    attention.set_title("soft attention (alpha)", fontsize=8)
    if e.grad_cam is None:
        cam.imshow(e.image)
        cam.axis("off")
        cam.set_title("Grad-CAM: TensorFlow only", fontsize=8)
    else:
        drawn = _overlay(cam, e.image, e.grad_cam, _scale(e.grad_cam))
        _colour_bar(top, drawn, cam, "Grad-CAM: ReLU of the gradient-\nweighted cut features (unscaled)")
        cam.set_title(f"Grad-CAM for {CLASSES[e.predicted]} (predicted)", fontsize=8)
    norm, axes = _scale(e.heads), bottom.subplots(rows, columns, squeeze=False).ravel()
    for head, ax in enumerate(axes):
        ax.axis("off")
        if head < heads:
            drawn = ax.imshow(e.heads[..., head], cmap=COLORMAP, norm=norm)
            ax.set_title(f"head {head + 1}", fontsize=7)
    _colour_bar(bottom, drawn, axes, "a head's softmax weight per map cell (each head's map sums to 1)")
    return fig


def representative(explanations: list[Explanation]) -> Explanation:
    """The explanation whose alpha map is closest (Euclidean) to the mean of ``explanations``' maps."""
    mean = np.mean([e.alpha for e in explanations], axis=0)
    return min(explanations, key=lambda e: float(np.linalg.norm(e.alpha - mean)))


def class_means_figure(by_class: dict[str, list[Explanation]]) -> Figure:
    """The mean alpha map of each class's explained images, over the class's representative image, on one colour scale."""
    means = {code: np.mean([e.alpha for e in group], axis=0) for code, group in by_class.items()}
    norm = _scale(*means.values())
    fig = Figure(figsize=(2.8 * len(by_class) + 1, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = []
    for index, (code, explanations) in enumerate(by_class.items()):
        axes.append(ax := fig.add_subplot(1, len(by_class), index + 1))
        shown = representative(explanations)
        drawn = _overlay(ax, shown.image, means[code], norm)
        known = [e.lesion_share for e in explanations if e.lesion is not None]
        inside = f"; inside lesion {np.mean(known):.2f}" if known else ""
        verdict = shown.verdict.replace("; ", "\n")
        ax.set_title(f"{code}: mean of {len(explanations)} map(s){inside}\nover {shown.image_id}:\n{verdict}", fontsize=7)
    _colour_bar(fig, drawn, axes, f"mean {ALPHA_LABEL}")
    fig.suptitle("Mean soft-attention map per true class, over the image whose own map is closest to the mean", fontsize=9)
    return fig


def save(fig: Figure, path: Path) -> Path:
    return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


@dataclass(frozen=True)
class CellExplanation:
    """What ``explain_cell`` wrote: every image's explanation, the lesion measure (synthetic sets), the folder."""

    explanations: list[Explanation]
    lesion: LesionAttention | None
    out: Path

    @property
    def flagged(self) -> list[Explanation]:
        """The explanations whose attention map barely changes when the weights are randomised."""
        return [e for e in self.explanations if e.randomised_correlation > UNCHANGED]

    def figure_path(self, explanation: Explanation) -> Path:
        return self.out / f"{explanation.image_id}.png"


def explain_cell(
    cell_dir: Path,
    images: Sequence[Path] = (),
    *,
    per_class: int = 0,
    metadata: Path | None = None,
    out: Path | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> CellExplanation:
    """Explain ``images`` and ``per_class`` reported images of each class of a kept cell: one PNG
    per image and, with ``per_class``, the mean map per class (and the lesion measure on a
    synthetic set), into ``out`` (default ``<cell>/explain``)."""
    from skinbench.data.ham10000 import read_table
    from skinbench.deploy.model import check_metadata_columns, load_cell
    from skinbench.records import CLASS_MEANS, EXPLAIN_DIR

    if not images and not per_class:
        raise RunError("nothing to explain: name image files, or pass --per-class N")
    kept = load_cell(cell_dir)
    out = Path(out) if out is not None else Path(cell_dir) / EXPLAIN_DIR
    found, lesion = [], None
    if images:
        table = read_table(metadata) if metadata is not None else None
        if table is not None:
            check_metadata_columns(table, metadata)
        ids = [Path(p).stem for p in images]
        found += explain(kept, list(images), table, lesions=known_lesions(kept, ids), truths=known_truths(kept, ids, table), warn=warn)
    if per_class:
        chosen, metadata_rows, files = per_class_images(kept, per_class)
        explained = explain(kept, [files[i] for i in chosen], metadata_rows.reset_index(),
                            lesions=known_lesions(kept, list(chosen)), truths=chosen, warn=warn)
        grouped = by_class(explained)
        found += [e for group in grouped.values() for e in group]
        save(class_means_figure(grouped), out / CLASS_MEANS)
        lesion = lesion_attention(explained)
        if lesion is not None:
            lesion.write(out)
    result = CellExplanation(found, lesion, out)
    for explanation in found:
        save(figure(explanation), result.figure_path(explanation))
    return result
