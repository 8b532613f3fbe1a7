"""A kept cell's inference.json, read without Keras: what its model needs, known before it loads.

``deploy.model.load_cell`` starts here; a command checks its inputs against ``read_kept`` first,
so a missing ``--metadata`` is refused at once rather than after Keras has loaded the model.
"""

from __future__ import annotations

from pathlib import Path

from skinbench.errors import RunError
from skinbench.records import InferenceInfo, RecordError


def read_kept(folder: Path) -> InferenceInfo:
    """``folder``'s inference.json; RunError when the folder is no cell or keeps no model."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"{folder}: no such cell folder; pass a cell's folder inside a run folder ('skinbench run --out')")
    if not (folder / InferenceInfo.FILE).exists():
        raise RunError(
            f"{folder} has no kept model (no {InferenceInfo.FILE}): the cell has not finished, or was trained with "
            "--no-keep-models; train it with --keep-models (the default) to use it"
        )
    try:
        return InferenceInfo.read(folder)
    except RecordError as exc:
        raise RunError(str(exc)) from None


def check_metadata_given(folder: Path, info: InferenceInfo, metadata: object | None) -> None:
    """RunError when ``info``'s model takes metadata and none (``--metadata``) is given."""
    if info.metadata_encoder is not None and metadata is None:
        raise RunError(
            f"{folder} is a metadata model: pass --metadata CSV with image_id, age, sex and localization "
            "(the HAM10000 schema) for the images"
        )
