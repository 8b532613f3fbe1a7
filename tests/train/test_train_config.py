"""Cells, named matrices, option parsing and sharding (no training)."""

from __future__ import annotations

import pytest

from skinbench import catalogue, config
from skinbench.config import Cell
from skinbench.errors import RunError

PAPER_CELLS = {
    "inceptionresnetv2-augmented", "densenet201-augmented", "resnet50-augmented", "vgg16-augmented",
    "inceptionresnetv2-metadata", "densenet201-metadata", "resnet50-metadata", "resnet152-metadata",
    "mobilenetv2-metadata", "mobilenetv3large-metadata", "mobilenetv3small-metadata", "nasnetlarge-metadata",
    "nasnetmobile-metadata",
}


def cells(name: str, seeds=(0,), split: str = "paper") -> list[Cell]:
    return config.select(config.MATRICES.get(name), backbones=None, recipes=None, split=split, seeds=seeds)


def test_cell_ids() -> None:
    assert Cell("resnet50", "metadata", "paper", 0).cell_id == "resnet50-metadata-paper-s0"
    assert Cell("mobilenetv3large", "metadata", "lesion", 2, "cut246").cell_id == "mobilenetv3large-ablation-cut246-lesion-s2"


def test_named_matrices() -> None:
    full = cells("full")
    assert len(full) == 22 and len({c.backbone for c in full}) == 11
    assert {f"{c.backbone}-{c.recipe}" for c in cells("paper")} == PAPER_CELLS
    smoke = cells("smoke")
    assert len(smoke) == 4 and {c.recipe for c in smoke} == {"augmented", "metadata"}
    assert config.MATRICES.get("smoke").profile.settings.epochs == 2
    demo = cells("demo")
    assert {(c.backbone, c.recipe) for c in demo} == {("mobilenetv3small", "augmented"), ("mobilenetv3small", "metadata")}


def test_filters_and_seeds() -> None:
    spec = config.MATRICES.get("full")
    chosen = config.select(spec, backbones=["resnet50"], recipes=["metadata"], split="lesion", seeds=[0, 1, 2])
    assert [c.cell_id for c in chosen] == [f"resnet50-metadata-lesion-s{s}" for s in (0, 1, 2)]
    with pytest.raises(RunError, match="no cell of the paper matrix"):
        config.select(config.MATRICES.get("paper"), backbones=["vgg16"], recipes=["metadata"], split="paper", seeds=[0])
    assert config.parse_seeds("2,0,2", 5) == [0, 2] and config.parse_seeds(None, 5) == [5]
    with pytest.raises(RunError):
        config.parse_seeds("a,b", 0)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_shards_cover_the_matrix_exactly_once(n: int) -> None:
    matrix = cells("full", seeds=(0, 1))
    parts = [config.shard(matrix, k, n) for k in range(1, n + 1)]
    ids = [c.cell_id for part in parts for c in part]
    assert sorted(ids) == sorted(c.cell_id for c in matrix) and len(ids) == len(set(ids))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert parts == [config.shard(list(reversed(matrix)), k, n) for k in range(1, n + 1)]  # order-independent


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b"])
def test_bad_shards(text: str) -> None:
    with pytest.raises(RunError, match="^matrix.shard "):
        config.parse_shard(text)


def test_image_size_and_settings() -> None:
    assert config.parse_image_size("native", "model.image_size") is None
    assert config.parse_image_size("64", "model.image_size") == 64
    with pytest.raises(RunError, match="^--image-size 16 is too small"):
        config.parse_image_size("16", "--image-size")
    settings = config.SMOKE.settings.override(epochs=3, image_size=None)
    assert settings.epochs == 3 and settings.image_size == 64


def test_ablation_cells_and_their_plans() -> None:
    from skinbench.train.resolve import plan_for

    every = config.ablation_cells(None, split="paper", seeds=[0])
    assert len(every) == 10 and all(cell.recipe == "metadata" for cell in every)
    chosen = config.ablation_cells([230, 246], split="paper", seeds=[0])
    assert sorted(cell.ablation for cell in chosen) == ["cut230", "cut230-nometa", "cut246", "cut246-dense512"]
    plans = {cell.ablation: plan_for(cell, config.Settings(attention="reference")) for cell in chosen}
    assert plans["cut230-nometa"].metadata is False and plans["cut230"].metadata is True
    assert plans["cut246"].attention == "reference" and plans["cut246"].cut == "cut246"
    assert plans["cut246-dense512"].extra_dense == 512
    plain = next(cell for cell in every if not catalogue.ABLATION_ROWS[cell.ablation].attention)
    assert plan_for(plain, config.Settings()).attention is None
    with pytest.raises(RunError, match="no cut at 231"):
        config.ablation_cells([231], split="paper", seeds=[0])
