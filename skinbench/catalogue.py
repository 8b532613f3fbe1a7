"""The names and facts every layer shares, as data: backbones, recipes, ablation rows, choices, the dataset.

Nothing here imports Keras, so the CLI, the report and the models read the same names:
``models.backbones`` builds each backbone named here (its Keras application, preprocessing and
cut are facts of its entry), ``models.ablation`` gives a Keras tensor to each cut, and the report
looks up the paper's rows by the display names and labels below. Each fact is written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

from skinbench.errors import ModelError, RunError
from skinbench.registry import Registry


@dataclass(frozen=True)
class CutPoint:
    """Where soft attention goes in a backbone's graph, relative to a stably named layer.

    ``side="output"`` takes that layer's output; ``side="input"`` its ``index``-th input.
    ``up`` then walks that many producers further up the graph (each producer must have a
    single input). ``offset`` adds a constant to the located tensor: tf.keras 2 exposed
    hard-sigmoid's ``x + 3`` as a layer of its own, and some of the paper's cuts land there.
    ``needs_top`` marks cuts inside the classifier top (only built with ``include_top=True``).
    ``models.backbones.locate`` finds the tensor; this is the data alone.
    """

    layer: str
    side: Literal["output", "input"] = "output"
    index: int = 0
    up: int = 0
    offset: float | None = None
    note: str = ""
    needs_top: bool = False

    def describe(self) -> str:
        """A short human description (the METHOD wording when ``note`` is set)."""
        if self.note:
            return self.note
        where = self.layer if self.side == "output" else f"input {self.index} of {self.layer}"
        if self.up:
            where += f", {self.up} up"
        return where if self.offset is None else f"{where} + {self.offset:g}"


#: How a backbone's images are preprocessed inside the model (keras.applications.imagenet_utils
#: modes; "none": the Keras application preprocesses its uint8-range input itself).
PreprocessMode = Literal["caffe", "torch", "tf", "none"]
#: Backbone groups: the paper's eleven, and the backbones a reader of today expects beside them.
PAPER, MODERN = "paper", "modern"
#: The one rule for the cut of a backbone added after the paper: its last feature map, the input
#: of the global average pooling of its classifier head (what ``include_top=False`` returns).
LAST_FEATURE_MAP = "the last feature map: the input of the head's global average pooling"


@dataclass(frozen=True)
class Backbone:
    """One backbone, every fact of it: names, input sizes, its Keras application, preprocessing and cut.

    ``application`` is the name of a ``keras.applications`` constructor, or (for a backbone a
    plugin adds) a callable taking the same keyword arguments. ``models.backbones`` builds it.
    """

    name: str  #: registry name, lower case (CLI, cell ids, config.json)
    display: str  #: the paper's spelling (or Keras's), used as the row name of every table
    native_size: int  #: the input side length of its ImageNet weights
    application: str | Callable[..., Any]
    preprocessing: PreprocessMode
    cut: CutPoint
    min_size: int = 32  #: the smallest input Keras builds it at
    mobile: bool = False  #: one of the paper's mobile models (Table 8)
    group: str = "extra"  #: PAPER, MODERN, or "extra" (added by a plugin)

    def check_size(self, image_size: int | None, name: str = "image_size") -> int:
        """The input side length to build at (native when None); too small is a ModelError naming the
        setting ``name`` (a run specification's ``model.image_size``, a command's ``--image-size``)."""
        size = self.native_size if image_size is None else int(image_size)
        if size < self.min_size:
            raise ModelError(f"{self.display} needs images of at least {self.min_size} pixels, got {name} {size}",
                             fields=(name,))
        return size


def _paper(name: str, display: str, size: int, application: str, preprocessing: PreprocessMode, cut: CutPoint,
           **extra: Any) -> Backbone:
    return Backbone(name, display, size, application, preprocessing, cut, group=PAPER, **extra)


def _modern(name: str, display: str, size: int, preprocessing: PreprocessMode, pooling: str) -> Backbone:
    """A backbone after the paper, cut by the one rule (LAST_FEATURE_MAP) at the input of ``pooling``."""
    return Backbone(name, display, size, display, preprocessing, CutPoint(pooling, side="input", note=LAST_FEATURE_MAP),
                    group=MODERN)


#: Every backbone: paper Table 3's ten and VGG16, in the tables' order (METHOD.md's cuts), then
#: today's. One entry each; a plugin adds its own with ``BACKBONES.register``.
BACKBONES: Registry[Backbone] = Registry("backbone", (
    _paper("resnet50", "ResNet50", 224, "ResNet50", "caffe", CutPoint("conv5_block3_out")),
    _paper("resnet152", "ResNet152", 224, "ResNet152", "caffe", CutPoint("conv5_block1_out")),
    _paper("densenet201", "DenseNet201", 224, "DenseNet201", "torch", CutPoint("conv5_block29_1_relu")),
    _paper("inceptionresnetv2", "InceptionResNetV2", 299, "InceptionResNetV2", "tf",
           CutPoint("block8_9_mixed", side="input", index=0, up=1, note="block8_9 branch 0 BatchNorm output (before its ReLU)"),
           min_size=75),
    _paper("vgg16", "VGG16", 224, "VGG16", "caffe", CutPoint("block5_conv3")),
    _paper("mobilenet", "MobileNet", 224, "MobileNet", "tf", CutPoint("conv_pw_13_relu"), mobile=True),
    _paper("mobilenetv2", "MobileNetV2", 224, "MobileNetV2", "tf", CutPoint("block_14_depthwise"), mobile=True),
    _paper("mobilenetv3small", "MobileNetV3Small", 224, "MobileNetV3Small", "none",
           CutPoint("expanded_conv_10_squeeze_excite_avg_pool", side="input",
                    note="hard-swish after expanded_conv_10_depthwise_bn"), mobile=True),
    _paper("mobilenetv3large", "MobileNetV3Large", 224, "MobileNetV3Large", "none",
           CutPoint("expanded_conv_14_squeeze_excite_avg_pool", side="input",
                    note="hard-swish after expanded_conv_14_depthwise_bn"), mobile=True),
    _paper("nasnetmobile", "NASNetMobile", 224, "NASNetMobile", "tf",
           CutPoint("separable_conv_2_normal_left5_12", side="input", note="ReLU feeding separable_conv_2_normal_left5_12"),
           mobile=True),
    _paper("nasnetlarge", "NASNetLarge", 331, "NASNetLarge", "tf",
           CutPoint("separable_conv_2_normal_left5_18", side="input", note="ReLU feeding separable_conv_2_normal_left5_18")),
    _modern("resnet50v2", "ResNet50V2", 224, "tf", "avg_pool"),
    _modern("efficientnetv2b0", "EfficientNetV2B0", 224, "none", "avg_pool"),
    _modern("efficientnetv2s", "EfficientNetV2S", 384, "none", "avg_pool"),
    _modern("convnexttiny", "ConvNeXtTiny", 224, "none", "convnext_tiny_head_gap"),
    _modern("convnextsmall", "ConvNeXtSmall", 224, "none", "convnext_small_head_gap"),
), error=ModelError)


def display_name(backbone: str) -> str:
    """The table name of a registry backbone name (unknown names are shown as given)."""
    return BACKBONES[backbone].display if backbone in BACKBONES else backbone


@dataclass(frozen=True)
class Recipe:
    """How a cell is trained (METHOD.md, "Training recipes")."""

    name: str
    label: str  #: the paper's suffix in Tables 6 and 7
    metadata: bool  #: the model has the metadata branch
    weighted_loss: bool  #: class-weighted cross-entropy (train.loss)
    augmented: bool  #: trains on the offline-augmented training set (data.augment)


AUGMENTED, METADATA = "augmented", "metadata"  #: the recipes' names
RECIPES: Registry[Recipe] = Registry("recipe", (
    Recipe(AUGMENTED, "Augmented Data", metadata=False, weighted_loss=False, augmented=True),
    Recipe(METADATA, "Metadata and WeightLoss", metadata=True, weighted_loss=True, augmented=False),
), error=RunError)
RECIPE_NAMES: tuple[str, ...] = RECIPES.names()


@dataclass(frozen=True)
class Ablation:
    """A study of one backbone's variants (``skinbench ablate <name>``)."""

    name: str
    backbone: str
    description: str


