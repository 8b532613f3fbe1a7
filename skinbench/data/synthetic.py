"""A synthetic HAM10000 in the real layout: the embedded default dataset.

``generate`` writes ``HAM10000_metadata.csv`` (the real schema) and JPEGs in
``HAM10000_images_part_1/`` and ``_part_2/``, so the real loader, cache and pipeline run
unchanged on it.

* Metadata follows the real per-class statistics stored in ``synthetic_stats.json`` (class
  counts, 1 to 6 images per lesion, ages by class, sex, 15 sites including ``unknown``, the
  57 missing ages at full size), drawn per lesion, so it carries real signal.
* Each class has its own look (colour, second-colour patches, size, elongation, border
  irregularity, edge softness, texture, a pale centre for ``df``, dots). Every lesion borrows
  a random share of another class's look, so classes overlap and a CNN has to learn more
  than a colour threshold.
* Images of one lesion are near-duplicates: one rendered lesion photographed with a small
  tilt, shift, zoom and colour change. A split that ignores ``lesion_id`` leaks.
* Each image's lesion mask is known: ``lesion_masks`` draws it again, through the same
  photograph, from the parameters the set records in ``synthetic.json`` (so a map of where a
  model looks can be scored against where the lesion is).

Bytes depend only on ``(count, size, seed)``: each lesion and each image draws from its own
generator seeded by ``(seed, kind, number)``, so the number of worker processes does not
matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageChops

from skinbench.catalogue import HAM10000_IMAGES, HAM10000_PART_1_IMAGES
from skinbench.classes import CLASSES
from skinbench.data._workers import DEFAULT_WORKERS, build_atomically, run_chunks, split_even
from skinbench.data.ham10000 import METADATA_CSV
from skinbench.data.synthetic_stats import load_stats
from skinbench.errors import DataError
from skinbench.io import read_json, write_json
from skinbench.paths import cache_root

GENERATOR_VERSION = 2
#: The set's parameters (count, size, seed, generator version), written beside its CSV.
PARAMETERS_FILE = "synthetic.json"
DEFAULT_COUNT = HAM10000_IMAGES
DEFAULT_SIZE = (600, 450)
CSV_COLUMNS = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization", "dataset"]
FOLDERS = ("HAM10000_images_part_1", "HAM10000_images_part_2")
PART_1_SHARE = HAM10000_PART_1_IMAGES / HAM10000_IMAGES  # the real download's split between the two image folders
FIRST_IMAGE_NUMBER = 24306  # real image ids run from ISIC_0024306
RENDER_WIDTH = 192  # lesions are drawn at most this wide (about a CNN input), then photographed at full size
CHUNK = 96  # images per worker task
JPEG_QUALITY = 90
GRAIN = 6  # sensor noise amplitude, grey levels
GRAIN_IMAGES = 8
MAX_TILT = 15.0  # degrees between photographs of one lesion
MAX_SHIFT = 0.04
MAX_ZOOM = 0.05

# Class looks: RGB colours (0-255) and shape/texture parameters, blended per lesion.
_LOOK_KEYS = ("base", "dark", "dot_colour", "patch", "radius", "aspect", "irregular", "soft",
              "texture", "grain", "centre", "dots", "opacity")
_PROTOTYPES: dict[str, tuple] = {
    #        base             dark             dot colour       patch radius aspect irreg soft  tex  grain centre dots opac
    "akiec": ((190, 112, 100), (150, 82, 72), (236, 226, 212), 0.25, 0.27, 1.30, 0.12, 0.30, 0.25, 18, 0.0, 0.40, 0.75),
    "bcc": ((205, 150, 150), (112, 112, 140), (178, 42, 52), 0.22, 0.23, 1.20, 0.10, 0.14, 0.12, 10, 0.0, 0.55, 0.80),
    "bkl": ((165, 122, 82), (118, 86, 56), (230, 202, 150), 0.32, 0.30, 1.25, 0.13, 0.10, 0.22, 14, 0.0, 0.30, 0.85),
    "df": ((168, 116, 86), (122, 82, 62), (120, 82, 62), 0.15, 0.17, 1.10, 0.05, 0.22, 0.08, 8, 0.75, 0.0, 0.85),
    "mel": ((108, 70, 52), (52, 40, 46), (100, 110, 142), 0.45, 0.34, 1.40, 0.22, 0.08, 0.20, 8, 0.0, 0.45, 0.95),
    "nv": ((142, 96, 66), (106, 70, 50), (96, 62, 44), 0.15, 0.24, 1.15, 0.05, 0.10, 0.08, 6, 0.0, 0.10, 0.90),
    "vasc": ((172, 46, 72), (110, 30, 60), (90, 20, 50), 0.35, 0.20, 1.15, 0.08, 0.05, 0.15, 10, 0.0, 0.25, 0.95),
}
PROTOTYPES: dict[str, dict[str, np.ndarray]] = {
    dx: {k: np.asarray(v, dtype=np.float64) for k, v in zip(_LOOK_KEYS, values)} for dx, values in _PROTOTYPES.items()
}
_WHITE = np.array([238, 226, 216], dtype=np.float32)
_BORDER_STEPS = 720


def class_counts(count: int) -> dict[str, int]:
    """Images per class: the real proportions by largest remainder, at least 2 per class when possible."""
    stats = load_stats()["classes"]
    real = np.array([stats[c]["count"] for c in CLASSES], dtype=np.float64)
    exact = count * real / real.sum()
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: count - counts.sum()]] += 1
    short = np.maximum(min(2, count // len(CLASSES)) - counts, 0)
    counts += short
    counts[np.argmax(counts)] -= short.sum()
    return dict(zip(CLASSES, counts.tolist()))


def _draw(rng: np.random.Generator, counts: dict[str, int], n: int) -> np.ndarray:
    """``n`` values drawn with the frequencies in ``counts`` (value -> count)."""
    values = list(counts)
    p = np.array([counts[v] for v in values], dtype=np.float64)
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p / p.sum())]


def synthetic_metadata(count: int = DEFAULT_COUNT, seed: int = 0) -> pd.DataFrame:
    """The metadata of a synthetic set: the CSV columns plus ``lesion_number``, ``image_number``, ``folder``.

    Drawn per lesion (images of one lesion share age, sex and site, as in the real data).
    Missing ages go to single-image lesions, scaled from the real per-class counts.
    """
    stats = load_stats()
    rng = np.random.default_rng([seed, 0])
    lesions = []
    for dx, n_images in class_counts(count).items():
        if n_images == 0:
            continue
        cls = stats["classes"][dx]
        sizes = _draw(rng, cls["images_per_lesion"], n_images).astype(int)
        sizes = sizes[: np.searchsorted(np.cumsum(sizes), n_images) + 1]
        sizes[-1] -= sizes.sum() - n_images
        n = len(sizes)
        part = pd.DataFrame({
            "dx": dx,
            "n_images": sizes,
            "dx_type": _draw(rng, cls["dx_type"], n),
            "age": _draw(rng, cls["age"], n).astype(float),
            "sex": _draw(rng, cls["sex"], n),
            "localization": _draw(rng, cls["localization"], n),
            "dataset": _draw(rng, cls["dataset"], n),
        })
        n_missing = min(round(cls["missing_age"] * n_images / cls["count"]), n)
        order = np.lexsort((rng.random(n), sizes > 1))  # single-image lesions first, random within
        chosen = order[: np.searchsorted(np.cumsum(sizes[order]), n_missing, side="right")]
        part.loc[chosen, "age"] = np.nan
        part.loc[chosen, "sex"] = _draw(rng, stats["missing_age_sex"], len(chosen))
        part.loc[chosen, "localization"] = _draw(rng, stats["missing_age_localization"], len(chosen))
        lesions.append(part)
    lesions = pd.concat(lesions, ignore_index=True)
    lesions["lesion_number"] = rng.permutation(len(lesions))
    lesions = lesions.sort_values("lesion_number", ignore_index=True)
    rows = lesions.loc[lesions.index.repeat(lesions["n_images"])].reset_index(drop=True)
    rows["image_number"] = rng.permutation(count)
    rows["lesion_id"] = [f"HAM_{n:07d}" for n in rows["lesion_number"]]
    rows["image_id"] = [f"ISIC_{FIRST_IMAGE_NUMBER + n:07d}" for n in rows["image_number"]]
    rows["age"] = rows["age"].astype("Int64")
    rows["folder"] = np.where(rows["image_number"] < round(count * PART_1_SHARE), FOLDERS[0], FOLDERS[1])
    return rows[CSV_COLUMNS + ["lesion_number", "image_number", "folder"]]


def lesion_look(dx: str, rng: np.random.Generator) -> dict[str, Any]:
    """One lesion's look: its class's prototype with a random share of another class's, plus noise."""
    other = CLASSES[rng.integers(len(CLASSES))]
    share = rng.beta(1.0, 6.0)
    look = {k: (1 - share) * PROTOTYPES[dx][k] + share * PROTOTYPES[other][k] for k in _LOOK_KEYS}
    for key in ("base", "dark", "dot_colour"):
        look[key] = np.clip(look[key] + rng.normal(0, 10, 3), 0, 255)
    for key in ("patch", "radius", "irregular", "soft", "texture", "centre", "dots"):
        look[key] = look[key] * rng.lognormal(0, 0.2)
    look["aspect"] = 1 + (look["aspect"] - 1) * rng.lognormal(0, 0.3)
    look["opacity"] = min(1.0, look["opacity"] * rng.lognormal(0, 0.05))
    look["grain"] = max(3, int(round(look["grain"] * rng.lognormal(0, 0.2))))
    look["skin"] = np.array([226, 182, 160]) * rng.normal(1, 0.05) + rng.normal(0, 8, 3)
    look["vignette"] = rng.uniform(0, 0.6)
    # float32 colours and plain floats keep the image arithmetic in float32.
    return {k: v.astype(np.float32) if np.ndim(v) else float(v) for k, v in look.items()}


