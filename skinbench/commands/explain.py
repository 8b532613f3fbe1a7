"""`skinbench explain`: soft-attention maps, Grad-CAM and a randomised-weights sanity check for a kept cell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from skinbench.commands.common import guarded
from skinbench.console import console, err_console


@guarded
def explain(
    cell_dir: Annotated[Path, typer.Argument(help="A finished cell's folder (it holds model.keras and inference.json).")],
    images: Annotated[Optional[List[Path]], typer.Argument(help="Image files to explain.")] = None,
    per_class: Annotated[
        int, typer.Option("--per-class", metavar="N", min=0, help="Also explain N reported images of each class, with the mean map per class.")
    ] = 0,
    metadata: Annotated[
        Optional[Path], typer.Option("--metadata", metavar="FILE", help="CSV in the HAM10000 schema for the named images (metadata models).")
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="FOLDER", show_default="CELL_DIR/explain", help="Folder for the PNGs.")] = None,
) -> None:
    """One PNG per image (image, attention alpha, Grad-CAM, the 16 head maps), and how much randomising the weights changes the maps.

    On a synthetic set, --per-class also measures the share of attention inside each image's known lesion.

    Examples:
      skinbench explain CELL_DIR --per-class 4
      skinbench explain CELL_DIR lesion1.jpg --metadata lesions.csv --out figures/
    """
    from skinbench.deploy.explain import UNCHANGED, explain_cell

    warn = lambda message: err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)  # noqa: E731
    result = explain_cell(cell_dir, images or [], per_class=per_class, metadata=metadata, out=out, warn=warn)
    lesion = result.lesion
    if lesion is not None:
        console.print(
            f"share of attention inside the lesion ({lesion.n_images} images): trained {lesion.trained:.2f}, "
            f"randomised weights {lesion.randomised:.2f}, lesion area {lesion.area:.2f} (attention spread evenly); "
            f"trained above randomised on {lesion.trained_above_randomised} of {lesion.n_images}",
            highlight=False, soft_wrap=True,
        )
    correlations = sorted(e.randomised_correlation for e in result.explanations)
    flagged = result.flagged
    console.print(
        f"{len(correlations)} image(s) explained into {result.out}; rank correlation of trained and randomised-weight "
        f"attention maps: median {correlations[len(correlations) // 2]:.2f}"
        + (f"; {len(flagged)} map(s) barely change (above {UNCHANGED}), each flagged:" if flagged else ""),
        highlight=False, soft_wrap=True,
    )
    for e in flagged:
        console.print(f"  {result.figure_path(e)}  rank correlation {e.randomised_correlation:.2f}", highlight=False, soft_wrap=True)
