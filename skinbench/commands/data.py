"""`skinbench data ...`: fetch HAM10000 (and the ISIC 2018 test set) or the ImageNet weights, check a folder, generate the synthetic one."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from skinbench.catalogue import FETCH_SOURCES, HAM10000_IMAGES
from skinbench.commands.common import guarded
from skinbench.commands.helpformat import App
from skinbench.commands.options import Seed, with_choices
from skinbench.console import console, print_frame
from skinbench.errors import DataError

app = App(
    help="""Fetch HAM10000 or the ImageNet weights, check a HAM10000 folder, or generate the synthetic stand-in.

    Examples:
      skinbench data fetch data/
      skinbench data check data/HAM10000
      skinbench data synth data/synthetic --count 1000
    """,
    no_args_is_help=True,
)


@app.command("check")
@guarded
def check(
    directory: Annotated[
        Path, typer.Argument(metavar="FOLDER", help="HAM10000 folder (Dataverse/Kaggle or ISIC 2018 Task 3 layout).")
    ],
    strict: Annotated[bool, typer.Option("--strict", help="Missing, unreadable images and impossible ages are errors.")] = False,
) -> None:
    """Validate a HAM10000 folder: print the class distribution (paper Table 2) and every problem found.

    Examples:
      skinbench data check data/HAM10000
      skinbench data check data/HAM10000 --strict
    """
    check_folder(directory, strict=strict)


def check_folder(directory: Path, *, strict: bool = False) -> None:
    """What ``data check`` prints; DataError when the folder cannot be used."""
    from skinbench.data.cache import find_unreadable
    from skinbench.data.ham10000 import Problem, find_test_set, inspect_dataset, inspect_test_set, table2

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
    if find_test_set(dataset.root) is not None:
        test = inspect_test_set(dataset.root, strict=strict)
        counts = test.frame["dx"].value_counts()
        console.print(
            f"ISIC 2018 Task 3 test set ({test.root}): {len(test.frame):,} images "
            f"({', '.join(f'{c} {n}' for c, n in counts.sort_index().items())}), age/sex/site "
            f"{'yes' if test.has_metadata else 'no (the official split runs the augmented recipe only)'}",
            highlight=False,
            soft_wrap=True,
        )
        dataset.problems.extend(test.problems)
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
    directory: Annotated[Path, typer.Argument(metavar="FOLDER", help="New folder to write (must not exist or be empty).")],
    count: Annotated[int, typer.Option("--count", metavar="N", help="Number of images, in HAM10000's class proportions.")] = HAM10000_IMAGES,
    size: Annotated[str, typer.Option("--size", metavar="WIDTHxHEIGHT", help="Image size in pixels.")] = "600x450",
    seed: Seed = 0,
) -> None:
    """Write a synthetic HAM10000 (real metadata schema and folder layout) for trying skinbench without the data.

    Examples:
      skinbench data synth data/synthetic
      skinbench data synth data/small --count 1000 --size 128x96
    """
    from skinbench.data.synthetic import generate

    start = time.perf_counter()
    folder = generate(directory, count=count, size=_parse_size(size), seed=seed)
    console.print(f"wrote {count:,} synthetic images to {folder} in {time.perf_counter() - start:.1f} s",
                  highlight=False, soft_wrap=True)


@app.command("fetch")
@guarded
def fetch(
    directory: Annotated[Path, typer.Argument(metavar="FOLDER", help="Folder to fetch into (created if missing), e.g. data/.")],
    source: Annotated[
        str,
        typer.Option("--source", metavar="NAME", help=with_choices(
            "'ham10000' (Harvard Dataverse), 'isic2018' or 'isic2019' (the ISIC challenge archive); another "
            "--manifest may name its own.", FETCH_SOURCES)),
    ] = "ham10000",
    with_test: Annotated[bool, typer.Option("--with-test", help="Also the ISIC 2018 Task 3 test set (1,511 images), for --split official.")] = False,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", metavar="FILE", help="Another manifest (a mirror, a private copy) instead of the shipped one.")] = None,
    from_dir: Annotated[Optional[Path], typer.Option("--from-dir", metavar="FOLDER", help="Verify and unpack files downloaded by hand into this folder; no network.")] = None,
) -> None:
    """Download HAM10000 (and the ISIC 2018 test set), check it, unpack it into the layout 'data check' accepts.

    Resumable (a rerun continues each file from the byte reached); every file is checked
    against its published checksum, or the SHA-256 recorded at its first download, before it
    is unpacked; a complete folder downloads nothing.

    Examples:
      skinbench data fetch data/
      skinbench data fetch data/ --with-test
      skinbench data fetch data/ --from-dir ~/Downloads
    """
    from skinbench.data.fetch import fetch as fetch_files

    result = fetch_files(directory, source=source, with_test=with_test, manifest=manifest, from_dir=from_dir)
    if result.installed:
        console.print(
            f"[green]fetched[/]: {len(result.downloaded)} downloaded, {len(result.installed)} unpacked into {result.target}"
            + (f", {len(result.kept)} already there" if result.kept else ""),
            highlight=False,
            soft_wrap=True,
        )
    from skinbench.data.datasets import DATASETS

    if source in DATASETS.names(external=True):  # checked as skinbench evaluate reads it
        from skinbench.commands.datasets import check_external

        return check_external(result.target, source)
    check_folder(result.target)


@app.command("fetch-weights")
@guarded
def fetch_weights(
    backbones: Annotated[str, typer.Option("--backbones", metavar="NAME,...", help="'all' or comma-separated backbone names.")] = "all",
    image_size: Annotated[str, typer.Option("--image-size", metavar="SIZE", help="'native', or the --image-size the runs will use (other sizes load the weights without the classifier top).")] = "native",
) -> None:
    """Download the ImageNet weight files the backbones need into the Keras cache, for machines without internet.

    Each file is checked with the hash Keras itself checks when it loads it (where Keras has
    none, its SHA-256 is recorded and printed). Copy the Keras cache's models/ folder to
    ~/.keras/models/ on the offline machine (or point KERAS_HOME at a copy).

    Examples:
      skinbench data fetch-weights
      skinbench data fetch-weights --backbones resnet50,vgg16 --image-size 224
    """
    from skinbench.config import parse_image_size
    from skinbench.models.backbones import parse_backbones

    specs = parse_backbones(None if backbones.strip().lower() == "all" else backbones)
    size = parse_image_size(image_size, "--image-size")
    files = weights_files(specs, size)
    folder = keras_models_dir()
    for backbone, wanted in files.items():
        if wanted is None:
            console.print(f"{backbone}: no ImageNet weights file at this size", highlight=False)
            continue
        place_weights(backbone, wanted, folder)
    console.print(
        f"[green]ok[/]: the ImageNet weights of {len(files)} backbone(s) are in {folder}; on a machine without internet, "
        "copy them to ~/.keras/models/ there (or set KERAS_HOME to a folder holding models/)",
        highlight=False,
        soft_wrap=True,
    )


def keras_models_dir() -> Path:
    """The folder Keras looks for ImageNet weights in (``keras.utils.get_file``'s rule for ``cache_subdir='models'``)."""
    from keras.src.backend.config import keras_home

    base = os.path.expanduser(keras_home())
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")
    return Path(base) / "models"


class _Captured(Exception):
    """Raised in place of Keras's download, once the file it asks for is known."""


def weights_files(specs, image_size: int | None) -> dict[str, dict | None]:
    """Per backbone, the weights file Keras would fetch for it: ``{fname, origin, file_hash}`` (or None).

    The backbone is built as a run builds it (native size with the classifier top, another size
    without), and Keras's ``get_file`` is intercepted, so names, URLs and hashes are Keras's own.
    """
    import keras
    from keras.src.utils import file_utils

    from skinbench.models.backbones import application

    found: dict[str, dict | None] = {}

    def capture(fname=None, origin=None, *args, file_hash=None, md5_hash=None, cache_subdir="datasets", **kwargs):
        found[current] = {"fname": fname or origin.rsplit("/", 1)[-1], "origin": origin, "file_hash": file_hash or md5_hash}
        raise _Captured

    real = file_utils.get_file
    file_utils.get_file = capture
    try:
        for spec in specs:
            current = spec.name
            found[current] = None
            size = spec.check_size(image_size, "--image-size")
            try:
                application(spec, image_size=size, weights="imagenet", include_top=size == spec.native_size)
            except _Captured:
                pass
            finally:
                keras.backend.clear_session()
    finally:
        file_utils.get_file = real
    return found


def place_weights(backbone: str, wanted: dict, folder: Path) -> Path:
    """Download one weights file into ``folder`` unless a file passing Keras's hash check is there."""
    from skinbench.data.fetch import download, file_hashes, session_for
    from skinbench.paths import cache_root

    path = folder / wanted["fname"]
    expected = (wanted.get("file_hash") or "").lower() or None
    kind = "SHA-256" if expected and len(expected) == 64 else "MD5"
    records_path = cache_root() / "weights-sha256.json"
    records = json.loads(records_path.read_text()) if records_path.exists() else {}
    if path.exists() and _hash_ok(path, expected, records.get(wanted["fname"])):
        console.print(f"{backbone}: {path.name} already in {folder}", highlight=False, soft_wrap=True)
        return path
    folder.mkdir(parents=True, exist_ok=True)
    download(
        session_for(), [wanted["origin"]], path, size=None, name=path.name,
        offline_hint=(f"run 'skinbench data fetch-weights --backbones {backbone}' on a machine with internet and copy "
                      f"{path.name} into {folder} here (or train with --weights none)"),
    )
    md5, sha256 = file_hashes(path)
    if expected and expected != (sha256 if kind == "SHA-256" else md5):
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        raise DataError(
            f"{path.name} failed the {kind} check Keras makes (expected {expected}, got "
            f"{sha256 if kind == 'SHA-256' else md5}); moved aside to {aside}: run the same command again"
        )
    if expected:
        console.print(f"{backbone}: {path.name} into {folder} ({kind} checked, as Keras checks it)", highlight=False, soft_wrap=True)
    else:
        from skinbench.io import write_json

        write_json(records_path, {**records, wanted["fname"]: sha256})
        console.print(
            f"{backbone}: {path.name} into {folder}; Keras publishes no hash for it: SHA-256 {sha256} recorded in {records_path}",
            highlight=False, soft_wrap=True,
        )
    return path


def _hash_ok(path: Path, expected: str | None, recorded: str | None) -> bool:
    from skinbench.data.fetch import file_hashes

    if not expected and not recorded:
        return True
    md5, sha256 = file_hashes(path)
    return (expected in (md5, sha256)) if expected else recorded == sha256