#: Every ablation, one entry each.
ABLATIONS: Registry[Ablation] = Registry("ablation", (
    Ablation("mobilenetv3", "mobilenetv3large",
             "the paper's Table 9: MobileNetV3Large cut at each of its layers, with the metadata recipe"),
), error=RunError)

#: The backbone the paper's truncation ablation (Table 9) cuts.
ABLATION_BACKBONE = ABLATIONS["mobilenetv3"].backbone
#: The paper's ``Layer[:N]`` cut points, and those that land on a 1x1 feature map, where soft
#: attention can only rescale the features (a softmax over one position is 1).
ABLATION_CUTS: tuple[int, ...] = (230, 240, 246, 251, 260, 266, 270)
ONE_BY_ONE_CUTS = frozenset({230, 251, 266, 270})


@dataclass(frozen=True)
class AblationRow:
    """One row of paper Table 9: a cut and what sits on it.

    ``paper_name`` is the row exactly as the paper prints it; ``label`` the short form of
    skinbench's tables.
    """

    key: str
    label: str
    paper_name: str
    cut: int
    attention: bool = True
    metadata: bool = True
    extra_dense: int = 0

    @property
    def cut_key(self) -> str:
        """The cut's name in ``models.ablation.CUTS`` and ``build_model(cut=...)``."""
        return f"cut{self.cut}"

    @property
    def one_by_one(self) -> bool:
        """Soft attention on a 1x1 map: only a scaling (run as the paper did, flagged in the report)."""
        return self.attention and self.cut in ONE_BY_ONE_CUTS


