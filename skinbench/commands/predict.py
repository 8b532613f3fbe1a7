"""`skinbench predict`: a kept cell's probabilities for new images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from skinbench.commands.common import guarded
from skinbench.console import console, err_console


@guarded
def predict(
    cell_dir: Annotated[Path, typer.Argument(help="A finished cell's folder (it holds model.keras and inference.json).")],
    images: Annotated[Optional[List[Path]], typer.Argument(help="Image files (JPEG or PNG).")] = None,
    folder: Annotated[Optional[Path], typer.Option("--images", metavar="FOLDER", help="A folder: every image below it.")] = None,
    metadata: Annotated[
        Optional[Path],
        typer.Option("--metadata", metavar="FILE", help="CSV in the HAM10000 schema (image_id, age, sex, localization), for metadata models."),
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="FILE", help="Write the CSV here instead of printing it.")] = None,
) -> None:
    """ISIC 2018 Task 3 probabilities (image,MEL,NV,BCC,AKIEC,BKL,DF,VASC) and the predicted class.

    Examples:
      skinbench predict results/demo/mobilenetv3small-augmented-paper-s0 a.jpg b.jpg
      skinbench predict CELL_DIR --images photos/ --metadata photos.csv --out p.csv
    """
    from skinbench.deploy.kept import check_metadata_given, read_kept

    check_metadata_given(cell_dir, read_kept(cell_dir), metadata)  # before Keras loads the model
    from skinbench.data.ham10000 import read_table
    from skinbench.deploy.model import check_metadata_columns, load_cell
    from skinbench.deploy.predict import image_paths, predict as run_predict
    from skinbench.data._workers import progress_bar
    from skinbench.classes import ISIC_COLUMNS
    from skinbench.io import write_csv

    paths = image_paths(images or [], folder)
    table = read_table(metadata) if metadata is not None else None
    if table is not None:
        check_metadata_columns(table, metadata)
    kept = load_cell(cell_dir)
    warn = lambda message: err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)  # noqa: E731
    with progress_bar(err_console.is_terminal) as bar:
        task = bar.add_task("predicting", total=len(paths)) if bar is not None else None
        advance = (lambda n: bar.advance(task, n)) if bar is not None else (lambda n: None)
        frame = run_predict(kept, paths, table, warn=warn, advance=advance)
    if out is None:
        console.out(frame.to_csv(index=False, float_format="%.6g"), end="", highlight=False)
    else:
        write_csv(out, frame, float_format="%.6g")
        err_console.print(f"{len(frame)} image(s) predicted into {out}: probabilities in the ISIC 2018 Task 3 column order "
                          f"({', '.join(ISIC_COLUMNS)}), which the official scorer reads; 'predicted' is the arg-max's code",
                          highlight=False, soft_wrap=True)
