"""`skinbench evaluate`: kept cells scored on another dataset (external validation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.markup import escape

from skinbench.commands.common import guarded
from skinbench.console import console, err_console


def _warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


@guarded
def evaluate(
    cell_dirs: Annotated[List[Path], typer.Argument(metavar="CELL_DIR...", help="Finished cells' folders (each holds model.keras and inference.json).")],
    data: Annotated[Path, typer.Option("--data", metavar="FOLDER", help="The dataset's folder, in its published layout (docs: External validation).")],
    dataset: Annotated[Optional[str], typer.Option("--dataset", metavar="NAME", show_default="found from the folder's files", help="Its registry name (isic2019, pad-ufes-20, derm7pt, ham10000).")] = None,
    ham10000: Annotated[Optional[Path], typer.Option("--ham10000", metavar="FOLDER", show_default="each cell's own HAM10000 folder", help="A folder holding HAM10000_metadata.csv: HAM10000's image ids, left out of ISIC 2019.")] = None,
    check_overlap: Annotated[bool, typer.Option("--check-overlap/--no-check-overlap", help="Compare the set's images with each cell's training part (exact and perceptual hashes) and warn about shared ones.")] = True,
) -> None:
    """Score kept models on another dataset; results go to <cell>/external/<dataset>/ for the report.

    Examples:
      skinbench evaluate results/demo/*-paper-s0 --data isic2019-set
      skinbench evaluate results/paper/*-lesion-s0 --data data/pad-ufes-20
    """
    from skinbench.data.audit import NEAR_DISTANCE
    from skinbench.deploy.evaluate import Overlap, check_metadata, choose_entry, evaluate_cell, ham10000_ids
    from skinbench.deploy.model import load_cell
    from skinbench.records import CellConfig, CellMetrics

    entry = choose_entry(data, dataset)
    kept = [load_cell(folder) for folder in cell_dirs]
    for model in kept:  # refuse before anything is scored
        check_metadata(model, entry)
    configs = [CellConfig.read(model.folder) for model in kept]
    external = entry.read(data, ham10000_ids(entry, configs, ham10000))
    left_out = "".join(f"; {count:,} left out ({reason})" for reason, count in external.excluded.items())
    console.print(
        f"{entry.title} ({external.root}): {len(external.frame):,} images, {len(external.mapped):,} of HAM10000's classes, "
        f"{len(external.unmapped):,} of classes without a counterpart ({', '.join(entry.unmapped_classes) or 'none'}){left_out}",
        highlight=False, soft_wrap=True,
    )
    overlap = Overlap.of(external, _warn) if check_overlap else None
    for model, config in zip(kept, configs):
        shared = None
        if overlap is not None:
            pairs = overlap.shared(model.folder, config)
            shared = int(pairs["image_b"].nunique())
            if shared:
                first = pairs.iloc[0]
                _warn(
                    f"{shared} image(s) of {entry.title} duplicate images of {config.cell_id}'s training part (first: "
                    f"{first['image_b']} = {first['image_a']}, {first['kind']}; perceptual hashes at most {NEAR_DISTANCE} "
                    "bits apart count): its external figures are optimistic; 'skinbench data audit' lists every pair"
                )
        out = evaluate_cell(model, external, shared=shared, warn=_warn)
        metrics = CellMetrics.read(out)
        console.print(
            f"{config.cell_id}: balanced accuracy {metrics.values['balanced_accuracy']:.3f} on {metrics.n_images:,} "
            f"{entry.title} images -> {out}",
            highlight=False, soft_wrap=True,
        )