@lru_cache(maxsize=4)
def _grid(width: int, height: int, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates relative to the centre, in units of ``unit`` pixels."""
    x = (np.arange(width, dtype=np.float32) - (width - 1) / 2) / unit
    y = (np.arange(height, dtype=np.float32) - (height - 1) / 2) / unit
    return np.meshgrid(x, y)


def _noise(rng: np.random.Generator, cells: int, width: int, height: int) -> np.ndarray:
    """Smooth unit-variance noise: a ``cells``-wide random grid, upsampled bicubically."""
    grid = rng.standard_normal((max(2, round(cells * height / width)), cells)).astype(np.float32)
    field = np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC))
    return (field - field.mean()) / (field.std() + 1e-6)


def _canvas_size(size: tuple[int, int]) -> tuple[int, int, float]:
    """Canvas (width, height) in render pixels, large enough for any tilt, shift and zoom; and render scale."""
    width, height = size
    scale = min(1.0, RENDER_WIDTH / width)
    rw, rh = width * scale, height * scale
    tilt = math.radians(MAX_TILT)
    reach = 1 + MAX_ZOOM + 0.02
    cw = (rw * math.cos(tilt) + rh * math.sin(tilt)) * reach + 2 * MAX_SHIFT * rw
    ch = (rw * math.sin(tilt) + rh * math.cos(tilt)) * reach + 2 * MAX_SHIFT * rh
    return math.ceil(cw) + 4, math.ceil(ch) + 4, scale


@lru_cache(maxsize=4)
def _vignette(width: int, height: int, unit: float, aspect: float) -> np.ndarray:
    """Darkening towards the corners (dermatoscope optics), before scaling by its strength."""
    x, y = _grid(width, height, unit)
    corner = np.hypot(x, y) / (0.5 * math.hypot(aspect, 1))
    return np.clip(corner - 0.7, 0, 1) ** 1.5


def render_lesion(look: dict[str, Any], size: tuple[int, int], rng: np.random.Generator) -> tuple[Image.Image, np.ndarray]:
    """The lesion on skin as an RGB canvas of ``_canvas_size(size)``, drawn channels first, and
    its mask on the same canvas (float32, 1 inside the lesion, a soft edge to 0 outside)."""
    cw, ch, scale = _canvas_size(size)
    unit = size[1] * scale
    x, y = _grid(cw, ch, unit)
    ox, oy = (float(c) for c in rng.uniform(-0.07, 0.07, 2))
    angle = rng.uniform(0, 2 * np.pi)
    cos, sin = math.cos(angle), math.sin(angle)
    u = (x - ox) * cos + (y - oy) * sin
    v = ((y - oy) * cos - (x - ox) * sin) * look["aspect"]
    r = np.hypot(u, v)
    # Border radius by angle: a few random harmonics, tabulated once and looked up per pixel.
    angles = np.linspace(-np.pi, np.pi, _BORDER_STEPS + 1)
    harmonics = np.arange(2, 7)[:, None]
    weights = look["irregular"] * rng.normal(1, 0.35, (5, 1)) / harmonics**0.7
    border = (1 + (weights * np.cos(harmonics * angles + rng.uniform(0, 2 * np.pi, (5, 1)))).sum(0)).astype(np.float32)
    step = np.float32(_BORDER_STEPS / (2 * np.pi))
    border = border[((np.arctan2(v, u) + np.float32(np.pi)) * step).astype(np.intp)]
    radius = look["radius"]
    mask = np.clip((radius * border - r) / (look["soft"] * radius + 1e-3) + 0.5, 0, 1)
    mask = mask * mask * (3 - 2 * mask)

    patches = _noise(rng, 4, cw, ch)
    texture = _noise(rng, int(look["grain"]), cw, ch)
    dots = _noise(rng, 28, cw, ch)
    second = np.clip((patches - (1 - 2 * look["patch"]) * 1.2) * 1.5, 0, 1)
    colour = _column(look["base"]) + _column(look["dark"] - look["base"]) * second
    colour *= 1 + look["texture"] * texture
    centre = look["centre"] * np.exp(-((r / (0.45 * radius)) ** 2))
    colour += (_column(_WHITE) - colour) * centre
    dotted = np.clip((dots - (2.6 - 2 * look["dots"])) * 2, 0, 1) * (mask > 0.5)
    colour += (_column(look["dot_colour"]) - colour) * dotted

    skin = _column(look["skin"]) * (1 + 0.03 * texture)
    canvas = skin + (colour - skin) * (look["opacity"] * mask)
    canvas *= 1 - look["vignette"] * _vignette(cw, ch, unit, size[0] / size[1])
    image = Image.fromarray(np.ascontiguousarray(np.clip(canvas, 0, 255).astype(np.uint8).transpose(1, 2, 0)))
    return image, mask


def _column(rgb: np.ndarray) -> np.ndarray:
    """An RGB triple shaped to broadcast over a channels-first image."""
    return rgb.reshape(3, 1, 1)


@lru_cache(maxsize=2)
def _grain(size: tuple[int, int]) -> tuple[Image.Image, ...]:
    """A few fixed sensor-noise images (values 0..2*GRAIN) to add to the photographs."""
    rng = np.random.default_rng(GENERATOR_VERSION)
    noise = rng.integers(0, 2 * GRAIN + 1, (GRAIN_IMAGES, size[1], size[0], 3), dtype=np.uint8)
    return tuple(Image.fromarray(n) for n in noise)


@dataclass(frozen=True)
class Pose:
    """How one photograph of a rendered lesion is taken: what ``photograph`` draws at random."""

    gain: np.ndarray  #: per-channel colour gain
    frame: tuple[int, int]  #: the picture's size at render resolution
    coefficients: tuple[float, ...]  #: Pillow's affine map from picture to canvas pixels
    grain: int  #: which of the fixed grain images is added


def draw_pose(canvas_size: tuple[int, int], size: tuple[int, int], rng: np.random.Generator) -> Pose:
    """A small tilt, shift, zoom and colour change, drawn in the generator's fixed order."""
    _, _, scale = _canvas_size(size)
    width, height = round(size[0] * scale), round(size[1] * scale)
    gain = rng.normal(1, 0.035, 3) * rng.normal(1, 0.04)
    tilt = math.radians(rng.uniform(-MAX_TILT, MAX_TILT))
    sx, sy = rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2) * (width, height)
    step = 1 / rng.uniform(1 - MAX_ZOOM, 1 + MAX_ZOOM)  # canvas pixels per output pixel
    cos, sin = step * math.cos(tilt), step * math.sin(tilt)
    # Output pixel (X, Y) samples canvas point centre + R(tilt) * step * ((X, Y) - output centre - shift).
    ox, oy = width / 2 + sx, height / 2 + sy
    cx, cy = canvas_size[0] / 2, canvas_size[1] / 2
    coefficients = (cos, -sin, cx - cos * ox + sin * oy, sin, cos, cy - sin * ox - cos * oy)
    return Pose(gain, (width, height), coefficients, int(rng.integers(GRAIN_IMAGES)))


