"""Download, verify and unpack the files a manifest lists: ``skinbench data fetch``.

A manifest (``manifest.json`` beside this module, or the user's own) lists, per source, every
file: its name, where it comes from (a URL and mirrors, or a file of a Dataverse dataset whose
download URL is looked up in the dataset's file listing), its size and checksums where they
are published, what it is, and how it is installed below the target folder DIR:

* ``zip``: kept as ``DIR/downloads/<name>`` and extracted into the folder ``to``;
* ``table``: kept as ``DIR/downloads/<name>`` and written to ``to`` as a comma-separated CSV
  (Dataverse serves ingested tables tab-separated);
* ``file``: moved (or, from ``--from-dir``, copied) to ``to``.

What happens to each file is kept in ``DIR/skinbench-fetch.json`` (its SHA-256 and size, and
whether it is installed), so a second run on a complete folder downloads nothing. A download
goes to ``<name>.part`` and continues from the byte reached with an HTTP Range request after
a dropped connection, a stall (fewer than STALL_BYTES in STALL_SECONDS) or a Ctrl-C. A file is
checked against its published MD5 or SHA-256, or, where none is published, against the
SHA-256 recorded once its first download was installed, before anything is extracted; one
that fails, and a zip that cannot be read whole, is moved aside to ``<name>.corrupt`` and
named. Archive members with an absolute path, a ``..`` component or a link leading outside
their folder are refused before anything is written; an extraction that stops (a damaged
member, a full disk) removes its scratch folder. The free disk space is checked before the
first byte.

HTTP is ``requests``'; this module adds only what it lacks: resuming, checking, unpacking.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator

import pandas as pd

from skinbench.console import console, err_console
from skinbench.errors import DataError
from skinbench.io import exclusive, write_atomic, write_csv, write_json

MANIFEST = Path(__file__).with_name("manifest.json")
MANIFEST_VERSION = 1
RECORD_FILE = "skinbench-fetch.json"
RECORD_VERSION = 1
DOWNLOADS = "downloads"
LOCK_FILE = ".skinbench-fetch.lock"
UNPACK = ("zip", "table", "file")
GROUPS = ("train", "test")
#: Bytes read from the connection at a time (a dropped connection loses at most this much).
CHUNK_BYTES = 1 << 20
#: Attempts to continue a download in the same run after the connection drops mid-file.
RETRIES = 3
#: (connect, read) seconds.
TIMEOUT = (20, 120)
#: The stall limit: a download that receives fewer than STALL_BYTES in STALL_SECONDS is treated as a
#: dropped connection (a server sending a byte now and then never reaches the read timeout).
STALL_BYTES, STALL_SECONDS = 64 * 1024, 60.0
USER_AGENT = "skinbench-data-fetch"


@dataclass(frozen=True)
class Entry:
    """One file of a manifest."""

    name: str  #: the file's name: in DIR/downloads/, and looked for in --from-dir
    what: str  #: what it is, for people
    group: str  #: ``train`` (always fetched) or ``test`` (with --with-test)
    unpack: str  #: ``zip``, ``table`` or ``file``
    to: str  #: below DIR: the folder a zip is extracted into, or the file a table/file becomes
    url: str | None = None
    mirrors: tuple[str, ...] = ()
    dataverse: str | None = None  #: the file's name in the source's Dataverse dataset (URL looked up)
    size: int | None = None  #: bytes, where known
    md5: str | None = None  #: published MD5
    sha256: str | None = None  #: published SHA-256
    extracted_size: int | None = None  #: bytes once unpacked (unknown: taken as ``size``)
    images: int | None = None  #: JPEGs the archive holds (checked after extraction)

    @property
    def urls(self) -> tuple[str, ...]:
        return ((self.url,) if self.url else ()) + self.mirrors


@dataclass(frozen=True)
class Source:
    """A manifest's source: where its files come from, under what licence."""

    name: str
    title: str
    licence: str
    homepage: str
    files: tuple[Entry, ...]
    dataverse_server: str | None = None
    dataverse_doi: str | None = None

    def entries(self, with_test: bool) -> list[Entry]:
        return [e for e in self.files if e.group == "train" or (with_test and e.group == "test")]

    @property
    def listing_url(self) -> str | None:
        if not self.dataverse_server:
            return None
        return f"{self.dataverse_server.rstrip('/')}/api/datasets/:persistentId/?persistentId={self.dataverse_doi}"


