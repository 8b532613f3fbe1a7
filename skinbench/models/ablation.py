"""The MobileNetV3Large truncation ablation (paper Table 9).

The paper's ``Layer[:N]`` is the output of layer N-1 of tf.keras 2's
``MobileNetV3Large(include_top=True)``, which had 273 layers because hard-swish and
hard-sigmoid were spelled out as ``x + 3``, ReLU6, ``* 1/6`` and ``Multiply`` layers. Keras 3
builds 194 layers and hides those ops, so each cut names the equivalent Keras 3 tensor;
``tests/models/test_models_ablation.py`` checks the table against the tf.keras 2 layer list.

The rows, their labels and which cuts land on 1x1 maps are catalogue facts
(``catalogue.ABLATION_ROWS``); this module gives each cut its Keras tensor. The plain
MobileNetV3Large row is not a soft-attention cut: it takes the whole network to its 1000-way
logits (``LOGITS``) and puts the 7-way softmax straight on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from skinbench.catalogue import ABLATION_BACKBONE as BACKBONE
from skinbench.catalogue import ABLATION_CUTS, ABLATION_ROWS, ONE_BY_ONE_CUTS, AblationRow
from skinbench.errors import ModelError
from skinbench.catalogue import BACKBONES, CutPoint


@dataclass(frozen=True)
class AblationCut:
    """One ``Layer[:n]`` cut: what tf.keras 2 had at layer n-1, and the Keras 3 tensor."""

    n: int
    tf_keras_layer: str
    point: CutPoint

    @property
    def one_by_one(self) -> bool:
        return self.n in ONE_BY_ONE_CUTS

    @property
    def key(self) -> str:
        return f"cut{self.n}"

    @property
    def label(self) -> str:
        return f"[:{self.n}]"


CUTS: dict[str, AblationCut] = {
    cut.key: cut
    for cut in (
        AblationCut(
            230, "block-13 squeeze-excite gate (hard-sigmoid output)",
            CutPoint("expanded_conv_13_squeeze_excite_mul", side="input", index=1,
                     note="ReLU6(expanded_conv_13_squeeze_excite_conv_1 + 3) / 6"),
        ),
        AblationCut(
            240, "hard-swish after expanded_conv_14/expand BN",
            CutPoint("expanded_conv_14_depthwise", side="input", note="hard-swish after expanded_conv_14_expand_bn"),
        ),
        AblationCut(246, "hard-swish after expanded_conv_14/depthwise BN", BACKBONES[BACKBONE].cut),
        AblationCut(
            251, "block-14 squeeze-excite Conv_1 output + 3",
            CutPoint("expanded_conv_14_squeeze_excite_conv_1", offset=3.0),
        ),
        AblationCut(260, "Conv_1/BatchNorm output + 3", CutPoint("conv_1_bn", offset=3.0)),
        AblationCut(266, "head Conv_2 output + 3", CutPoint("conv_2", offset=3.0, needs_top=True)),
        AblationCut(
            270, "head dropout",
            CutPoint("logits", side="input", note="the dropout before the logits", needs_top=True),
        ),
    )
}
if tuple(cut.n for cut in CUTS.values()) != ABLATION_CUTS:
    raise ImportError("models.ablation.CUTS must give every cut of catalogue.ABLATION_CUTS a tensor, in order")

#: The plain MobileNetV3Large row's cut: the whole ImageNet model to its flattened 1000-way
#: logits, tf.keras 2's ``layers[-2]`` (the Flatten before the softmax, so ``Layer[:272]``), as
#: the author's notebook took it. No skinbench head follows: ``build_model`` puts the 7-way
#: softmax (and any metadata branch or extra Dense) directly on it, and refuses soft attention
#: there (a vector has no positions to attend over).
LOGITS = AblationCut(
    272, "flattened 1000-way logits (layers[-2], before the softmax)",
    CutPoint("predictions", side="input", note="the flattened 1000-way logits, before the softmax", needs_top=True),
)
#: Every cut an ablation row names (``AblationRow.cut_key``): the paper's soft-attention cuts and LOGITS.
ROW_CUTS: dict[str, AblationCut] = {**CUTS, LOGITS.key: LOGITS}
if any(row.cut_key not in ROW_CUTS for row in ABLATION_ROWS.values()):
    raise ImportError("every row of catalogue.ABLATION_ROWS must cut at a tensor of models.ablation.ROW_CUTS")


def get_row(key: str) -> AblationRow:
    """The Table 9 row named ``key`` (e.g. ``cut246``); unknown keys list the valid ones."""
    row = ABLATION_ROWS.get(key.strip().lower())
    if row is None:
        raise ModelError(f"unknown ablation row {key!r}; choose from {', '.join(ABLATION_ROWS)}")
    return row
