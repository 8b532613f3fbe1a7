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
    from skinbench.data.ham10000 import read_table
    from skinbench.deploy import explain as maps
    from skinbench.deploy.model import check_metadata_columns, load_cell
    from skinbench.errors import RunError
    from skinbench.records import CLASS_MEANS, EXPLAIN_DIR

    if not images and not per_class:
        raise RunError("nothing to explain: name image files, or pass --per-class N")
    kept = load_cell(cell_dir)
    out = out or Path(cell_dir) / EXPLAIN_DIR
    warn = lambda message: err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)  # noqa: E731
    found = []
    if images:
        table = read_table(metadata) if metadata is not None else None
        if table is not None:
            check_metadata_columns(table, metadata)
        lesions = maps.known_lesions(kept, [Path(p).stem for p in images])
        found += maps.explain(kept, list(images), table, lesions=lesions, warn=warn)
    if per_class:
        chosen, metadata_rows, files = maps.per_class_images(kept, per_class)
        lesions = maps.known_lesions(kept, list(chosen))
        explained = maps.explain(kept, [files[i] for i in chosen], metadata_rows.reset_index(), lesions=lesions, warn=warn)
        by_class = maps.by_class(explained, chosen)
        found += [e for group in by_class.values() for e in group]
        maps.save(maps.class_means_figure(by_class), out / CLASS_MEANS)
        lesion = maps.lesion_attention(explained, chosen)
        if lesion is not None:
            lesion.write(out)
            console.print(
                f"share of attention inside the lesion ({lesion.n_images} images): trained {lesion.trained:.2f}, "
                f"randomised weights {lesion.randomised:.2f}, lesion area {lesion.area:.2f} (attention spread evenly); "
                f"trained above randomised on {lesion.trained_above_randomised} of {lesion.n_images}",
                highlight=False, soft_wrap=True,
            )
    for explanation in found:
        maps.save(maps.figure(explanation), out / f"{explanation.image_id}.png")
    flagged = [e.image_id for e in found if e.randomised_correlation > maps.UNCHANGED]
    correlations = [e.randomised_correlation for e in found]
    console.print(
        f"{len(found)} image(s) explained into {out}; rank correlation of trained and randomised-weight attention maps: "
        f"median {sorted(correlations)[len(correlations) // 2]:.2f}"
        + (f"; {len(flagged)} map(s) barely change (above {maps.UNCHANGED}): {', '.join(flagged[:5])}" if flagged else ""),
        highlight=False, soft_wrap=True,
    )
