"""`skinbench data ...`: check a HAM10000 folder, generate the synthetic one."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from skinbench.catalogue import HAM10000_IMAGES
from skinbench.commands.common import guarded
from skinbench.commands.options import Seed
from skinbench.console import console, print_frame
from skinbench.errors import DataError

app = typer.Typer(help="Check a HAM10000 folder or generate the synthetic stand-in.", no_args_is_help=True)


@app.command("check")
@guarded
def check(
    directory: Annotated[Path, typer.Argument(help="HAM10000 folder (Dataverse/Kaggle or ISIC 2018 Task 3 layout).")],
    strict: Annotated[bool, typer.Option("--strict", help="Missing, unreadable images and impossible ages are errors.")] = False,
) -> None:
    """Validate a HAM10000 folder: print the class distribution (paper Table 2) and every problem found."""
    from skinbench.data.cache import find_unreadable
    from skinbench.data.ham10000 import Problem, inspect_dataset, table2

    dataset = inspect_dataset(directory, strict=strict)
    unreadable = find_unreadable(dataset.frame["path"].tolist())
    if unreadable:
        names = tuple(Path(p).name for p in unreadable)
        first = "; ".join(f"{Path(p).name}: {reason}" for p, reason in list(unreadable.items())[:5])
        dataset.problems.append(Problem(
            "unreadable images",
            f"{len(unreadable)} image file(s) cannot be decoded ({first}); runs leave them out "
            "(replace them from the download)",
            fatal=strict or len(unreadable) == len(dataset.frame),
            examples=names[:5],
        ))
    usable = len(dataset.frame) - len(unreadable)
    console.print(
        f"[bold]{dataset.root}[/]: {dataset.layout} layout, {usable:,} usable images, "
        f"{dataset.frame['lesion_id'].nunique():,} lesions, metadata {'yes' if dataset.has_metadata else 'no'}",
        highlight=False,
        soft_wrap=True,
    )
    table = table2(dataset).reset_index()
    print_frame(table, title="Class distribution (paper Table 2)")
    for reason, count in dataset.dropped.items():
        console.print(f"dropped: {count:,} rows ({reason})", highlight=False)
    for problem in dataset.problems:
        colour = "red" if problem.fatal else "yellow"
        label = "error" if problem.fatal else "warning"
        console.print(f"[{colour}]{label}[/] ({problem.kind}): {escape(problem.message)}", highlight=False, soft_wrap=True)
    fatal = [p for p in dataset.problems if p.fatal]
    if fatal:
        raise DataError(f"{dataset.root} cannot be used as it is: {len(fatal)} error(s) above")
    console.print("[green]ok[/]: the data can be used", highlight=False)


def _parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise DataError(f"--size {text!r}: write WIDTHxHEIGHT, e.g. 600x450")
    return int(match[1]), int(match[2])


@app.command("synth")
@guarded
def synth(
    directory: Annotated[Path, typer.Argument(help="New folder to write (must not exist or be empty).")],
    count: Annotated[int, typer.Option("--count", help="Number of images, in HAM10000's class proportions.")] = HAM10000_IMAGES,
    size: Annotated[str, typer.Option("--size", help="Image size WIDTHxHEIGHT.")] = "600x450",
    seed: Seed = 0,
) -> None:
    """Write a synthetic HAM10000 (real metadata schema and folder layout) for trying skinbench without the data."""
    from skinbench.data.synthetic import generate

    start = time.perf_counter()
    folder = generate(directory, count=count, size=_parse_size(size), seed=seed)
    console.print(f"wrote {count:,} synthetic images to {folder} in {time.perf_counter() - start:.1f} s",
                  highlight=False, soft_wrap=True)
