"""What a benchmark run is made of: cells, recipes, training settings and named matrices.

A cell is one training run: (backbone, recipe or ablation row, split, seed). Its id names its
results folder, so ids are deterministic, and shards split a matrix by their sorted order.
This module imports no Keras, TensorFlow or JAX (tests/test_layers.py checks it): the CLI
validates options before any heavy import.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Sequence

from skinbench import catalogue
from skinbench.catalogue import (
    AUGMENTED,
    AUTHOR_AUGMENTED_BATCH,
    AUTHOR_AUGMENTED_NOTEBOOK,
    AUTHOR_AUGMENTED_PER_CLASS,
    AUTHOR_COMMIT,
    AUTHOR_METADATA_BATCH,
    AUTHOR_METADATA_NOTEBOOK,
    AUTHOR_REPOSITORY,
    AUTHOR_STEPS_DIVISOR,
    HAM10000_IMAGES,
    METADATA,
    PAPER_BATCH_SIZE,
    RECIPES,
    SPLITS,
    SYNTHETIC,
)
from skinbench.errors import RunError
from skinbench.registry import Registry


#: Epoch rules: one pass over the training part, or the notebooks' ``steps_per_epoch=len(train_df)/10``.
ONE_PASS, TENTH = "one pass", "len(train)/10 steps"
#: Class-weight rules (train.loss.weights_by_rule): W_c = N / (C N_c) from the training part's counts
#: (the paper's text); 5 for melanoma and 1 for the rest (IRV2+SA_15split).
BALANCED, MELANOMA_X5 = "balanced", "melanoma x5"


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """How one recipe trains under a named schedule: batch, epoch, optimizer, loss weights, stopping.

    Its fields are given by name (twelve values in a row would be a bare tuple).

    ``epoch`` ONE_PASS: an epoch is one pass over the training part (full batches of one stream of
    shuffled passes, the remainder trained on first in the next epoch). TENTH: an epoch is
    ceil(n / 10) batches of that stream, n the training part's images before augmentation, as Keras 2
    ran the notebooks' ``fit(steps_per_epoch=len(train_df) / 10)``; validation, learning-rate
    reduction, early stopping and the best-epoch checkpoint act once per epoch either way.
    ``batch_size`` and ``max_epochs`` are the schedule's; ``Settings.schedule_for`` puts
    ``--batch-size`` and ``--epochs`` in their place when given.
    """

    name: str
    follows: str  #: where these settings come from (the paper text, or a notebook at a commit)
    batch_size: int
    epoch: str  #: ONE_PASS or TENTH
    learning_rate: float  #: Adam's (epsilon 0.1 in both)
    reduce_lr: bool  #: ReduceLROnPlateau on the validation loss (train.trainer.REDUCE_LR)
    class_weights: str | None  #: BALANCED, MELANOMA_X5, or None (unweighted)
    augment_per_class: int | None  #: augmented recipe: grow each class to this many; None: the paper's growth
    monitor: str  #: EarlyStopping's quantity
    patience: int  #: EarlyStopping's patience, in epochs of this schedule
    min_delta: float
    max_epochs: int  #: the epoch cap

    def epoch_steps(self, n_train: int) -> int | None:
        """Batches per epoch for a training part of ``n_train`` images (None: one pass)."""
        return None if self.epoch == ONE_PASS else math.ceil(n_train / AUTHOR_STEPS_DIVISOR)


def _paper_text(recipe: str) -> Schedule:
    """The paper's text, for both recipes: one-pass epochs, Adam 1e-3, batch 32, ReduceLROnPlateau,
    EarlyStopping on validation accuracy (patience 25), the class-weighted loss for metadata only."""
    return Schedule(
        name="paper", follows="the paper's text", batch_size=PAPER_BATCH_SIZE, epoch=ONE_PASS, learning_rate=1e-3,
        reduce_lr=True, class_weights=BALANCED if RECIPES[recipe].weighted_loss else None, augment_per_class=None,
        monitor="val_accuracy", patience=25, min_delta=0.0, max_epochs=150,
    )


def _notebook(path: str) -> str:
    return f"{AUTHOR_REPOSITORY}@{AUTHOR_COMMIT[:7]}: {path}"


#: name -> recipe -> Schedule. "paper" (the default) is the paper's text. "code" is what the author's
#: notebooks ran, per recipe (docs/guides/training.md, "Schedules", lists what skinbench cannot reproduce of them):
#: metadata, every "LRStrategy" notebook (batches of 10, ceil(n / 10) of them an epoch: one pass;
#: Adam 1e-3; ReduceLROnPlateau; EarlyStopping on val_loss, patience 35, min_delta 0.001; 500 epochs);
#: augmented, IRV2+SA_15split (batch 16, ceil(n / 10) batches an epoch from about 8,000 images per
#: class; Adam 0.01; no ReduceLROnPlateau; class weight 5 for melanoma; EarlyStopping on val_loss,
#: patience 30, min_delta 0.001; 150 epochs).
SCHEDULES: dict[str, dict[str, Schedule]] = {
    "paper": {recipe: _paper_text(recipe) for recipe in RECIPES},
    "code": {
        METADATA: Schedule(
            name="code", follows=_notebook(AUTHOR_METADATA_NOTEBOOK), batch_size=AUTHOR_METADATA_BATCH, epoch=TENTH,
            learning_rate=1e-3, reduce_lr=True, class_weights=BALANCED, augment_per_class=None,
            monitor="val_loss", patience=35, min_delta=0.001, max_epochs=500,
        ),
        AUGMENTED: Schedule(
            name="code", follows=_notebook(AUTHOR_AUGMENTED_NOTEBOOK), batch_size=AUTHOR_AUGMENTED_BATCH, epoch=TENTH,
            learning_rate=1e-2, reduce_lr=False, class_weights=MELANOMA_X5, augment_per_class=AUTHOR_AUGMENTED_PER_CLASS,
            monitor="val_loss", patience=30, min_delta=0.001, max_epochs=150,
        ),
    },
}
SCHEDULE_NAMES: tuple[str, ...] = tuple(SCHEDULES)


@dataclass(frozen=True)
class Cell:
    """One training run. ``ablation`` is a key of ``models.ablation`` rows, else None."""

    backbone: str
    recipe: str
    split: str
    seed: int
    ablation: str | None = None

    @property
    def cell_id(self) -> str:
        """``<backbone>-<recipe>-<split>-s<seed>`` or ``<backbone>-ablation-<row>-<split>-s<seed>``."""
        middle = f"ablation-{self.ablation}" if self.ablation else self.recipe
        return f"{self.backbone}-{middle}-{self.split}-s{self.seed}"


#: The parts of a cell id, in their order: backbone, recipe or ``ablation-<row>``, split, seed (``s0``, or
#: ``s{0,1}`` for a group of seeds, as ``skinbench compare`` folds them).
CELL_ID_PARTS = ("backbone", "recipe", "split", "seed")
_CELL_ID = re.compile(
    rf"(?P<backbone>.+?)-(?P<recipe>{'|'.join(map(re.escape, catalogue.RECIPE_NAMES))}|ablation-.+)"
    rf"-(?P<split>{'|'.join(SPLITS)})-(?P<seed>s\d+|s\{{\d+(?:,\d+)*\}})"
)


def cell_id_parts(text: str) -> tuple[str, ...] | None:
    """The parts (``CELL_ID_PARTS``) of a cell id, joined by ``-`` in it; None when ``text`` is no cell id."""
    found = _CELL_ID.fullmatch(text)
    return found.group(*CELL_ID_PARTS) if found else None


@dataclass(frozen=True)
class Settings:
    """Training settings shared by every cell of a run (CLI options override a profile's)."""

    image_size: int | None = None  #: None: each backbone's native size
    epochs: int | None = None  #: None: the schedule's max_epochs
    batch_size: int | None = None  #: None: the schedule's batch for the recipe
    weights: str = "imagenet"  #: 'imagenet', 'none' or a weights file
    attention: str = "paper"
    precision: str = "float32"  #: 'float32' or 'mixed'
    jit: bool = False
    schedule: str = "paper"  #: a key of SCHEDULES
    deterministic: bool = False  #: deterministic kernels (train.determinism)
    bn_momentum: float | None = None  #: every BatchNormalization layer's momentum; None: the backbone's own
    #: micro-batches per batch (Keras' gradient_accumulation_steps); None: 1, and after an out-of-memory
    #: error the cell is retried once with micro-batches (train.trainer.retry_accumulation)
    gradient_accumulation: int | None = None
    keep_model: bool = True  #: write model.keras and inference.json when a cell finishes

    def schedule_for(self, recipe: str) -> Schedule:
        """The schedule a cell of ``recipe`` trains under, with ``batch_size`` and ``epochs`` in place of
        the schedule's own where given."""
        schedule = SCHEDULES[self.schedule][recipe]
        return replace(
            schedule,
            batch_size=self.batch_size if self.batch_size is not None else schedule.batch_size,
            max_epochs=self.epochs if self.epochs is not None else schedule.max_epochs,
        )

    def override(self, **values: object) -> "Settings":
        """A copy with every value that is not None replaced."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


@dataclass(frozen=True)
class Synthetic:
    """The synthetic HAM10000 stand-in a profile generates when ``--dataset synthetic``."""

    count: int = HAM10000_IMAGES
    size: tuple[int, int] = (600, 450)
    seed: int = 0


@dataclass(frozen=True)
class Profile:
    """Default settings and synthetic data for a kind of run (full scale, or a CPU smoke check)."""

    settings: Settings = field(default_factory=Settings)
    synthetic: Synthetic = field(default_factory=Synthetic)
    cpu: bool = False  #: sized for a CPU (the smoke and demo profiles): runs without a GPU unasked
    #: the data a run reads when neither --dataset nor --data-dir is given
    dataset: str = catalogue.REAL

    def cpu_sized(self, settings: Settings) -> bool:
        """Whether ``settings`` stay within this CPU profile's size (image size and epochs no larger),
        so a run of them needs no GPU and no ``--allow-cpu``."""
        own = self.settings
        return (
            self.cpu
            and settings.image_size is not None
            and own.image_size is not None
            and settings.image_size <= own.image_size
            and settings.epochs is not None
            and own.epochs is not None
            and settings.epochs <= own.epochs
        )


#: The smoke profile: small images and few epochs, over a thousand small synthetic
#: images: a CPU check of the whole path in minutes. Random weights train with BatchNorm
#: momentum 0.9: at the backbones' own (0.999 in MobileNetV3) the moving statistics that
#: evaluation uses are still near their initial values after a few hundred steps, and every
#: model predicts about one class.
SMOKE = Profile(Settings(image_size=64, epochs=2, batch_size=16, weights="none", bn_momentum=0.9),
                Synthetic(count=1000, size=(128, 96)), cpu=True, dataset=SYNTHETIC)
#: The demo profile: the smoke settings for long enough that its models learn (the ``demo``
#: matrix, run under several seeds and the paper, lesion and leaky splits). The same
#: synthetic set, so the smoke ablation can share a run folder with it.
DEMO = replace(SMOKE, settings=replace(SMOKE.settings, epochs=5))
#: The smoke ablation trains for one epoch, by default only the rows at SMOKE_ABLATION_CUTS
#: ([:230] with and without metadata: a 1x1 cut and an image-only model).
SMOKE_ABLATION = replace(SMOKE, settings=replace(SMOKE.settings, epochs=1))
SMOKE_ABLATION_CUTS = [230]
#: The full-scale profile: the paper's settings at each backbone's native size (the study's matrices).
FULL_SCALE = Profile()


@dataclass(frozen=True)
class Matrix:
    """A named set of (backbone, recipe) pairs, with the profile it runs under by default."""

    name: str
    description: str  #: what it trains, for --help and the docs
    choose: Callable[[], tuple[tuple[str, str], ...]]  #: its pairs, chosen when asked (plugins may add backbones)
    profile: Profile

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        return self.choose()


_PAPER_AUGMENTED = ("inceptionresnetv2", "densenet201", "resnet50", "vgg16")
_PAPER_METADATA = (
    "inceptionresnetv2",
    "densenet201",
    "resnet50",
    "resnet152",
    "mobilenetv2",
    "mobilenetv3large",
    "mobilenetv3small",
    "nasnetlarge",
    "nasnetmobile",
)
SMOKE_BACKBONES = ("mobilenetv3small", "mobilenetv3large")
DEMO_BACKBONES = ("mobilenetv3small",)


def _both_recipes(backbones: Callable[[], Iterable[str]]) -> Callable[[], tuple[tuple[str, str], ...]]:
    return lambda: tuple((b, r) for b in backbones() for r in RECIPES)


#: Every matrix, one entry each (``--matrix``); a plugin adds its own with ``MATRICES.register``.
MATRICES: Registry[Matrix] = Registry("matrix", (
    Matrix("full", "the paper's 11 backbones x 2 recipes",
           _both_recipes(lambda: catalogue.BACKBONES.names(group=catalogue.PAPER)), FULL_SCALE),
    Matrix("paper", "the 13 cells the paper reports",
           lambda: tuple((b, AUGMENTED) for b in _PAPER_AUGMENTED) + tuple((b, METADATA) for b in _PAPER_METADATA),
           FULL_SCALE),
    Matrix("modern", "the backbones after the paper x 2 recipes",
           _both_recipes(lambda: catalogue.BACKBONES.names(group=catalogue.MODERN)), FULL_SCALE),
    Matrix("all", "every registered backbone x 2 recipes", _both_recipes(catalogue.BACKBONES.names), FULL_SCALE),
    Matrix("smoke", "MobileNetV3Small and Large x 2 recipes under the smoke settings (a CPU check)",
           _both_recipes(lambda: SMOKE_BACKBONES), SMOKE),
    Matrix("demo", "MobileNetV3Small x 2 recipes under the demo settings (long enough to learn the synthetic set)",
           _both_recipes(lambda: DEMO_BACKBONES), DEMO),
), error=RunError)


def parse_list(text: str | None, option: str, allowed: Sequence[str]) -> list[str] | None:
    """A comma-separated option as a list of known names (None when not given)."""
    if text is None:
        return None
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise RunError(f"{option}: unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(allowed)}",
                       fields=(option,))
    return names


def parse_seeds(seeds: str | None, seed: int) -> list[int]:
    """``seeds`` ("0,1,2") when given, else ``[seed]`` (``matrix.seeds``, ``matrix.seed``)."""
    if seeds is None:
        return [seed]
    try:
        values = [int(part) for part in seeds.split(",") if part.strip()]
    except ValueError:
        raise RunError(f"matrix.seeds must be comma-separated integers such as 0,1,2, not {seeds!r}",
                       fields=("matrix.seeds",)) from None
    if not values:
        raise RunError("matrix.seeds is empty; give e.g. 0,1,2", fields=("matrix.seeds",))
    return sorted(set(values))


def parse_image_size(text: str | None, name: str) -> int | None:
    """'native' -> None (each backbone's own size); a number of pixels -> int. None stays None.
    ``name`` is the setting's, as errors say it (``model.image_size``, a command's ``--image-size``)."""
    if text is None or text == "native":
        return None
    try:
        size = int(text)
    except ValueError:
        raise RunError(f"{name} must be 'native' or a number of pixels, not {text!r}", fields=(name,)) from None
    if size < 32:
        raise RunError(f"{name} {size} is too small; use 32 or more", fields=(name,))
    return size


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``K/N`` (1 <= K <= N) -> (K, N)."""
    if text is None:
        return None
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise RunError(f"matrix.shard must look like K/N, e.g. 2/4, not {text!r}", fields=("matrix.shard",)) from None
    if not 1 <= k <= n:
        raise RunError(f"matrix.shard {text}: K must be between 1 and N", fields=("matrix.shard",))
    return k, n


def check_split(split: str) -> str:
    """``data.split``: one of ``catalogue.SPLITS``."""
    return catalogue.check_choice("data.split", split, SPLITS)


def expand(pairs: Iterable[tuple[str, str]], split: str, seeds: Sequence[int]) -> list[Cell]:
    """Cells for every (backbone, recipe) pair and seed, sorted by id."""
    check_split(split)
    return sorted((Cell(b, r, split, s) for b, r in pairs for s in seeds), key=lambda c: c.cell_id)


def select(
    spec: Matrix, *, backbones: list[str] | None, recipes: list[str] | None, split: str, seeds: Sequence[int]
) -> list[Cell]:
    """The matrix's cells, filtered to the given backbones and recipes."""
    pairs = [(b, r) for b, r in spec.pairs if (backbones is None or b in backbones) and (recipes is None or r in recipes)]
    if not pairs:
        raise RunError(
            f"no cell of the {spec.name} matrix matches matrix.backbones and matrix.recipes; "
            "the matrix 'all' (matrix.matrix) has every backbone with both recipes",
            fields=("matrix.backbones", "matrix.recipes", "matrix.matrix"),
        )
    return expand(pairs, split, seeds)


def shard(cells: Sequence[Cell], k: int, n: int) -> list[Cell]:
    """Part K of N (1-based): every N-th cell in id order, so parts are disjoint and balanced."""
    ordered = sorted(cells, key=lambda c: c.cell_id)
    return [cell for index, cell in enumerate(ordered) if index % n == k - 1]


def ablation_cells(cuts: Sequence[int] | None, *, split: str, seeds: Sequence[int]) -> list[Cell]:
    """The cells of paper Table 9's rows, sorted by id.

    ``cuts`` keeps the soft-attention rows at those layer numbers (the plain MobileNetV3Large
    row runs only with the whole table). Every row trains with the metadata recipe's loss and
    data (class-weighted, no augmentation); a row without metadata drops only that input
    (``train.cell.plan_for``).
    """
    check_split(split)
    rows = list(catalogue.ABLATION_ROWS.values())
    if cuts is not None:
        cuts = check_cuts(cuts)
        rows = [row for row in rows if row.attention and row.cut in cuts]
    cells = [Cell(catalogue.ABLATION_BACKBONE, METADATA, split, seed, ablation=row.key) for row in rows for seed in seeds]
    return sorted(cells, key=lambda c: c.cell_id)


def check_cuts(cuts: Sequence[int]) -> list[int]:
    """``matrix.cuts`` as layer numbers of paper Table 9 (RunError naming any other)."""
    unknown = [n for n in cuts if n not in catalogue.ABLATION_CUTS]
    if unknown:
        raise RunError(
            f"matrix.cuts: Table 9 has no cut at {', '.join(map(str, unknown))}; its cuts are "
            f"{', '.join(map(str, catalogue.ABLATION_CUTS))}",
            fields=("matrix.cuts",),
        )
    return list(cuts)
