"""The seed paper's published numbers, from the one data file ``paper_results.csv``, and its names.

Long format: ``table,row,column,value``. ``table`` is the paper's table number; an empty
``value`` means the paper printed none ("Unknown"). Rows and columns per table:

- 2: class code or ``total`` x ``n_images``.
- 3: backbone display name x ``size_mb``, ``params_m``, ``depth``.
- 4, 5: backbone x ``accuracy`` (augmented data; metadata).
- 6, 7: ``<backbone> + <recipe label>`` x class codes and ``mean`` (F1; recall).
- 8: mobile backbone x ``accuracy``, ``balanced_accuracy`` (the paper's definition),
  ``precision``, ``f1``, ``sensitivity``, ``specificity``, ``auc`` (unweighted means).
- 9: the paper's ablation row label x ``accuracy``.
- 10: ``MobileNetV3Large`` (the [:240] model) x ``accuracy``, ``precision``, ``f1``,
  ``sensitivity``, ``specificity``, ``auc`` (support-weighted means).
- 11: backbone x ``params_m``, ``depth``, ``accuracy``, ``epoch_s`` (seconds per the paper's
  "epoch" of PAPER_EPOCH_IMAGES images on a PAPER_DEVICE).

Every number here is labelled as the paper's wherever it is shown.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

# Backbone registry name -> the display name the tables use (the paper's spelling, normalised).
DISPLAY_NAMES: dict[str, str] = {
    "resnet50": "ResNet50",
    "resnet152": "ResNet152",
    "densenet201": "DenseNet201",
    "inceptionresnetv2": "InceptionResNetV2",
    "vgg16": "VGG16",
    "mobilenet": "MobileNet",
    "mobilenetv2": "MobileNetV2",
    "mobilenetv3small": "MobileNetV3Small",
    "mobilenetv3large": "MobileNetV3Large",
    "nasnetmobile": "NASNetMobile",
    "nasnetlarge": "NASNetLarge",
}
MOBILE_BACKBONES = ("mobilenet", "mobilenetv2", "mobilenetv3small", "mobilenetv3large", "nasnetmobile")

# Training recipe -> the paper's suffix in Tables 6 and 7.
RECIPE_LABELS: dict[str, str] = {"augmented": "Augmented Data", "metadata": "Metadata and WeightLoss"}

# Ablation row key (config.json "ablation") -> the paper's Table 9 row label, in the paper's order.
_CUT = "MobileNetV3Large-Layer[:{}] + Soft-Attention"
ABLATION_LABELS: dict[str, str] = {
    "cut270": _CUT.format(270) + " + Metadata",
    "cut266": _CUT.format(266) + " + Metadata",
    "cut260": _CUT.format(260) + " + Metadata",
    "cut251": _CUT.format(251) + " + Metadata",
    "cut246": _CUT.format(246) + " + Metadata",
    "cut246-dense512": _CUT.format(246) + " + Dense(512) + Metadata",
    "cut240": _CUT.format(240) + " + Metadata",
    "cut230": _CUT.format(230) + " + Metadata",
    "cut230-nometa": _CUT.format(230),
    "plain": "MobileNetV3Large",
}
# Cuts that land on a 1x1 feature map, where soft attention can only scale (METHOD.md).
ONE_BY_ONE_ABLATIONS = frozenset({"cut230", "cut230-nometa", "cut251", "cut266", "cut270"})
BEST_ABLATION = "cut240"  # the paper's best MobileNetV3Large (Tables 10 and 11)

PAPER_EPOCH_IMAGES = 896 * 32  # the author's "epoch": 896 steps at batch 32
PAPER_DEVICE = "NVIDIA Titan V"


def display_name(backbone: str) -> str:
    """The table name of a registry backbone name (unknown names are shown as given)."""
    return DISPLAY_NAMES.get(backbone, backbone)


@lru_cache(maxsize=1)
def load_paper() -> pd.DataFrame:
    """All published values, one row per number."""
    with resources.files("skinbench.report").joinpath("paper_results.csv").open() as handle:
        return pd.read_csv(handle, dtype={"table": str, "row": str, "column": str})


def paper_table(table: int | str) -> pd.DataFrame:
    """One table's values as a wide frame: index = row, columns = metric."""
    frame = load_paper()
    part = frame[frame["table"] == str(table)]
    return part.pivot(index="row", columns="column", values="value")


def paper_value(table: int | str, row: str, column: str) -> float | None:
    """One published number, or None where the paper has none."""
    return _values().get((str(table), row, column))


@lru_cache(maxsize=1)
def _values() -> dict[tuple[str, str, str], float]:
    frame = load_paper().dropna(subset=["value"])
    return {(t, r, c): float(v) for t, r, c, v in frame[["table", "row", "column", "value"]].itertuples(index=False)}


def paper_rows(table: int | str) -> list[str]:
    """The rows of one table, in the paper's order."""
    frame = load_paper()
    return list(dict.fromkeys(frame.loc[frame["table"] == str(table), "row"]))