@dataclass
class FetchResult:
    target: Path
    downloaded: list[str] = field(default_factory=list)
    installed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  #: already complete
    recorded: dict[str, str] = field(default_factory=dict)  #: name -> SHA-256 recorded (no published checksum)


# --------------------------------------------------------------------------- manifest

def load_manifest(path: Path | str | None = None) -> dict[str, Source]:
    """The sources of a manifest file (the shipped one by default); DataError naming what is wrong."""
    path = Path(path).expanduser() if path is not None else MANIFEST
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise DataError(f"cannot read the manifest {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise DataError(f"the manifest {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format_version") != MANIFEST_VERSION or not isinstance(data.get("sources"), dict):
        raise DataError(
            f"{path} is not a skinbench manifest: it needs \"format_version\": {MANIFEST_VERSION} and \"sources\" "
            f"(see {MANIFEST} for the format)"
        )
    return {name: _source(name, body, path) for name, body in data["sources"].items()}


def _source(name: str, body: Any, path: Path) -> Source:
    where = f"{path}, source {name!r}"
    if not isinstance(body, dict) or not isinstance(body.get("files"), list) or not body["files"]:
        raise DataError(f"{where}: a source needs a non-empty \"files\" list")
    dataverse = body.get("dataverse") or {}
    files = tuple(_entry(item, f"{where}, file {i + 1}") for i, item in enumerate(body["files"]))
    names = [e.name for e in files]
    if len(set(names)) != len(names):
        raise DataError(f"{where}: a file name is listed twice ({', '.join(sorted({n for n in names if names.count(n) > 1}))})")
    for entry in files:
        if not entry.urls and not (entry.dataverse and dataverse.get("server") and dataverse.get("doi")):
            raise DataError(f"{where}, file {entry.name!r}: give a \"url\", or \"dataverse\" with the source's dataverse server and doi")
    return Source(
        name=name,
        title=str(body.get("title", name)),
        licence=str(body.get("licence", "")),
        homepage=str(body.get("homepage", "")),
        files=files,
        dataverse_server=dataverse.get("server"),
        dataverse_doi=dataverse.get("doi"),
    )


def _entry(item: Any, where: str) -> Entry:
    if not isinstance(item, dict):
        raise DataError(f"{where}: each file is an object")
    known = {f.name for f in dataclasses.fields(Entry)}
    unknown = sorted(set(item) - known)
    if unknown:
        raise DataError(f"{where}: unknown key(s) {', '.join(unknown)}; a file has {', '.join(sorted(known))}")
    for key in ("name", "what", "group", "unpack", "to"):
        if not isinstance(item.get(key), str):
            raise DataError(f"{where}: \"{key}\" is required (text)")
    name = item["name"]
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise DataError(f"{where}: \"name\" {name!r} must be a plain file name")
    if item["group"] not in GROUPS:
        raise DataError(f"{where} ({name}): \"group\" must be one of {', '.join(GROUPS)}")
    if item["unpack"] not in UNPACK:
        raise DataError(f"{where} ({name}): \"unpack\" must be one of {', '.join(UNPACK)}")
    to = PurePosixPath(item["to"])
    if to.is_absolute() or ".." in to.parts or (item["unpack"] != "zip" and not to.name):
        raise DataError(f"{where} ({name}): \"to\" {item['to']!r} must be a path inside the target folder")
    if item["unpack"] == "table" and name.lower().endswith(".csv"):
        raise DataError(f"{where} ({name}): a table is kept in downloads/ under its served name, which must not end in .csv")
    for key in ("size", "extracted_size", "images"):
        if item.get(key) is not None and (not isinstance(item[key], int) or item[key] < 0):
            raise DataError(f"{where} ({name}): \"{key}\" must be a whole number or null")
    for key, length in (("md5", 32), ("sha256", 64)):
        value = item.get(key)
        if value is not None and not re.fullmatch(f"[0-9a-fA-F]{{{length}}}", str(value)):
            raise DataError(f"{where} ({name}): \"{key}\" must be {length} hexadecimal digits or null")
    return Entry(
        name=name,
        what=item["what"],
        group=item["group"],
        unpack=item["unpack"],
        to=str(to) if str(to) != "." else "",
        url=item.get("url"),
        mirrors=tuple(item.get("mirrors") or ()),
        dataverse=item.get("dataverse"),
        size=item.get("size"),
        md5=(item.get("md5") or "").lower() or None,
        sha256=(item.get("sha256") or "").lower() or None,
        extracted_size=item.get("extracted_size"),
        images=item.get("images"),
    )


# --------------------------------------------------------------------------- the fetch record

class Record:
    """``DIR/skinbench-fetch.json``: per file, its size, SHA-256, origin and whether it is installed."""

    def __init__(self, target: Path) -> None:
        self.path = target / RECORD_FILE
        self.files: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                self.files = dict(data["files"]) if data.get("format_version") == RECORD_VERSION else {}
            except (OSError, ValueError, KeyError, TypeError):
                raise DataError(f"{self.path} is damaged; delete it and run the same command again (downloaded files are kept)") from None

    def get(self, name: str) -> dict[str, Any]:
        return self.files.get(name, {})

    def update(self, name: str, **values: Any) -> None:
        self.files[name] = {**self.files.get(name, {}), **values}
        write_json(self.path, {"format_version": RECORD_VERSION, "files": self.files})


# --------------------------------------------------------------------------- the command's entry point

def fetch(
    target: Path | str,
    *,
    source: str = "ham10000",
    with_test: bool = False,
    manifest: Path | str | None = None,
    from_dir: Path | str | None = None,
    session=None,
    progress: bool = True,
) -> FetchResult:
    """Fetch ``source``'s files (the test set too with ``with_test``) into ``target``; see the module doc."""
    sources = load_manifest(manifest)
    if source not in sources:
        raise DataError(f"--source {source!r} is not in the manifest{f' {manifest}' if manifest else ''}; it has: {', '.join(sources)}")
    chosen = sources[source]
    entries = chosen.entries(with_test)
    target = Path(target).expanduser()
    if target.exists() and not target.is_dir():
        raise DataError(f"{target} is a file; give the folder to fetch the data into")
    target.mkdir(parents=True, exist_ok=True)
    result = FetchResult(target)
    try:
        with exclusive(target / LOCK_FILE):
            _fetch_locked(entries, chosen, target, result, from_dir, session, progress)
    except OSError as exc:  # a full disk, a folder we may not write: never a traceback, nothing lost
        raise DataError(
            f"cannot write {exc.filename or target}: {exc.strerror or exc}; free space or fix the folder's permissions and run "
            "the same command again (what was downloaded is kept)"
        ) from None
    return result


def _fetch_locked(
    entries: list[Entry], chosen: Source, target: Path, result: FetchResult, from_dir, session, progress: bool
) -> None:
    """Everything ``fetch`` does, holding the folder's lock."""
    record = Record(target)
    todo = []
    for entry in entries:
        if _installed(entry, record, target):
            result.kept.append(entry.name)
        else:
            todo.append(entry)
    if not todo:
        console.print(f"all {len(entries)} files of {chosen.title} are already in {target}; nothing to download", highlight=False, soft_wrap=True)
        return
    if from_dir is not None:
        _from_dir(todo, chosen, Path(from_dir).expanduser(), target, record, result)
    else:
        _download_all(todo, chosen, target, record, result, session, progress)


def _installed(entry: Entry, record: Record, target: Path) -> bool:
    done = record.get(entry.name)
    return bool(done.get("installed")) and all((target / p).exists() for p in done.get("paths", [entry.to or "."]))


# --------------------------------------------------------------------------- --from-dir

def find_in(folder: Path, name: str) -> Path | None:
    """``folder/name``, or a file there named ``name`` plus an extension a browser or server added."""
    exact = folder / name
    if exact.is_file():
        return exact
    stem = Path(name).stem if Path(name).suffix.lower() in (".zip", ".csv", ".tab", ".tsv", ".txt") else name
    for candidate in sorted(folder.iterdir()) if folder.is_dir() else []:
        if candidate.is_file() and (candidate.stem == stem or candidate.name.startswith(name + ".")):
            if not candidate.name.endswith((".part", ".corrupt", ".crdownload")):
                return candidate
    return None


def _from_dir(todo: list[Entry], source: Source, folder: Path, target: Path, record: Record, result: FetchResult) -> None:
    """Verify and install files the user downloaded by hand; no network at all."""
    if not folder.is_dir():
        raise DataError(f"--from-dir {folder} is not a folder; give the folder that holds the downloaded files")
    found = {entry.name: find_in(folder, entry.name) for entry in todo}
    missing = [e for e in todo if found[e.name] is None]
    if missing:
        raise DataError(
            f"--from-dir {folder} lacks {', '.join(e.name for e in missing)}; download "
            + "; ".join(f"{e.name} from {_where(e, source)}" for e in missing)
            + " and put them there (nothing was changed)"
        )
    need = sum(_extracted_estimate(e, found[e.name].stat().st_size) for e in todo)
    check_disk(target, need, 0, need, [])
    for entry in todo:
        path = found[entry.name]
        digest = verify(entry, path, record, result, move_aside=False)
        record.update(entry.name, size=path.stat().st_size, sha256=digest, origin=str(path), installed=False)
        try:
            install(entry, path, target, record, copy=True)
        except DamagedArchive as damaged:
            raise DataError(f"{damaged}; nothing was extracted: download {entry.name} again, replace {path} and run the same command") from None
        remember_digest(entry, digest, record, result)
        result.installed.append(entry.name)


# --------------------------------------------------------------------------- downloading

def session_for(session=None):
    """``session``, or a new ``requests.Session`` naming skinbench as its user agent."""
    return _session(session)


def _session(session):
    if session is not None:
        return session
    import requests

    made = requests.Session()
    made.headers["User-Agent"] = USER_AGENT
    return made


@dataclass
class _Plan:
    entry: Entry
    urls: tuple[str, ...]
    size: int | None
    md5: str | None  #: the manifest's, else the Dataverse listing's
    have: int  #: bytes already on disk (a partial download, or the whole file)


def _download_all(
    todo: list[Entry], source: Source, target: Path, record: Record, result: FetchResult, session, progress: bool
) -> None:
    session = _session(session)
    listing = _dataverse_listing(session, source) if any(e.dataverse and not e.urls for e in todo) else {}
    plans = [_plan(entry, source, listing, target, session) for entry in todo]
    downloads = target / DOWNLOADS
    unknown = [p.entry.name for p in plans if p.size is None]
    to_download = sum(max((p.size or 0) - p.have, 0) for p in plans)
    extracted = sum(_extracted_estimate(p.entry, p.size or 0) for p in plans)
    check_disk(target, to_download + extracted, to_download, extracted, unknown)
    downloads.mkdir(parents=True, exist_ok=True)
    with _Progress(plans, progress) as bars:
        for plan in plans:
            entry = plan.entry
            path = downloads / entry.name
            if not path.exists():  # a whole download of an earlier run is checked, never fetched again
                download(session, plan.urls, path, size=plan.size, bars=bars, name=entry.name, source=source, target=target)
                result.downloaded.append(entry.name)
                if not bars.live:
                    console.print(f"downloaded {entry.name} ({_bytes(path.stat().st_size)})", highlight=False)
            checked = dataclasses.replace(entry, size=plan.size, md5=plan.md5)
            digest = verify(checked, path, record, result, move_aside=True)
            record.update(entry.name, size=path.stat().st_size, sha256=digest, origin=plan.urls[0], installed=False)
            try:
                install(entry, path, target, record, copy=False)
            except DamagedArchive as damaged:
                aside = path.with_name(path.name + ".corrupt")
                os.replace(path, aside)
                raise DataError(
                    f"{damaged}; it was moved aside to {aside} and nothing was extracted: run the same command again to "
                    "download it anew"
                ) from None
            remember_digest(checked, digest, record, result)
            result.installed.append(entry.name)


def _plan(entry: Entry, source: Source, listing: dict[str, dict], target: Path, session) -> _Plan:
    urls, size, md5 = entry.urls, entry.size, entry.md5
    if not urls:
        info = _listed(listing, entry, source)
        urls = (info["url"],)
        size = size if size is not None else info.get("size")
        md5 = md5 or info.get("md5")
    if size is None:
        size = _content_length(session, urls, entry, source, target)
    path = target / DOWNLOADS / entry.name
    partial = path.with_name(path.name + ".part")
    have = path.stat().st_size if path.exists() else partial.stat().st_size if partial.exists() else 0
    return _Plan(entry, urls, size, md5, have)


def _dataverse_listing(session, source: Source) -> dict[str, dict]:
    """The dataset's files: label -> {url, size, md5}; ingested tables are asked for in their original format."""
    url = source.listing_url
    try:
        response = session.get(url, timeout=TIMEOUT)
        response.raise_for_status()
        files = response.json()["data"]["latestVersion"]["files"]
    except Exception as exc:  # offline, refused, or not a Dataverse answer
        raise DataError(_offline(f"the file list of {source.title}", url, exc, source, [e.name for e in source.files])) from None
    server = source.dataverse_server.rstrip("/")
    listed = {}
    for item in files:
        data_file = item.get("dataFile", {})
        tabular = bool(data_file.get("originalFileFormat") or data_file.get("tabularData"))
        checksum = data_file.get("checksum") or {}
        md5 = data_file.get("md5") or (checksum.get("value") if str(checksum.get("type", "")).upper() == "MD5" else None)
        listed[str(item.get("label", ""))] = {
            "url": f"{server}/api/access/datafile/{data_file['id']}" + ("?format=original" if tabular else ""),
            # An ingested table is served as its original file: the listing's size and checksum are the
            # archival copy's, so the original's size is taken where given and its SHA-256 recorded.
            "size": data_file.get("originalFileSize") if tabular else data_file.get("filesize"),
            "md5": None if tabular else md5,
        }
    return listed


def _listed(listing: dict[str, dict], entry: Entry, source: Source) -> dict:
    wanted = entry.dataverse
    for label, info in listing.items():
        if label == wanted or Path(label).stem == Path(wanted).stem:
            return info
    raise DataError(
        f"{source.title} ({source.listing_url}) lists no file named {wanted} (it lists: {', '.join(sorted(listing)) or 'nothing'}); "
        f"download {entry.name} by hand from {source.homepage} and pass its folder with --from-dir, or give its URL in a --manifest"
    )


def _content_length(session, urls: tuple[str, ...], entry: Entry, source: Source, target: Path) -> int | None:
    """The size the server announces (HEAD), or None; unreachable servers give the offline message."""
    error = None
    for url in urls:
        try:
            response = session.head(url, allow_redirects=True, timeout=TIMEOUT)
        except Exception as exc:  # connection refused, DNS, TLS...
            error = (url, exc)
            continue
        length = response.headers.get("Content-Length")
        return int(length) if response.status_code < 400 and length and length.isdigit() else None  # the GET tells the rest
    raise DataError(_offline(entry.name, error[0], error[1], source, [entry.name], target))


def _offline(what: str, url: str, reason: Any, source: Source, names: Iterable[str], target: Path | None = None) -> str:
    names = list(names)
    folder = target if target is not None else "DIR"
    return (
        f"cannot download {what} from {url} ({_reason(reason)}): no connection, or the server refused. "
        f"Download {', '.join(names)} by hand (from {source.homepage or url}), put them in one folder, and run "
        f"'skinbench data fetch {folder} --from-dir FOLDER'"
    )


def _reason(reason: Any) -> str:
    if isinstance(reason, BaseException):
        text = str(reason).strip().splitlines()
        short = text[0] if text else type(reason).__name__
        match = re.search(r"(Connection refused|Name or service not known|timed out|Temporary failure in name resolution)", short)
        return match.group(1) if match else short[:200]
    return str(reason)


def _where(entry: Entry, source: Source) -> str:
    return entry.urls[0] if entry.urls else f"{source.homepage} ({entry.dataverse})"


def download(session, urls: Iterable[str], path: Path, *, size: int | None, bars=None, name: str | None = None,
             source: Source | None = None, target: Path | None = None, offline_hint: str | None = None) -> None:
    """Download into ``path`` through ``path.part``, continuing a partial file with an HTTP Range request.

    A connection that drops mid-file is resumed in the same run up to ``RETRIES`` times; then
    the partial file is kept for the next run. A server that ignores Range starts the file over;
    one unreachable URL hands over to the next (the mirrors).
    """
    urls = list(urls)
    name = name or path.name
    partial = path.with_name(path.name + ".part")
    if size is not None and partial.exists() and partial.stat().st_size > size:
        partial.unlink()
    drops = restarts = 0
    stalled = False
    url_index = 0
    while True:
        have = partial.stat().st_size if partial.exists() else 0
        if size is not None and have == size:
            break
        url = urls[url_index]
        try:
            outcome, got = _get(session, url, partial, have, bars, name)
        except _Refused as refused:
            url_index += 1
            if url_index < len(urls):
                continue
            kept = partial.stat().st_size if partial.exists() else 0
            message = (f"cannot download {name} from {url} ({_reason(refused.reason)}): {offline_hint}" if offline_hint
                       else _offline(name, url, refused.reason, source or _NO_SOURCE, [name], target))
            raise DataError(message + (f"; the {_bytes(kept)} already downloaded are kept in {partial}" if kept else "")) from None
        if outcome == "complete":
            break
        if outcome == "restart":
            restarts += 1
            if restarts <= 2:
                continue
        drops += 1
        stalled = outcome == "stalled"
        if drops > RETRIES or not got:
            kept = partial.stat().st_size if partial.exists() else 0
            what = (f"stalled (fewer than {_bytes(STALL_BYTES)} arrived in {STALL_SECONDS:g} s, the stall limit)" if stalled
                    else "dropped")
            raise DataError(
                f"the connection {what} while downloading {name} from {url} after {_bytes(kept)}"
                f"{f' of {_bytes(size)}' if size else ''}; the part downloaded is kept in {partial}: "
                "run the same command again to continue from there"
            )
    os.replace(partial, path)


class _Refused(Exception):
    def __init__(self, reason: Any) -> None:
        super().__init__(str(reason))
        self.reason = reason


def _get(session, url: str, partial: Path, have: int, bars, name: str) -> tuple[str, int]:
    """One request, appending what arrives to ``partial``: (``complete``, ``dropped``, ``stalled`` or ``restart``, bytes received).

    ``stalled``: fewer than STALL_BYTES arrived in STALL_SECONDS.
    """
    import requests
    import urllib3

    headers = {"Range": f"bytes={have}-"} if have else {}
    got = 0
    try:
        response = session.get(url, headers=headers, stream=True, timeout=TIMEOUT)
    except (requests.ConnectionError, requests.Timeout) as exc:
        if have:
            return "dropped", 0  # the server went away mid-file: a retry (or the next run) continues
        raise _Refused(exc) from None
    except requests.RequestException as exc:  # a malformed URL, too many redirects...
        raise _Refused(exc) from None
    with response:
        if response.status_code == 416 and have:  # nothing after our bytes: the served file is shorter, so it changed
            partial.unlink()
            return "restart", 0
        if response.status_code >= 400:
            raise _Refused(f"HTTP {response.status_code} {response.reason or ''}".strip())
        if response.status_code == 206 and _range_start(response) != have:
            partial.unlink(missing_ok=True)
            return "restart", 0
        resumed = response.status_code == 206
        if have and not resumed and bars is not None:
            bars.restart(name, have)  # the server ignored Range: the file starts over
        length = response.headers.get("Content-Length")
        expected = ((have if resumed else 0) + int(length)) if length and length.isdigit() else None
        try:
            with open(partial, "ab" if resumed else "wb") as handle:
                window_start, window_bytes = time.monotonic(), 0
                for chunk in _arriving(response):
                    handle.write(chunk)
                    got += len(chunk)
                    if bars is not None:
                        bars.advance(name, len(chunk))
                    window_bytes += len(chunk)
                    if time.monotonic() - window_start >= STALL_SECONDS:
                        if window_bytes < STALL_BYTES:
                            return "stalled", got
                        window_start, window_bytes = time.monotonic(), 0
        except (requests.RequestException, urllib3.exceptions.HTTPError):  # the connection broke or timed out while reading
            return "dropped", got
    if expected is not None and partial.stat().st_size < expected:
        return "dropped", got
    return "complete", got


def _arriving(response) -> Iterator[bytes]:
    """The body as it arrives: each read returns what one receive brought (up to CHUNK_BYTES), so a
    server sending a byte now and then is seen doing so (a plain read waits for the whole chunk)."""
    while chunk := response.raw.read1(CHUNK_BYTES, decode_content=True):
        yield chunk


def _range_start(response) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


_NO_SOURCE = Source("", "", "", "", ())


# --------------------------------------------------------------------------- checking

def file_hashes(path: Path) -> tuple[str, str]:
    """(MD5, SHA-256) of a file, read once."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            md5.update(block)
            sha256.update(block)
    return md5.hexdigest(), sha256.hexdigest()


def verify(entry: Entry, path: Path, record: Record, result: FetchResult, *, move_aside: bool) -> str:
    """Check ``path`` against the published size and checksum, else the recorded SHA-256; its SHA-256.

    A file that fails is moved aside (``move_aside``: a download of ours) and named in the error.
    A file without a published checksum has its SHA-256 recorded only once it is installed
    (``remember_digest``): a damaged first download is never taken as the reference.
    """
    size = path.stat().st_size
    md5, sha256 = file_hashes(path)
    recorded = record.get(entry.name).get("recorded_sha256")
    checks = [("size", str(entry.size), str(size))] if entry.size is not None else []
    if entry.md5:
        checks.append(("MD5", entry.md5, md5))
    if entry.sha256:
        checks.append(("SHA-256", entry.sha256, sha256))
    if recorded and not (entry.md5 or entry.sha256):
        checks.append(("SHA-256 recorded at its first download", recorded, sha256))
    for kind, expected, actual in checks:
        if expected != actual:
            where = path
            if move_aside:
                where = path.with_name(path.name + ".corrupt")
                os.replace(path, where)
            raise DataError(
                f"{path.name} failed its {kind} check (expected {expected}, got {actual}); "
                + (f"it was moved aside to {where} and nothing was extracted: run the same command again to download it anew"
                   if move_aside else f"nothing was extracted: download {entry.name} again, replace {where} and run the same command")
            )
    return sha256


def remember_digest(entry: Entry, sha256: str, record: Record, result: FetchResult) -> None:
    """Record the SHA-256 of an installed file that has no published checksum (checked on later downloads)."""
    if entry.md5 or entry.sha256 or record.get(entry.name).get("recorded_sha256"):
        return
    record.update(entry.name, recorded_sha256=sha256)
    result.recorded[entry.name] = sha256
    console.print(
        f"{entry.name}: no published checksum; its SHA-256 {sha256} is recorded in {record.path} "
        "and checked from now on", highlight=False, soft_wrap=True,
    )


def free_space(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (a function, so tests can pretend a full disk)."""
    return shutil.disk_usage(path).free


def check_disk(target: Path, need: int, download_bytes: int, extract_bytes: int, unknown: list[str]) -> None:
    free = free_space(target)
    if need > free:
        unknown_note = f"; the size of {', '.join(unknown)} is not known and not counted" if unknown else ""
        raise DataError(
            f"not enough disk space in {target}: the files need {_bytes(need)} ({_bytes(download_bytes)} to download "
            f"and {_bytes(extract_bytes)} once extracted), and {_bytes(free)} is free{unknown_note}; free some space "
            "or fetch into another folder (nothing was downloaded)"
        )


def _extracted_estimate(entry: Entry, size: int) -> int:
    """Bytes an entry takes once installed: its extracted size, else its own size (JPEGs barely compress)."""
    if entry.unpack == "file":
        return 0  # moved, not copied
    return entry.extracted_size if entry.extracted_size is not None else size


def _bytes(n: int | None) -> str:
    if n is None:
        return "an unknown size"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


# --------------------------------------------------------------------------- installing

def install(entry: Entry, path: Path, target: Path, record: Record, *, copy: bool) -> None:
    """Put a checked file in place (extract, convert or move) and record it as installed."""
    if entry.unpack == "zip":
        folder = target / entry.to if entry.to else target
        moved = extract_zip(path, folder, target)
        paths = [entry.to] if entry.to else moved
        _check_images(entry, folder)
    elif entry.unpack == "table":
        write_table(path, target / entry.to)
        paths = [entry.to]
    else:
        destination = target / entry.to
        if copy:
            write_atomic(destination, lambda tmp: shutil.copyfile(path, tmp))
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, destination)
        paths = [entry.to]
    record.update(entry.name, installed=True, paths=paths, installed_at=time.strftime("%Y-%m-%dT%H:%M:%S"))


def write_table(raw: Path, destination: Path) -> None:
    """Write a served table (tab- or comma-separated) as a comma-separated CSV, values unchanged."""
    sample = raw.read_text(encoding="utf-8", errors="replace")[:65536]
    try:
        delimiter = csv.Sniffer().sniff(sample.splitlines()[0] if sample else "", delimiters=",\t;").delimiter
    except csv.Error:
        delimiter = ","
    try:
        table = pd.read_csv(raw, sep=delimiter, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{raw} is not a table skinbench can read ({exc}); download it again") from None
    table.columns = [str(c).strip().strip('"') for c in table.columns]
    write_csv(destination, table)


def unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why an archive member could write outside its folder, or None."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "a '..' component"
    return None


class DamagedArchive(DataError):
    """A zip archive that cannot be read whole: not a zip (e.g. truncated), or a member failing its CRC."""


def extract_zip(archive: Path, folder: Path, target: Path) -> list[str]:
    """Extract ``archive`` into ``folder`` (inside ``target``), refusing unsafe members before writing anything.

    Members go to a temporary folder in ``target/downloads`` first, then their top-level entries
    are moved into ``folder``, so a crash never leaves a half-extracted folder that looks whole;
    the temporary folder is removed whatever stops the extraction (a damaged member, a full
    disk, Ctrl-C). When every member sits in one top folder named like ``folder``, that level is
    dropped. Returns the top-level names moved into ``folder``. ``DamagedArchive`` when the
    archive or a member cannot be read.
    """
    try:
        zipped = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DamagedArchive(f"{archive} is not a readable zip archive ({exc})") from None
    with zipped:
        members = [m for m in zipped.infolist() if not m.filename.replace("\\", "/").startswith("__MACOSX/")]
        for member in members:
            why = unsafe_member(member)
            if why is None and stat.S_ISLNK(member.external_attr >> 16):
                link = zipped.read(member).decode("utf-8", "replace")
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(member.filename), link))
                if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
                    why = f"a link to {link!r}, outside the folder"
            if why is not None:
                raise DataError(
                    f"{archive.name} has a member that would be written outside {folder}: {member.filename!r} ({why}); "
                    f"the archive was refused and nothing was extracted: it is not the expected file, delete {archive} "
                    "and fetch it again"
                )
        names = [PurePosixPath(m.filename.replace("\\", "/")) for m in members]
        tops = {n.parts[0] for n in names if n.parts}
        strip = len(tops) == 1 and next(iter(tops)) == folder.name and all(len(n.parts) > 1 or m.is_dir() for n, m in zip(names, members))
        need = sum(m.file_size for m in members)
        if need > free_space(target):
            check_disk(target, need, 0, need, [])
        scratch = target / DOWNLOADS / f".{archive.name}.extracting"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        try:
            _extract_members(zipped, members, names, strip, scratch, archive, folder)
            folder.mkdir(parents=True, exist_ok=True)
            moved = []
            for child in sorted(scratch.iterdir()):
                destination = folder / child.name
                if destination.is_dir() and not destination.is_symlink():
                    shutil.rmtree(destination)
                elif destination.exists() or destination.is_symlink():
                    destination.unlink()
                os.replace(child, destination)
                moved.append(child.name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return moved


def _extract_members(zipped: zipfile.ZipFile, members: list[zipfile.ZipInfo], names: list[PurePosixPath], strip: bool,
                     scratch: Path, archive: Path, folder: Path) -> None:
    """Write the members into ``scratch``; DamagedArchive naming the first that cannot be read."""
    base = scratch.resolve()
    for member, name in zip(members, names):
        parts = name.parts[1:] if strip else name.parts
        if not parts:
            continue
        destination = scratch.joinpath(*parts)
        if base not in destination.resolve().parents and destination.resolve() != base:
            raise DataError(f"{archive.name}: member {member.filename!r} resolves outside {folder}; nothing was extracted")
        if member.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            with zipped.open(member) as source_file, open(destination, "wb") as out:
                shutil.copyfileobj(source_file, out, 1 << 20)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:  # a bad CRC, a broken stream
            raise DamagedArchive(f"{archive} is damaged: its member {member.filename!r} cannot be read ({exc})") from None


def _check_images(entry: Entry, folder: Path) -> None:
    if entry.images is None:
        return
    found = sum(1 for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if found < entry.images:
        console.print(
            f"[yellow]warning:[/] {entry.name} gave {found:,} JPEGs in {folder}, {entry.images:,} expected",
            highlight=False, soft_wrap=True,
        )


# --------------------------------------------------------------------------- progress

class _Progress:
    """A bar per file and one overall (on a terminal); plain lines otherwise."""

    def __init__(self, plans: list[_Plan], enabled: bool) -> None:
        self.plans = plans
        self.live = enabled and err_console.is_terminal
        self.tasks: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.bars = None

    def __enter__(self) -> _Progress:
        if self.live:
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                       TransferSpeedColumn)

            self.bars = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                 TimeRemainingColumn(), console=err_console)
            self.bars.__enter__()
            total = sum(p.size for p in self.plans if p.size) or None
            self.overall = self.bars.add_task("all files", total=total, completed=sum(p.have for p in self.plans))
            for plan in self.plans:
                self.tasks[plan.entry.name] = self.bars.add_task(plan.entry.name, total=plan.size, completed=plan.have)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bars is not None:
            self.bars.__exit__(*exc)

    def advance(self, name: str, n: int) -> None:
        if self.bars is not None:
            self.bars.advance(self.tasks[name], n)
            self.bars.advance(self.overall, n)
        elif name not in self.started:
            self.started[name] = time.perf_counter()
            err_console.print(f"downloading {name}", highlight=False)

    def restart(self, name: str, had: int) -> None:
        if self.bars is not None and had:
            self.bars.update(self.tasks[name], completed=0)
            self.bars.advance(self.overall, -had)
