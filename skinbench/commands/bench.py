"""`skinbench bench`: training and inference throughput per backbone, or the input pipeline's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from skinbench import catalogue
from skinbench.commands.common import guarded
from skinbench.commands.options import Backbones, BatchSize, ImageSize, Jit, TableFormat, choice_list_option, choice_option
from skinbench.config import parse_image_size
from skinbench.console import console, err_console, print_frame

if TYPE_CHECKING:
    import pandas as pd

#: --precision: a comma-separated list of these; 'both' is float32 and mixed in turn.
PRECISION_CHOICES: tuple[str, ...] = (*catalogue.PRECISIONS, "both")
BOTH = ("float32", "mixed")


def precisions(text: str) -> list[str]:
    """The precisions a ``--precision`` list names, in order, each once ('both' expanded)."""
    names: list[str] = []
    for name in text.split(","):
        for precision in BOTH if name == "both" else (name,):
            if precision not in names:
                names.append(precision)
    return names


@guarded
def bench(
    backbones: Backbones = "mobilenetv3large",
    image_size: ImageSize = "native",
    batch_size: BatchSize = 32,
    precision: Annotated[
        str,
        choice_list_option(
            "--precision",
            PRECISION_CHOICES,
            "Comma-separated precisions, each measured in turn (the row's policy column says what 'mixed' and "
            "'auto' ran as); 'both' is float32,mixed.",
            metavar="NAME,...",
        ),
    ] = "float32",
    recipe: Annotated[
        str,
        choice_option("--recipe", catalogue.RECIPE_NAMES, "'metadata' (image + metadata model) or 'augmented' (image only)."),
    ] = catalogue.METADATA,
    steps: Annotated[
        int, typer.Option("--steps", metavar="N", min=1, help="The least calls (training steps, predictions) per timed repeat of a figure.")
    ] = 20,
    min_seconds: Annotated[
        Optional[float],
        typer.Option(
            "--min-seconds", metavar="SECONDS", min=0.0, show_default="3",
            help="The least seconds per timed repeat; the calls per repeat are calibrated to it."
        ),
    ] = None,
    repeats: Annotated[
        Optional[int],
        typer.Option("--repeats", metavar="N", min=1, show_default="3",
                     help="Timed repeats per figure; the row gives their median, min and max."),
    ] = None,
    warmup: Annotated[int, typer.Option("--warmup", metavar="N", min=1, help="Warm-up steps (the first compiles; timed apart).")] = 2,
    jit: Jit = False,
    pipeline: Annotated[bool, typer.Option("--pipeline", help="Time the input pipeline alone (cache to ready batch) instead of the models.")] = False,
    count: Annotated[int, typer.Option("--count", metavar="N", min=32, help="With --pipeline: synthetic images to time over.")] = 2000,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="FILE", help="Write the rows to this CSV and a JSON beside it.")] = None,
    lock: Annotated[Optional[Path], typer.Option("--lock", metavar="FILE", help="Lock file shared by bench processes on one device: each holds it from building a model to its last figure.")] = None,
    fmt: TableFormat = "table",
) -> None:
    """Measure training images/s, inference latency and throughput on random tensors (or, with --pipeline, the input pipeline).

    Examples:
      skinbench bench --backbones mobilenetv3large,resnet50 --precision both
      skinbench bench --pipeline --image-size 224
      skinbench bench --out bench.csv --format markdown
    """
    import pandas as pd

    from skinbench import benchmark

    size = parse_image_size(image_size, "--image-size")
    if pipeline:
        rows = [benchmark.bench_pipeline(image_size=size or 224, batch_size=batch_size, count=count).as_dict()]
        _emit(pd.DataFrame(rows), out, fmt)
        return
    names = benchmark.resolve_backbones(backbones)
    from skinbench.train.device import device_line

    err_console.print(device_line(precision=precision, jit=jit), highlight=False, soft_wrap=True)
    # Not given: the library's defaults (train.timing.MIN_FIGURE_SECONDS, FIGURE_REPEATS).
    timing = {key: value for key, value in (("min_seconds", min_seconds), ("repeats", repeats)) if value is not None}
    rows: list[dict] = []
    with console.status("") as status:

        def measured(row) -> None:
            rows.append(row.as_dict())
            err_console.print(
                f"{row.backbone} {row.precision} ({row.policy}): {row.train_images_per_s:.1f} train images/s "
                f"({row.train_images_per_s_min:.1f}-{row.train_images_per_s_max:.1f}), batch 1: "
                f"{row.latency_ms_b1:.2f} ms predict_on_batch, {row.latency_ms_b1_stateless:.2f} ms compiled "
                f"(compile {row.compile_s:.1f} s)",
                highlight=False,
            )
            if out:  # rewritten after every row, so a stopped run keeps what it measured
                _write(pd.DataFrame(rows), out)

        benchmark.bench_backbones(
            names, precisions(precision), measured, starting=lambda name, prec: status.update(
                f"measuring {name} ({prec}, batch {batch_size})"),
            image_size=size, batch_size=batch_size, recipe=recipe, steps=steps, warmup=warmup, jit=jit, lock=lock,
            **timing,
        )
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
    "train_images_per_s_min": "min",
    "train_images_per_s_max": "max",
    "compile_s": "compile s",
    "latency_ms_b1": "ms/img b1",
    "latency_ms_b1_stateless": "ms/img b1 compiled",
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
