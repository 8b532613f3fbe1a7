"""`skinbench bench`: training and inference throughput per backbone, or the input pipeline's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from skinbench import catalogue
from skinbench.commands.common import guarded
from skinbench.commands.options import Backbones, BatchSize, ImageSize, Jit, TableFormat, choice_option
from skinbench.config import parse_image_size
from skinbench.console import console, err_console, print_frame

if TYPE_CHECKING:
    import pandas as pd

#: --precision: each precision alone, or 'both' in turn.
PRECISIONS = {**{p: [p] for p in catalogue.PRECISIONS}, "both": list(catalogue.PRECISIONS)}


@guarded
def bench(
    backbones: Backbones = "mobilenetv3large",
    image_size: ImageSize = "native",
    batch_size: BatchSize = 32,
    precision: Annotated[
        str,
        choice_option(
            "--precision", tuple(PRECISIONS), "'float32', 'mixed' (float16 on GPU, bfloat16 elsewhere) or 'both' in turn."
        ),
    ] = "float32",
    recipe: Annotated[
        str,
        choice_option("--recipe", catalogue.RECIPE_NAMES, "'metadata' (image + metadata model) or 'augmented' (image only)."),
    ] = catalogue.METADATA,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Timed training steps after the warm-up.")] = 20,
    warmup: Annotated[int, typer.Option("--warmup", min=1, help="Warm-up steps (the first compiles; timed apart).")] = 2,
    jit: Jit = False,
    pipeline: Annotated[bool, typer.Option("--pipeline", help="Time the input pipeline alone (cache to ready batch) instead of the models.")] = False,
    count: Annotated[int, typer.Option("--count", min=32, help="With --pipeline: synthetic images to time over.")] = 2000,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the rows to this CSV and a JSON beside it.")] = None,
    lock: Annotated[Optional[Path], typer.Option("--lock", help="Lock file shared by bench processes on one device: they compile at once but time one at a time.")] = None,
    fmt: TableFormat = "table",
) -> None:
    """Measure training images/s, inference latency and throughput on random tensors (or, with --pipeline, the input pipeline)."""
    import pandas as pd

    from skinbench import benchmark

    size = parse_image_size(image_size)
    if pipeline:
        rows = [benchmark.bench_pipeline(image_size=size or 224, batch_size=batch_size, count=count).as_dict()]
        _emit(pd.DataFrame(rows), out, fmt)
        return
    names = benchmark.resolve_backbones(backbones)
    rows: list[dict] = []
    with console.status("") as status:
        for name in names:
            for prec in PRECISIONS[precision]:
                status.update(f"measuring {name} ({prec}, batch {batch_size})")
                row = benchmark.bench_backbone(
                    name, image_size=size, batch_size=batch_size, precision=prec, recipe=recipe, steps=steps, warmup=warmup, jit=jit, lock=lock
                )
                rows.append(row.as_dict())
                err_console.print(
                    f"{name} {prec}: {row.train_images_per_s:.1f} train images/s, "
                    f"{row.latency_ms_b1:.2f} ms/image at batch 1 (compile {row.compile_s:.1f} s)",
                    highlight=False,
                )
                if out:  # rewritten after every row, so a stopped run keeps what it measured
                    _write(pd.DataFrame(rows), out)
    _emit(pd.DataFrame(rows), out, fmt)


def _write(frame: pd.DataFrame, out: Path) -> None:
    from skinbench.io import write_csv, write_json

    out = Path(out)
    write_csv(out.with_suffix(".csv"), frame)
    write_json(out.with_suffix(".json"), frame.to_dict(orient="records"))


#: What the terminal table shows; the CSV and JSON keep every column.
TABLE_COLUMNS = {
    "backbone": "backbone",
    "precision": "precision",
    "image_size": "px",
    "batch_size": "batch",
    "train_images_per_s": "train img/s",
    "compile_s": "compile s",
    "latency_ms_b1": "ms/img b1",
    "latency_ms_b32": "ms/img b32",
    "epoch_s_ham10000": "s/HAM10000 pass",
}


def _emit(frame: pd.DataFrame, out: Optional[Path], fmt: str) -> None:
    if out:
        _write(frame, out)
    if fmt == "table" and "backbone" in frame:
        device = ", ".join(sorted(set(frame["backend"] + " on " + frame["device"])))
        frame = frame[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
        print_frame(frame, fmt, title=f"skinbench bench ({device})")
    else:
        print_frame(frame, fmt, title="skinbench bench")