def _cut_row(n: int, *, extra_dense: int = 0, metadata: bool = True) -> AblationRow:
    dense = f" + Dense({extra_dense})" if extra_dense else ""
    key = f"cut{n}" + (f"-dense{extra_dense}" if extra_dense else "") + ("" if metadata else "-nometa")
    label = f"[:{n}]" + dense + ("" if metadata else " without metadata")
    paper = f"MobileNetV3Large-Layer[:{n}] + Soft-Attention" + dense + (" + Metadata" if metadata else "")
    return AblationRow(key, label, paper, n, metadata=metadata, extra_dense=extra_dense)


#: Paper Table 9, in the paper's order.
ABLATION_ROWS: dict[str, AblationRow] = {
    row.key: row
    for row in (
        _cut_row(270),
        _cut_row(266),
        _cut_row(260),
        _cut_row(251),
        _cut_row(246),
        _cut_row(246, extra_dense=512),
        _cut_row(240),
        _cut_row(230),
        _cut_row(230, metadata=False),
        # The author's notebook "MobileNetV3Large - 10split - LRStrategy": the whole ImageNet
        # model to its flattened 1000-way logits (tf.keras 2 ``layers[-2]``, the Flatten before
        # the softmax, so Layer[:272]), then Dense(7, softmax) directly: no skinbench head, no
        # soft attention, no metadata (models.ablation.LOGITS builds it).
        AblationRow("plain", "MobileNetV3Large", "MobileNetV3Large", 272, attention=False, metadata=False),
    )
}
#: The paper's best MobileNetV3Large (Tables 10 and 11).
BEST_ABLATION = "cut240"

# Choices of the command line and of config.json, each declared once.
#: data.splits: ``paper`` (the paper's 90/10, reported on its validation part), ``leaky`` (image-level
#: 70/15/15, reported on its test part: the lesion split's sizes and selection with the paper's leak),
#: ``lesion`` (lesion-grouped 70/15/15) and ``official`` (the ISIC 2018 Task 3 test set).
SPLITS: tuple[str, ...] = ("paper", "leaky", "lesion", "official")
PRECISIONS: tuple[str, ...] = ("float32", "mixed", "mixed_float16", "mixed_bfloat16", "auto")  #: train.precision
ATTENTION_VARIANTS: tuple[str, ...] = ("paper", "reference")
REAL, SYNTHETIC = "ham10000", "synthetic"  #: --dataset: the real images, or the generated stand-in
DATASETS: tuple[str, ...] = (REAL, SYNTHETIC)
TABLE_FORMATS: tuple[str, ...] = ("table", "markdown", "csv")
INLINE, LOCAL, SLURM = "inline", "local", "slurm"  #: where cells run (train.executors)
EXECUTORS: tuple[str, ...] = (INLINE, LOCAL, SLURM)
EXPORT_FORMATS: tuple[str, ...] = ("tflite", "tflite-fp16", "tflite-int8", "saved_model")  #: deploy.export
#: The sources of the shipped data/manifest.json (``data fetch --source``; another --manifest may name others).
FETCH_SOURCES: tuple[str, ...] = ("ham10000", "isic2018", "isic2019")


