"""The report's names (kept apart so that `skinbench report` never imports Keras) match the models'."""

from __future__ import annotations

from skinbench.report.paper import ABLATION_LABELS, DISPLAY_NAMES, ONE_BY_ONE_ABLATIONS, paper_rows


def test_names_match_the_backbone_registry_and_the_ablation_table() -> None:
    from skinbench.models.ablation import ABLATION_ROWS
    from skinbench.models.backbones import REGISTRY

    assert DISPLAY_NAMES == {name: spec.display for name, spec in REGISTRY.items()}
    assert ABLATION_LABELS == {key: row.paper_name for key, row in ABLATION_ROWS.items()}
    assert ONE_BY_ONE_ABLATIONS == {key for key, row in ABLATION_ROWS.items() if row.one_by_one and row.attention}


def test_every_table9_row_of_the_paper_has_an_ablation_key() -> None:
    assert list(ABLATION_LABELS.values()) == paper_rows(9)