def _place(picture: Image.Image, pose: Pose) -> Image.Image:
    """The pose's tilt, shift and zoom, at render resolution."""
    return picture.transform(pose.frame, Image.Transform.AFFINE, pose.coefficients, resample=Image.Resampling.BILINEAR)


def _to_size(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    return picture if picture.size == size else picture.resize(size, Image.Resampling.BILINEAR)


def photograph(canvas: Image.Image, size: tuple[int, int], pose: Pose) -> Image.Image:
    """One photograph of a rendered lesion: its pose's colour change, framing and sensor grain.

    Everything happens at render resolution; the picture is then resized to ``size``.
    """
    levels = np.arange(256)
    image = canvas.point(np.concatenate([np.clip(np.rint(levels * g), 0, 255) for g in pose.gain]).astype(int).tolist())
    image = _place(image, pose)
    image = ImageChops.add(image, _grain(image.size)[pose.grain], scale=1.0, offset=-GRAIN)
    return _to_size(image, size)


def photograph_mask(mask: np.ndarray, size: tuple[int, int], pose: Pose) -> np.ndarray:
    """The lesion mask as the photograph of the same pose frames it: float32 (height, width) in [0, 1]."""
    framed = _to_size(_place(Image.fromarray(mask.astype(np.float32), mode="F"), pose), size)
    return np.clip(np.asarray(framed), 0.0, 1.0)


def _lesion(dx: str, lesion_number: int, size: tuple[int, int], seed: int) -> tuple[Image.Image, np.ndarray]:
    """Lesion ``lesion_number`` of the set of ``seed``, rendered: its canvas and mask."""
    rng = np.random.default_rng([seed, 1, lesion_number])
    return render_lesion(lesion_look(dx, rng), size, rng)


def _pose(canvas: Image.Image, image_number: int, size: tuple[int, int], seed: int) -> Pose:
    return draw_pose(canvas.size, size, np.random.default_rng([seed, 2, image_number]))


def _render_chunk(out_dir: str, jobs: list[tuple[str, int, int, str]], size: tuple[int, int], seed: int) -> int:
    """Write the JPEGs of ``jobs`` (dx, lesion_number, image_number, relative path); lesions come grouped."""
    canvas, current = None, None
    for dx, lesion_number, image_number, relative in jobs:
        if lesion_number != current:
            canvas, _ = _lesion(dx, lesion_number, size, seed)
            current = lesion_number
        image = photograph(canvas, size, _pose(canvas, image_number, size, seed))
        image.save(Path(out_dir) / relative, "JPEG", quality=JPEG_QUALITY)
    return len(jobs)


def lesion_masks(root: Path | str, image_ids: list[str]) -> dict[str, np.ndarray]:
    """The lesion mask of each named image of the synthetic set in ``root``, at the image's size.

    Drawn again from the parameters in ``root/synthetic.json``: float32 (height, width), 1 inside
    the lesion. An id the set does not hold is left out.
    """
    path = Path(root) / PARAMETERS_FILE
    if not path.is_file():
        raise DataError(f"{root}: not a synthetic set with known lesion masks (no {PARAMETERS_FILE})")
    parameters = read_json(path)
    if parameters.get("generator_version") != GENERATOR_VERSION:
        raise DataError(
            f"{path}: generator version {parameters.get('generator_version')!r}, this skinbench draws version "
            f"{GENERATOR_VERSION}: its masks would not match the images"
        )
    count, size, seed = int(parameters["count"]), tuple(parameters["size"]), int(parameters["seed"])
    meta = synthetic_metadata(count, seed).set_index("image_id")
    masks: dict[str, np.ndarray] = {}
    for image_id in (i for i in image_ids if i in meta.index):
        row = meta.loc[image_id]
        canvas, mask = _lesion(row["dx"], int(row["lesion_number"]), size, seed)
        masks[image_id] = photograph_mask(mask, size, _pose(canvas, int(row["image_number"]), size, seed))
    return masks


def _write_parameters(folder: Path, count: int, size: tuple[int, int], seed: int) -> None:
    write_json(folder / PARAMETERS_FILE, {"count": count, "size": list(size), "seed": seed, "generator_version": GENERATOR_VERSION})


def _write(folder: Path, count: int, size: tuple[int, int], seed: int, workers: int, progress: bool) -> None:
    """Generate the whole set into the empty ``folder``."""
    meta = synthetic_metadata(count, seed)
    for name in FOLDERS:
        (folder / name).mkdir()
    jobs = list(zip(meta["dx"], meta["lesion_number"].tolist(), meta["image_number"].tolist(),
                    meta["folder"] + "/" + meta["image_id"] + ".jpg"))
    chunks = [jobs[r.start:r.stop] for r in split_even(count, math.ceil(count / CHUNK))]
    run_chunks(_render_chunk, [(str(folder), chunk, size, seed) for chunk in chunks], [len(c) for c in chunks],
               workers=workers, progress=progress, description="synthetic HAM10000")
    meta[CSV_COLUMNS].to_csv(folder / METADATA_CSV, index=False)
    _write_parameters(folder, count, size, seed)


def _check_arguments(count: int, size: tuple[int, int]) -> tuple[int, int]:
    if count < 1:
        raise DataError(f"--count {count}: the synthetic set needs at least 1 image")
    width, height = (int(v) for v in size)
    if width < 8 or height < 8:
        raise DataError(f"--size {width}x{height}: images must be at least 8x8 pixels")
    return width, height


def generate(
    out_dir: Path | str,
    *,
    count: int = DEFAULT_COUNT,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
    workers: int = DEFAULT_WORKERS,
    progress: bool = True,
) -> Path:
    """Write a synthetic HAM10000 of ``count`` images of ``size`` (width, height) into ``out_dir``.

    ``out_dir`` must not exist or be empty. The set is built in a temporary folder beside it
    and renamed into place, so an interrupted run leaves nothing that looks finished.
    """
    size = _check_arguments(count, size)
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DataError(f"{out_dir} already exists and is not empty; choose a new folder or remove it")
    build_atomically(out_dir, lambda tmp: _write(tmp, count, size, seed, workers, progress), METADATA_CSV)
    return out_dir


def synthetic_folder(count: int, size: tuple[int, int], seed: int) -> Path:
    """Where the synthetic set of ``(count, size, seed)`` is (or will be) in the cache."""
    width, height = size
    return cache_root() / "synthetic" / f"ham10000-n{count}-{width}x{height}-s{seed}-v{GENERATOR_VERSION}"


def synthetic_exists(count: int, size: tuple[int, int], seed: int) -> bool:
    """Whether that set has been generated."""
    return (synthetic_folder(count, size, seed) / METADATA_CSV).is_file()


def ensure_synthetic(
    count: int = DEFAULT_COUNT,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
    *,
    workers: int = DEFAULT_WORKERS,
    progress: bool = True,
) -> Path:
    """The synthetic set for ``(count, size, seed)`` in the cache, generated on first use."""
    width, height = _check_arguments(count, size)
    folder = synthetic_folder(count, (width, height), seed)
    if not (folder / METADATA_CSV).is_file():
        build_atomically(folder, lambda tmp: _write(tmp, count, (width, height), seed, workers, progress), METADATA_CSV)
    elif not (folder / PARAMETERS_FILE).is_file():  # generated before the file was written
        _write_parameters(folder, count, (width, height), seed)
    return folder