def check_choice(option: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; else a RunError, worded the same for every option.

    The command line refuses such values while parsing, with this same message
    (``commands.options``); library code calls it for values that come from elsewhere.
    """
    if value not in choices:
        raise RunError(f"{option} must be one of {', '.join(choices)}, not {value!r}", fields=(option,))
    return value  # type: ignore[return-value]


# HAM10000 (Tschandl et al. 2018) and the paper's use of it.
HAM10000_IMAGES = 10015
HAM10000_PART_1_IMAGES = 5000  #: in HAM10000_images_part_1.zip; the rest are in part_2
#: The ISIC 2018 Task 3 test set (the ``official`` split reports on it; nothing else touches it).
ISIC2018_TEST_IMAGES = 1511
#: Listed in some releases of the test set's ground truth (then 1,512 rows) and given score weight 0 by
#: the official scorer (isic-challenge-scoring, ``load_csv.parse_truth_csv``): never scored here either.
ISIC2018_UNSCORED = ("ISIC_0035068",)
#: The top of the ISIC 2018 Task 3 leaderboard (balanced multiclass accuracy, a submission that
#: used external data), with its source: the only published figure the official report shows.
ISIC2018_TOP_BALANCED_ACCURACY = 0.885
ISIC2018_LEADERBOARD = "ISIC 2018 Task 3 leaderboard, https://challenge.isic-archive.com/leaderboards/2018/"
PAPER_AUGMENTED_IMAGES = 18015  #: the paper's training set after offline augmentation
#: Metadata features the encoder makes on HAM10000: age, 4 sex slots, 16 site slots (data.metadata).
HAM10000_METADATA_FEATURES = 21

# The author's notebooks: the public repository and the commit its facts below were read at
# (config.SCHEDULES' ``code`` schedule follows them; docs/guides/training.md, "Schedules", says what differs).
AUTHOR_REPOSITORY = "ScaleMind-C9308A/SLC-ID-SA"  #: also published as KhoiDOO/SLC-ID-SA
AUTHOR_COMMIT = "3c00e2de491d71e433760c93eb1909bb6923d30a"
#: The metadata recipe's notebook (the paper's metadata rows; every "LRStrategy" notebook of that
#: folder has the same training settings).
AUTHOR_METADATA_NOTEBOOK = (
    "Experiment/Model With Soft Attention, Metadata, and Weigth Loss/IRV2 - SoftAtt/IRV2 - SoftAtt - 10split-LRStrategy.ipynb"
)
#: The augmented recipe's notebook: its InceptionResNetV2 is the paper's augmented row (Tables 4, 6, 7), per class.
AUTHOR_AUGMENTED_NOTEBOOK = (
    "ReImplementation/Attention-based-Skin-Cancer-Classification/Ham10000 models/"
    "Best Model with different Test Train splits/IRV2+SA_15split.ipynb"
)
#: Both call ``fit(..., steps_per_epoch=len(train_df) / 10)``. Keras 2 runs ceil of that many
#: steps; on in-memory arrays without a batch size (the metadata notebooks) it also takes batches
#: of ceil(n / steps) = 10 images, so an epoch there is one pass over the training part.
AUTHOR_STEPS_DIVISOR = 10
AUTHOR_METADATA_BATCH = 10  #: the metadata notebooks' training batch (Keras 2's, from the rule above)
AUTHOR_AUGMENTED_BATCH = 16  #: IRV2+SA_15split's ``batch_size = 16``
#: IRV2+SA_15split grows every class of its training part to about this many images, offline.
AUTHOR_AUGMENTED_PER_CLASS = 8000
#: The metadata notebooks' training part: 90% of the 9,958 images with an age.
AUTHOR_TRAIN_IMAGES = 8962

# The author's training "epoch" and device, behind the paper's Table 11 times: one pass over the
# metadata notebooks' training part, in ceil(8,962 / 10) = 897 steps of 10 images.
PAPER_EPOCH_STEPS = -(-AUTHOR_TRAIN_IMAGES // AUTHOR_STEPS_DIVISOR)
PAPER_EPOCH_IMAGES = AUTHOR_TRAIN_IMAGES
PAPER_BATCH_SIZE = 32  #: the paper text's batch (the ``paper`` schedule's)
PAPER_DEVICE = "NVIDIA Titan V"
#: The abstract: MobileNetV3Large with soft attention "achieves 86 percent accuracy and 30 times
#: faster diagnosis" than InceptionResNetV2 (the paper does not say how the time was measured).
PAPER_MOBILE_SPEEDUP = 30
