"""The MobileNetV3Large truncation ablation (paper Table 9).

The paper's ``Layer[:N]`` is the output of layer N-1 of tf.keras 2's
``MobileNetV3Large(include_top=True)``, which had 273 layers because hard-swish and
hard-sigmoid were spelled out as ``x + 3``, ReLU6, ``* 1/6`` and ``Multiply`` layers. Keras 3
builds 194 layers and hides those ops, so each cut names the equivalent Keras 3 tensor;
``tests/models/test_ablation.py`` checks the table against the tf.keras 2 layer list.

Four cuts land on 1x1 maps, where soft attention can only rescale the features (a softmax
over one position is 1). They are built as the paper built them and flagged ``one_by_one``.
"""

from __future__ import annotations

from dataclasses import dataclass

from skinbench.errors import ModelError
from skinbench.models.backbones import REGISTRY, CutPoint

#: The backbone the ablation truncates.
BACKBONE = "mobilenetv3large"


@dataclass(frozen=True)
class AblationCut:
    """One ``Layer[:n]`` cut: what tf.keras 2 had at layer n-1, and the Keras 3 tensor."""

    n: int
    tf_keras_layer: str
    point: CutPoint
    one_by_one: bool

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
            one_by_one=True,
        ),
        AblationCut(
            240, "hard-swish after expanded_conv_14/expand BN",
            CutPoint("expanded_conv_14_depthwise", side="input", note="hard-swish after expanded_conv_14_expand_bn"),
            one_by_one=False,
        ),
        AblationCut(246, "hard-swish after expanded_conv_14/depthwise BN", REGISTRY[BACKBONE].cut, one_by_one=False),
        AblationCut(
            251, "block-14 squeeze-excite Conv_1 output + 3",
            CutPoint("expanded_conv_14_squeeze_excite_conv_1", offset=3.0),
            one_by_one=True,
        ),
        AblationCut(260, "Conv_1/BatchNorm output + 3", CutPoint("conv_1_bn", offset=3.0), one_by_one=False),
        AblationCut(266, "head Conv_2 output + 3", CutPoint("conv_2", offset=3.0, needs_top=True), one_by_one=True),
        AblationCut(
            270, "head dropout",
            CutPoint("logits", side="input", note="the dropout before the logits", needs_top=True),
            one_by_one=True,
        ),
    )
}


@dataclass(frozen=True)
class AblationRow:
    """One row of paper Table 9: a cut and what sits on it.

    ``paper_name`` is the row exactly as the paper prints it; ``label`` is the short form used
    in skinbench's tables.
    """

    key: str
    label: str
    paper_name: str
    cut: str
    attention: bool = True
    metadata: bool = True
    extra_dense: int = 0

    @property
    def one_by_one(self) -> bool:
        return CUTS[self.cut].one_by_one

    def paper_accuracy(self) -> float | None:
        """The paper's accuracy for this row, when the paper data file has Table 9."""
        from skinbench.report.paper import paper_table

        table = paper_table(9)
        for name in (self.paper_name, self.label):
            if name in table.index and "accuracy" in table.columns:
                value = table.loc[name, "accuracy"]
                return None if value != value else float(value)  # NaN: printed as "?"
        return None


def _cut_row(n: int) -> AblationRow:
    return AblationRow(
        key=f"cut{n}", label=f"[:{n}]",
        paper_name=f"MobileNetV3Large-Layer[:{n}] + Soft-Attention + Metadata", cut=f"cut{n}",
    )


#: Paper Table 9, in the paper's order.
ABLATION_ROWS: dict[str, AblationRow] = {
    row.key: row
    for row in (
        _cut_row(270),
        _cut_row(266),
        _cut_row(260),
        _cut_row(251),
        _cut_row(246),
        AblationRow(
            "cut246-dense512", "[:246] + Dense(512)",
            "MobileNetV3Large-Layer[:246] + Soft-Attention + Dense(512) + Metadata", "cut246", extra_dense=512,
        ),
        _cut_row(240),
        _cut_row(230),
        AblationRow(
            "cut230-nometa", "[:230] without metadata",
            "MobileNetV3Large-Layer[:230] + Soft-Attention", "cut230", metadata=False,
        ),
        # The whole network to its own classifier input (the dropout before the 1000-way
        # logits), then the paper's head without soft attention and a 7-way softmax.
        AblationRow(
            "plain", "MobileNetV3Large", "MobileNetV3Large", "cut270", attention=False, metadata=False,
        ),
    )
}


def get_row(key: str) -> AblationRow:
    """The Table 9 row named ``key`` (e.g. ``cut246``); unknown keys list the valid ones."""
    row = ABLATION_ROWS.get(key.strip().lower())
    if row is None:
        raise ModelError(f"unknown ablation row {key!r}; choose from {', '.join(ABLATION_ROWS)}")
    return row
