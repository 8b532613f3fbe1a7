"""`skinbench data fetch` against a loopback server serving small archives in the real layouts."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import stat
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from typer.testing import CliRunner

from fetch_fixtures import Archives, FileServer, build_archives, with_bad_crc, write_manifest, zip_bytes
from skinbench.cli import app
from skinbench.data import fetch as fetch_module
from skinbench.data.ham10000 import load_dataset, load_test_set

runner = CliRunner()


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> Archives:
    return build_archives(tmp_path_factory.mktemp("archives"))


@pytest.fixture
def server():
    served = FileServer()
    yield served
    served.close()


def _fetch(*args: str):
    return runner.invoke(app, ["data", "fetch", *args])


def _one_line(output: str) -> str:
    return " ".join(output.split())


def test_clean_fetch_extracts_the_layout_and_data_check_passes(tmp_path: Path, server: FileServer, archives: Archives) -> None:
    manifest = write_manifest(tmp_path / "manifest.json", server, archives)
    target = tmp_path / "data"
    result = _fetch(str(target), "--with-test", "--manifest", str(manifest))
    assert result.exit_code == 0, result.output
    text = _one_line(result.output)
    assert "5 downloaded, 5 unpacked" in text
    assert "ok: the data can be used" in text
    assert f"{len(archives.test_ids)} images" in text and "age/sex/site yes" in text
    # The Dataverse listing gave the URLs; ingested tables were asked for in their original format.
    assert any("format=original" in path for _, path, _ in server.requests)
    assert (target / "HAM10000_metadata.csv").is_file() and (target / "ISIC2018_Task3_Test_GroundTruth.csv").is_file()
    assert sorted(p.stem for p in (target / "HAM10000_images_part_1").glob("*.jpg")) + sorted(
        p.stem for p in (target / "HAM10000_images_part_2").glob("*.jpg")) == sorted(archives.train_ids)
    dataset = load_dataset(target, require_metadata=True)
    assert sorted(dataset.frame["image_id"]) == sorted(archives.train_ids)
    test = load_test_set(target, require_metadata=True)
    assert sorted(test.frame["image_id"]) == archives.test_ids and test.has_metadata
    # The tables had no published checksum: their SHA-256 is printed and recorded.
    record = json.loads((target / "skinbench-fetch.json").read_text())["files"]
    assert "no published checksum" in text and record["HAM10000_metadata"]["recorded_sha256"] in text
    assert all(entry["installed"] for entry in record.values())
    # A second run on the complete folder sends no request at all.
    before = len(server.requests)
    again = _fetch(str(target), "--with-test", "--manifest", str(manifest))
    assert again.exit_code == 0, again.output
    assert "nothing to download" in again.output and len(server.requests) == before


def test_dropped_connection_resumes_with_a_range_request(
    tmp_path: Path, server: FileServer, archives: Archives, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_module, "CHUNK_BYTES", 1024)
    monkeypatch.setattr(fetch_module, "RETRIES", 0)  # the first run gives up at the drop; the rerun continues
    name = "HAM10000_images_part_1.zip"
    size = len(archives.files[name])
    assert size > 20 * 1024
    manifest = write_manifest(tmp_path / "manifest.json", server, archives, dataverse=False)
    server.drop_after[name] = size // 2
    target = tmp_path / "data"
    first = _fetch(str(target), "--manifest", str(manifest))
    assert first.exit_code == 2
    text = _one_line(first.output)
    assert f"the connection dropped while downloading {name}" in text and "run the same command again" in text
    partial = target / "downloads" / f"{name}.part"
    reached = partial.stat().st_size
    assert server.sent[name] == size // 2 and size // 2 - 1024 <= reached <= size // 2
    second = _fetch(str(target), "--manifest", str(manifest))
    assert second.exit_code == 0, second.output
    ranges = [r for method, path, r in server.requests if method == "GET" and path.endswith(name)]
    assert ranges == [None, f"bytes={reached}-"]
    assert size <= server.sent[name] <= size + fetch_module.CHUNK_BYTES
    assert (target / "downloads" / name).read_bytes() == archives.files[name] and not partial.exists()


def test_wrong_checksum_sets_the_archive_aside_and_extracts_nothing(tmp_path: Path, server: FileServer, archives: Archives) -> None:
    manifest = write_manifest(tmp_path / "manifest.json", server, archives, dataverse=False)
    data = json.loads(manifest.read_text())
    entry = next(e for e in data["sources"]["ham10000"]["files"] if e["name"] == "HAM10000_images_part_2.zip")
    entry["md5"] = "0" * 32
    manifest.write_text(json.dumps(data))
    target = tmp_path / "data"
    result = _fetch(str(target), "--manifest", str(manifest))
    assert result.exit_code == 2
    text = _one_line(result.output)
    aside = target / "downloads" / "HAM10000_images_part_2.zip.corrupt"
    assert "HAM10000_images_part_2.zip failed its MD5 check" in text and str(aside) in text
    assert aside.read_bytes() == archives.files["HAM10000_images_part_2.zip"]
    assert not (target / "HAM10000_images_part_2").exists()
    assert not (target / "downloads" / "HAM10000_images_part_2.zip").exists()


def _link_zip(link_target: str) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("HAM10000_images_part_1/ISIC_0024306.jpg", b"x")
        info = zipfile.ZipInfo("HAM10000_images_part_1/escape")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, link_target)
    return buffer.getvalue()


@pytest.mark.parametrize(("member", "body", "why"), [
    ("../outside.txt", None, "a '..' component"),
    ("/tmp/skinbench-absolute-outside.txt", None, "an absolute path"),
    ("HAM10000_images_part_1/escape", _link_zip("../../../outside.txt"), "a link to '../../../outside.txt', outside the folder"),
])
def test_path_traversal_is_refused_and_nothing_is_written(
    tmp_path: Path, server: FileServer, archives: Archives, member: str, body: bytes | None, why: str
) -> None:
    evil = body or zip_bytes({"HAM10000_images_part_1/ISIC_0024306.jpg": b"x", member: b"owned"})
    files = dict(archives.files, **{"HAM10000_images_part_1.zip": evil})
    manifest = write_manifest(tmp_path / "manifest.json", server, Archives(files, [], []), dataverse=False, checksums=False)
    target = tmp_path / "deep" / "data"
    result = _fetch(str(target), "--manifest", str(manifest))
    assert result.exit_code == 2
    text = _one_line(result.output)
    assert f"{member!r} ({why})" in text and "nothing was extracted" in text
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "deep" / "outside.txt").exists()
    assert not Path("/tmp/skinbench-absolute-outside.txt").exists()
    assert not (target / "HAM10000_images_part_1").exists()
    assert (target / "downloads" / "HAM10000_images_part_1.zip").is_file()  # kept: nothing downloaded is lost


def test_not_enough_disk_is_refused_before_any_byte(
    tmp_path: Path, server: FileServer, archives: Archives, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_module, "free_space", lambda path: 1000)
    manifest = write_manifest(tmp_path / "manifest.json", server, archives)
    result = _fetch(str(tmp_path / "data"), "--with-test", "--manifest", str(manifest))
    assert result.exit_code == 2
    text = _one_line(result.output)
    total = sum(len(b) for b in archives.files.values())
    assert "not enough disk space" in text and f"{fetch_module._bytes(1000)} is free" in text
    assert f"{fetch_module._bytes(total)} to download" in text and "nothing was downloaded" in text
    assert server.sent == {} and all(method == "GET" and "/api/datasets/" in path for method, path, _ in server.requests)


def test_connection_refused_gives_the_offline_message(tmp_path: Path, server: FileServer, archives: Archives) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    manifest = write_manifest(tmp_path / "manifest.json", server, archives, dataverse=False, url_base=closed)
    target = tmp_path / "data"
    result = _fetch(str(target), "--manifest", str(manifest))
    assert result.exit_code == 2
    text = _one_line(result.output)
    assert f"cannot download HAM10000_images_part_1.zip from {closed}/files/HAM10000_images_part_1.zip" in text
    assert "Connection refused" in text and "--from-dir FOLDER" in text and str(target) in text
    assert len(result.output.strip().splitlines()) <= 3  # one error line (wrapped at most by the terminal width)


def test_from_dir_installs_without_any_request(tmp_path: Path, server: FileServer, archives: Archives) -> None:
    manifest = write_manifest(tmp_path / "manifest.json", server, archives)
    downloads = tmp_path / "browser-downloads"
    downloads.mkdir()
    for name, body in archives.files.items():
        # Browsers keep the served name; the Dataverse tables arrive as .tab or .csv.
        (downloads / (name + ".tab" if "." not in name else name)).write_bytes(body)
    target = tmp_path / "data"
    result = _fetch(str(target), "--with-test", "--manifest", str(manifest), "--from-dir", str(downloads))
    assert result.exit_code == 0, result.output
    assert server.requests == []
    assert "ok: the data can be used" in _one_line(result.output)
    assert sorted(load_test_set(target).frame["image_id"]) == archives.test_ids
    assert sorted(p.name for p in downloads.iterdir()) == sorted(
        n + ".tab" if "." not in n else n for n in archives.files)  # the user's files are left as they were


def test_from_dir_names_the_missing_files(tmp_path: Path, server: FileServer, archives: Archives) -> None:
    manifest = write_manifest(tmp_path / "manifest.json", server, archives, dataverse=False)
    downloads = tmp_path / "dl"
    downloads.mkdir()
    (downloads / "HAM10000_images_part_1.zip").write_bytes(archives.files["HAM10000_images_part_1.zip"])
    result = _fetch(str(tmp_path / "data"), "--manifest", str(manifest), "--from-dir", str(downloads))
    assert result.exit_code == 2 and server.requests == []
    text = _one_line(result.output)
    assert "lacks HAM10000_images_part_2.zip, HAM10000_metadata" in text and server.url("HAM10000_metadata") in text


def test_recorded_sha256_is_checked_on_a_later_download(tmp_path: Path, server: FileServer, archives: Archives) -> None:
    manifest = write_manifest(tmp_path / "manifest.json", server, archives, dataverse=False)
    target = tmp_path / "data"
    assert _fetch(str(target), "--manifest", str(manifest)).exit_code == 0
    # The file changes upstream and the local copy is gone: the new bytes fail the recorded SHA-256.
    (target / "downloads" / "HAM10000_metadata").unlink()
    (target / "HAM10000_metadata.csv").unlink()
    server.files["HAM10000_metadata"].body = archives.files["HAM10000_metadata"].replace(b"female", b"male  ")
    result = _fetch(str(target), "--manifest", str(manifest))
    assert result.exit_code == 2
    assert "HAM10000_metadata failed its SHA-256 recorded at its first download check" in _one_line(result.output)


def test_the_shipped_manifest_holds_the_published_facts_and_invents_none() -> None:
    sources = fetch_module.load_manifest()
    assert set(sources) == {"ham10000", "isic2018", "isic2019"}
    ham = {e.name: e for e in sources["ham10000"].files}
    assert sources["ham10000"].dataverse_doi == "doi:10.7910/DVN/DBW86T" and sources["ham10000"].licence == "CC BY-NC 4.0"
    assert ham["HAM10000_images_part_1.zip"].md5 == "4639bfa73ab251610530a97c898e6e46"
    assert ham["HAM10000_images_part_2.zip"].md5 == "da43d6cc50f6613013be07e8986b384b"
    assert ham["ISIC2018_Task3_Test_Images.zip"].md5 == "0488b6f65849e310857d9207daa55a21"
    assert (ham["HAM10000_images_part_1.zip"].images, ham["HAM10000_images_part_2.zip"].images) == (5000, 5015)
    assert ham["ISIC2018_Task3_Test_Images.zip"].images == 1511
    assert {e.group for e in ham.values() if e.name.startswith("ISIC2018")} == {"test"}
    isic = {e.name for e in sources["isic2018"].files}
    assert isic == {f"ISIC2018_Task3_{n}" for n in (
        "Training_Input.zip", "Training_GroundTruth.zip", "Training_LesionGroupings.csv", "Test_Input.zip", "Test_GroundTruth.zip")}
    everything = [e for s in sources.values() for e in s.files]
    # No size or SHA-256 is published for these files: none is written down.
    assert all(e.size is None and e.sha256 is None for e in everything)
    assert all(e.md5 is None for e in sources["isic2018"].files)


def test_a_bad_manifest_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "mirror.json"
    bad.write_text(json.dumps({"format_version": 1, "sources": {"ham10000": {"files": [
        {"name": "x.zip", "what": "x", "group": "train", "unpack": "rar", "to": "x", "url": "http://127.0.0.1:9/x.zip"}]}}}))
    result = _fetch(str(tmp_path / "data"), "--manifest", str(bad))
    assert result.exit_code == 2
    assert "\"unpack\" must be one of zip, table, file" in _one_line(result.output)
    result = _fetch(str(tmp_path / "data"), "--manifest", str(tmp_path / "absent.json"))
    assert result.exit_code == 2 and "cannot read the manifest" in result.output


def _leftovers(target: Path) -> list[str]:
    """Scratch folders and partial files an interrupted unpack could leave in downloads/."""
    return sorted(p.name for p in (target / "downloads").iterdir() if p.name.startswith(".") or p.name.endswith(".part"))


@pytest.mark.parametrize("damage", ["bad-crc", "truncated"])
def test_a_damaged_zip_without_a_checksum_is_set_aside_and_the_rerun_gets_it_whole(
    tmp_path: Path, server: FileServer, archives: Archives, damage: str
) -> None:
    name = "HAM10000_images_part_2.zip"
    good = archives.files[name]
    member = sorted(zipfile.ZipFile(io.BytesIO(good)).namelist())[3]
    damaged = with_bad_crc(good, member) if damage == "bad-crc" else good[: len(good) * 2 // 3]
    manifest = write_manifest(tmp_path / "manifest.json", server, Archives(dict(archives.files, **{name: damaged}), [], []),
                              dataverse=False, checksums=False)
    target = tmp_path / "data"
    result = _fetch(str(target), "--manifest", str(manifest))
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    text = _one_line(result.output)
    aside = target / "downloads" / f"{name}.corrupt"
    assert str(aside) in text and "nothing was extracted" in text and "run the same command again" in text
    assert (member in text) if damage == "bad-crc" else "not a readable zip archive" in text
    assert aside.read_bytes() == damaged and _leftovers(target) == []
    assert not (target / "HAM10000_images_part_2").exists()
    record = json.loads((target / "skinbench-fetch.json").read_text())["files"]
    assert "recorded_sha256" not in record[name]  # a damaged download is never the reference
    server.files[name].body = good  # what the server sends the next time
    again = _fetch(str(target), "--manifest", str(manifest))
    assert again.exit_code == 0, again.output  # the printed advice, followed, works
    assert sorted(p.name for p in (target / "HAM10000_images_part_2").iterdir()) == sorted(
        PurePosixPath(n).name for n in zipfile.ZipFile(io.BytesIO(good)).namelist())
    assert json.loads((target / "skinbench-fetch.json").read_text())["files"][name]["recorded_sha256"] == hashlib.sha256(good).hexdigest()


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MiB tmpfs (needs root to mount), resized by calling the fixture's value with a size."""
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield mount, lambda size: subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_during_unpack_leaves_no_scratch_and_keeps_the_download(
    small_disk, server: FileServer, archives: Archives, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os

    mount, resize = small_disk
    monkeypatch.setattr(fetch_module, "free_space", lambda path: 10**12)  # the disk fills after the checks
    name = "HAM10000_images_part_1.zip"
    body = zip_bytes({f"HAM10000_images_part_1/ISIC_{i:07d}.jpg": os.urandom(150_000) for i in range(4)})  # 600 kB
    manifest = write_manifest(tmp_path / "manifest.json", server, Archives({name: body}, [], []), dataverse=False)
    target = mount / "data"
    result = _fetch(str(target), "--manifest", str(manifest))
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    text = _one_line(result.output)
    assert "No space left on device" in text and "free space" in text and "what was downloaded is kept" in text
    assert (target / "downloads" / name).read_bytes() == body and _leftovers(target) == []
    assert not (target / "HAM10000_images_part_1").exists()
    resize("4m")
    sent = server.sent.get(name, 0)
    again = _fetch(str(target), "--manifest", str(manifest))
    assert "fetched: 0 downloaded, 1 unpacked" in _one_line(again.output), again.output  # (data check then finds no CSV)
    assert server.sent.get(name, 0) == sent  # unpacked from the kept download, not fetched again
    assert len(list((target / "HAM10000_images_part_1").glob("*.jpg"))) == 4


def test_a_server_that_trickles_is_stopped_by_the_stall_limit(
    tmp_path: Path, server: FileServer, archives: Archives, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setattr(fetch_module, "STALL_BYTES", 1000)
    monkeypatch.setattr(fetch_module, "STALL_SECONDS", 0.5)
    name = "HAM10000_images_part_1.zip"
    manifest = write_manifest(tmp_path / "manifest.json", server, archives, dataverse=False)
    server.trickle[name] = 0.05  # 20 bytes a second, forever within any read timeout
    start = time.monotonic()
    result = _fetch(str(tmp_path / "data"), "--manifest", str(manifest))
    elapsed = time.monotonic() - start
    assert result.exit_code == 2
    text = _one_line(result.output)
    assert f"stalled (fewer than {fetch_module._bytes(1000)} arrived in 0.5 s, the stall limit)" in text and name in text
    assert "the part downloaded is kept" in text and "run the same command again" in text
    assert elapsed < (fetch_module.RETRIES + 1) * 0.5 + 10
