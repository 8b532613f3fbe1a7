"""A finished cell's kept model (model.keras + inference.json) and its inputs built as in training."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from skinbench.errors import DataError, RunError
from skinbench.deploy.kept import read_kept
from skinbench.records import REPAIR, CellConfig, InferenceInfo, kept_model_problem


@dataclass(frozen=True)
class KeptModel:
    """The model of one cell folder and what feeding it needs."""

    folder: Path
    model: keras.Model
    info: InferenceInfo

    @property
    def needs_metadata(self) -> bool:
        return self.info.metadata_encoder is not None


def load_cell(folder: Path) -> KeptModel:
    """Load ``folder``'s model.keras in Keras's safe mode (no pickled code; only skinbench's registered layers)."""
    folder = Path(folder)
    info = read_kept(folder)
    problem = kept_model_problem(folder)
    if problem:
        raise RunError(f"{problem}; {REPAIR}")
    path = folder / info.model_file
    import skinbench.models.build  # noqa: F401  (registers SoftAttention and the preprocessing layer)

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # a corrupt or foreign file: one line naming it and what is wrong
        raise RunError(
            f"{path}: {_why_unloadable(path, exc)}; delete it and run the same skinbench run command again to train the cell again"
        ) from None
    return KeptModel(folder, model, info)


def _why_unloadable(path: Path, exc: Exception) -> str:
    """What is wrong with a model file Keras cannot load: a damaged zip member, else Keras's own error."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except Exception as error:  # zipfile.BadZipFile, zlib.error, OSError...: the archive itself is broken
        return f"not a readable Keras archive ({type(error).__name__}: {error}): the file is damaged"
    if damaged is not None:
        return f"its part {damaged} fails its checksum (CRC): the file is damaged"
    return f"cannot be loaded ({type(exc).__name__}: {str(exc).strip().split(chr(10))[0]})"


def cell_dataset(kept: KeptModel) -> tuple[CellConfig, pd.DataFrame, dict[str, Path]]:
    """The cell's config, its dataset's metadata rows (by image id) and image files (by id)."""
    from skinbench.data.ham10000 import METADATA_CSV, read_table

    config = CellConfig.read(kept.folder)
    root = Path(config.dataset.root)
    if not root.is_dir():
        raise RunError(f"{root}: the cell's dataset folder is gone; its images are needed here")
    metadata = read_table(root / METADATA_CSV) if (root / METADATA_CSV).exists() else pd.DataFrame({"image_id": []})
    files = {p.stem: p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")}
    return config, metadata.drop_duplicates("image_id").set_index("image_id"), files


def load_images(kept: KeptModel, paths: list[Path]) -> tuple[np.ndarray, list[Path], dict[Path, str]]:
    """uint8 images decoded and resized as in training; (array, usable paths, unreadable path -> reason)."""
    from skinbench.data.cache import load_image

    images, usable, failed = [], [], {}
    for path in paths:
        try:
            images.append(load_image(path, kept.info.image_size, kept.info.resize_rule))
            usable.append(path)
        except (OSError, ValueError, SyntaxError, DataError) as exc:  # DataError: load_image refuses it (a decompression bomb)
            failed[path] = f"{type(exc).__name__}: {exc}"
    size = kept.info.image_size
    return np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8), usable, failed


def metadata_features(kept: KeptModel, frame: pd.DataFrame) -> np.ndarray:
    """The metadata features of ``frame`` (HAM10000 columns age, sex, localization) by the cell's encoder."""
    from skinbench.data.metadata import MetadataEncoder

    check_metadata_columns(frame)
    return MetadataEncoder.from_dict(kept.info.metadata_encoder).transform(frame)


def check_metadata_columns(frame: pd.DataFrame, source: Path | str = "the metadata CSV") -> None:
    """RunError naming ``source`` when ``frame`` lacks a column the metadata encoder reads."""
    missing = [c for c in ("image_id", "age", "sex", "localization") if c not in frame.columns]
    if missing:
        raise RunError(
            f"{source} lacks the column(s) {', '.join(missing)}; it needs image_id, age, sex and localization "
            "(the HAM10000 schema)"
        )
