"""Image cache: pixels equal a direct decode and resize; reused; rebuilt when the source changes; bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import skinbench.data.cache as cache_module
from skinbench.data.cache import build_cache, find_unreadable
from skinbench.data.ham10000 import load_dataset
from skinbench.errors import DataError, SkinbenchError


def _direct(path: str, size: int, rule: str) -> np.ndarray:
    """Decode and resize by hand, the way the rules are defined."""
    with Image.open(path) as image:
        image = image.convert("RGB")
    width, height = image.size
    if rule == "crop":  # centre crop to a square, then resize
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the path of every image the cache decodes from now on (in-process builds only)."""
    decoded: list[str] = []
    real = cache_module.load_image

    def load_image(path, *args, **kwargs):
        decoded.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(cache_module, "load_image", load_image)
    return decoded


def _stamp(cache) -> tuple[int, int]:
    """Inode and modification time of a cache's array file: both change when it is written anew."""
    stat = (cache.path / "images.npy").stat()
    return stat.st_ino, stat.st_mtime_ns


@pytest.mark.parametrize("rule", ["crop", "resize"])
def test_pixels_equal_a_direct_decode_and_resize(
    synth_root: Path, cache_root: Path, rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = load_dataset(synth_root)
    decoded = _count_decodes(monkeypatch)
    cache = build_cache(dataset, 32, rule, progress=False)
    assert sorted(decoded) == sorted(dataset.frame["path"])  # each image decoded once
    assert cache.path.parent == cache_root / "images"
    assert (cache.size, cache.rule) == (32, rule)
    assert cache.images.shape == (len(dataset.frame), 32, 32, 3) and cache.images.dtype == np.uint8
    assert isinstance(cache.images, np.memmap)
    rows = cache.rows(dataset.frame["image_id"])
    for image_id, path, row in list(zip(dataset.frame["image_id"], dataset.frame["path"], rows))[:: len(rows) // 12]:
        assert cache.image_ids[row] == image_id
        np.testing.assert_array_equal(cache.images[row], _direct(path, 32, rule))
    assert not cache.failed


def test_rules_and_sizes_get_their_own_cache(synth_root: Path) -> None:
    dataset = load_dataset(synth_root)
    caches = {(size, rule): build_cache(dataset, size, rule, progress=False) for size in (24, 32) for rule in ("crop", "resize")}
    assert len({cache.path for cache in caches.values()}) == 4
    for (size, rule), cache in caches.items():
        assert (cache.size, cache.rule, cache.images.shape[1:]) == (size, rule, (size, size, 3))


def test_second_use_reuses_and_a_changed_source_rebuilds(
    ham_copy: Path, cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = load_dataset(ham_copy)
    decoded = _count_decodes(monkeypatch)
    first = build_cache(dataset, 24, progress=False)
    assert len(decoded) == len(dataset.frame)
    stamp = _stamp(first)
    again = build_cache(load_dataset(ham_copy), 24, progress=False)
    assert len(decoded) == len(dataset.frame)  # reused: nothing decoded again
    assert again.path == first.path and _stamp(again) == stamp  # and nothing rewritten
    np.testing.assert_array_equal(again.images, first.images)

    path = dataset.frame["path"].iloc[5]
    Image.new("RGB", (64, 48), (10, 200, 30)).save(path)
    decoded.clear()
    changed = build_cache(load_dataset(ham_copy), 24, progress=False)
    assert sorted(decoded) == sorted(dataset.frame["path"])  # rebuilt from every image
    assert changed.path != first.path
    row = changed.rows([dataset.frame["image_id"].iloc[5]])[0]
    assert (changed.images[row] == (10, 200, 30)).all()
    assert not first.path.exists()  # the stale cache of the same folder is removed
    assert [p.name for p in (cache_root / "images").iterdir()] == [changed.path.name]  # no temporary folder left


def test_two_workers_give_the_same_cache(ham_copy: Path, cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("skinbench.data._workers.PARALLEL_MIN", 0)
    dataset = load_dataset(ham_copy)
    inline = np.array(build_cache(dataset, 16, progress=False, workers=1).images)
    for folder in (cache_root / "images").iterdir():
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    decoded = _count_decodes(monkeypatch)
    parallel = build_cache(dataset, 16, progress=False, workers=2)
    assert decoded == []  # the decoding ran in the worker processes, not here
    assert (parallel.path / "info.json").is_file()
    np.testing.assert_array_equal(parallel.images, inline)


def _break_images(dataset) -> dict[str, str]:
    """Truncate one JPEG and overwrite another with text; return image_id -> path of both."""
    truncated, garbage = dataset.frame.iloc[2], dataset.frame.iloc[9]
    data = Path(truncated["path"]).read_bytes()
    Path(truncated["path"]).write_bytes(data[: len(data) // 2])
    Path(garbage["path"]).write_text("not an image")
    return {truncated["image_id"]: truncated["path"], garbage["image_id"]: garbage["path"]}


def test_unreadable_images_are_named_and_skipped_or_fatal_in_strict_mode(ham_copy: Path) -> None:
    broken = _break_images(load_dataset(ham_copy))
    dataset = load_dataset(ham_copy)
    cache = build_cache(dataset, 16, progress=False)
    assert set(cache.failed) == set(broken)
    assert "truncated" in cache.failed[next(iter(broken))]
    usable = cache.drop_failed(dataset.frame)
    assert len(usable) == len(dataset.frame) - 2
    cache.rows(usable["image_id"])  # every usable image has its row
    with pytest.raises(DataError, match="could not be read"):
        cache.rows(list(broken))
    with pytest.raises(DataError, match=r"2 image\(s\) in .* cannot be read: .*run without --strict"):
        build_cache(dataset, 16, strict=True, progress=False)
    assert set(find_unreadable(dataset.frame["path"].tolist(), progress=False)) == set(broken.values())


def test_bad_rule(synth_root: Path) -> None:
    with pytest.raises(DataError, match="unknown resize rule 'stretch'; use one of: crop, resize"):
        build_cache(load_dataset(synth_root), 16, "stretch", progress=False)


def test_a_cache_that_does_not_fit_is_refused_before_any_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import skinbench.io as io

    monkeypatch.setattr(io, "free_bytes", lambda folder: 1000)
    with pytest.raises(SkinbenchError, match=r"^disk full: a test array needs 0\.00 GiB in .*, which has 0\.00 GiB free"):
        io.allocate_memmap(tmp_path / "images.npy", (10, 8, 8, 3), np.uint8, "a test array")
    assert not (tmp_path / "images.npy").exists()


def test_a_disk_that_fills_while_caching_ends_in_one_line_not_a_crash(tmp_path: Path, small_disk) -> None:
    """On a real 1 MiB disk: the cache's blocks are reserved before any image is written, so a full
    disk is one line naming the folder (a write through a memory map into a sparse file would die
    of SIGBUS instead)."""
    import subprocess
    import sys

    from skinbench.data.synthetic import ensure_synthetic

    data = ensure_synthetic(count=60, size=(64, 48), seed=0, progress=False)
    disk = small_disk(1 << 20)
    code = (
        "import sys\nfrom skinbench.data.cache import build_cache\nfrom skinbench.data.ham10000 import load_dataset\n"
        "from skinbench.errors import SkinbenchError\n"
        f"try:\n    build_cache(load_dataset({str(data)!r}), 96, progress=False)\n"
        "except SkinbenchError as exc:\n    print(exc)\n    sys.exit(2)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "SKINBENCH_CACHE": str(disk)})
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])  # -7 would be SIGBUS
    assert done.stdout.startswith(f"disk full: the 96px image cache of {data} needs")
    assert str(disk / "images") in done.stdout


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_a_16_bit_greyscale_png_is_scaled_to_8_bits(tmp_path: Path, mode: str) -> None:
    from skinbench.data.cache import load_image

    grey = np.random.default_rng(0).integers(0, 256, (48, 64), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey8.png")
    wide = (grey.astype(np.uint16) * 257).astype(">u2" if mode.endswith("B") else "<u2")  # 0..255 -> 0..65535
    Image.frombytes(mode, (64, 48), wide.tobytes()).save(tmp_path / "grey16.png")
    with Image.open(tmp_path / "grey16.png") as opened:
        assert opened.mode.startswith("I")  # what Pillow's own convert("RGB") clips at 255
    for size in (32, 48):
        assert np.array_equal(load_image(tmp_path / "grey16.png", size), load_image(tmp_path / "grey8.png", size))


@pytest.mark.parametrize("side", [10_000, 20_000], ids=["pillow-warns", "pillow-refuses"])
def test_a_decompression_bomb_is_refused_by_its_header(tmp_path: Path, side: int) -> None:
    from skinbench.data.cache import load_image

    Image.new("1", (side, side)).save(tmp_path / "bomb.png")  # a few kB on disk
    with pytest.raises(DataError, match="more pixels than Pillow decodes safely"):
        load_image(tmp_path / "bomb.png", 32)


def test_the_cache_names_a_bomb_and_caches_a_16_bit_png_right(ham_copy: Path) -> None:
    dataset = load_dataset(ham_copy)
    bomb_path, grey_path = (Path(p) for p in dataset.frame["path"].iloc[:2])
    bomb_path.unlink()
    Image.new("1", (20_000, 20_000)).save(bomb_path.with_suffix(".png"))
    with Image.open(grey_path) as photo:
        grey = np.asarray(photo.convert("L"))
    grey_path.unlink()
    Image.fromarray(grey.astype(np.uint16) * 257).save(grey_path.with_suffix(".png"))
    cache = build_cache(load_dataset(ham_copy), 32, progress=False)
    bomb_id, grey_id = bomb_path.stem, grey_path.stem
    assert list(cache.failed) == [bomb_id] and "decompression bomb" in cache.failed[bomb_id]
    twin = Image.fromarray(grey).convert("RGB")
    expected = np.asarray(cache_module.fit(twin, 32))
    assert np.array_equal(cache.images[cache.rows([grey_id])[0]], expected)
