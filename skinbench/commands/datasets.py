"""`skinbench data audit`: exact and near-duplicate images within and across datasets;
`skinbench data synth-external`: a synthetic external set in its registered layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.markup import escape

from skinbench.commands.common import guarded
from skinbench.commands.options import Seed
from skinbench.console import console, err_console, print_frame

PAIRS_FILE = "duplicates.csv"


@guarded
def audit(
    folders: Annotated[List[Path], typer.Argument(metavar="FOLDER...", help="Dataset folders; every image below each is compared with every other.")],
    out: Annotated[Optional[Path], typer.Option("--out", metavar="FILE", show_default=f"{PAIRS_FILE} in the working folder", help="The pairs CSV.")] = None,
) -> None:
    """Find exact (same bytes) and near-duplicate (perceptual hash) images within and across datasets.

    Examples:
      skinbench data audit data/ham10000 data/isic2019
      skinbench data audit data/pad-ufes-20 --out pad-duplicates.csv
    """
    from skinbench.data.audit import NEAR_DISTANCE, audit as find, summary
    from skinbench.errors import DataError
    from skinbench.io import write_csv

    for folder in folders:
        if not folder.is_dir():
            raise DataError(f"{folder} is not a folder; pass dataset folders")
    warn = lambda message: err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)  # noqa: E731
    pairs = find(folders, warn)
    path = write_csv(out or Path(PAIRS_FILE), pairs)
    console.print(
        f"{len(pairs):,} duplicate pair(s) among {len(folders)} folder(s) (exact: same SHA-256; near: 64-bit perceptual "
        f"hashes at most {NEAR_DISTANCE} bits apart), each listed in {path}",
        highlight=False, soft_wrap=True,
    )
    if not pairs.empty:
        print_frame(summary(pairs), title="Duplicate pairs by dataset")


@guarded
def synth_external(
    directory: Annotated[Path, typer.Argument(metavar="FOLDER", help="New folder to write (must not exist or be empty).")],
    dataset: Annotated[str, typer.Option("--dataset", metavar="NAME", help="isic2019, pad-ufes-20 or derm7pt.")],
    count: Annotated[int, typer.Option("--count", metavar="N", help="Images to draw, in HAM10000's class proportions.")] = 200,
    seed: Seed = 0,
) -> None:
    """Write a synthetic set in an external dataset's layout, with its stated domain shift (for trying evaluate).

    Examples:
      skinbench data synth-external demo-isic2019 --dataset isic2019
      skinbench data synth-external demo-pad --dataset pad-ufes-20 --count 100
    """
    from skinbench.data.synthetic_external import generate_external

    folder = generate_external(directory, dataset, count=count, seed=seed)
    console.print(f"wrote a synthetic {dataset} set to {folder}", highlight=False, soft_wrap=True)


def check_external(folder: Path, name: str) -> None:
    """What ``data fetch`` prints for a fetched external dataset: its images as the registry reads them."""
    from skinbench.data.datasets import DATASETS

    entry = DATASETS.get(name)
    external = entry.read(folder)
    counts = external.frame["source_class"].value_counts().sort_index()
    console.print(
        f"[green]ok[/]: {entry.title} ({folder}): {len(external.frame):,} images ("
        + ", ".join(f"{cls} {n}" for cls, n in counts.items())
        + f"); scored by 'skinbench evaluate CELL_DIR --data {folder}' ({entry.scored_part})",
        highlight=False, soft_wrap=True,
    )
