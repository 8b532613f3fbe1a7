"""A loopback file server and small HAM10000 / ISIC 2018 test-set archives for the fetch tests.

``FileServer`` serves bytes on 127.0.0.1 only: plain files under ``/files/<name>``, and a
Harvard-Dataverse-like API (``/api/datasets/:persistentId/`` listing, ``/api/access/datafile/<id>``)
for the files registered with ``dataverse=True``. It honours ``Range: bytes=N-``, counts the
body bytes it sends and every request it gets, can drop a connection mid-file once, and can
trickle a file one byte at a time (a server that never quite stops sending).

``build_archives`` makes the real file names and layouts from synthetic images: the two
image zips, the tab-separated ``HAM10000_metadata`` (served without an extension), the test
images zip and the test ground truth in the HAM10000 format, with ISIC 2018 test image ids.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd

from skinbench.data.synthetic import generate

DOI = "doi:10.7910/DVN/TEST01"
SERVER_CHUNK = 4096
FIRST_TEST_ID = 34524  # ISIC_0034524, the first ISIC 2018 Task 3 test image


@dataclass
class Served:
    body: bytes
    file_id: int
    label: str
    dataverse: bool
    tabular: bool = False


@dataclass
class FileServer:
    """Loopback HTTP server; ``url(name)`` is a file's URL, ``base`` the Dataverse server."""

    files: dict[str, Served] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)  #: body bytes sent per file name
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  #: (method, path, Range header)
    drop_after: dict[str, int] = field(default_factory=dict)  #: name -> bytes to send before dropping (once)
    trickle: dict[str, float] = field(default_factory=dict)  #: name -> seconds between single bytes

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                owner._handle(self, head=True)

            def do_GET(self) -> None:
                owner._handle(self, head=False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base}/files/{name}"

    def add(self, name: str, body: bytes, *, dataverse: bool = False, label: str | None = None, tabular: bool = False) -> None:
        self.files[name] = Served(body, 1000 + len(self.files), label or name, dataverse, tabular)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def file_requests(self) -> list[tuple[str, str, str | None]]:
        """Requests for file bodies (not the listing)."""
        return [r for r in self.requests if "/api/datasets/" not in r[1]]

    def _listing(self) -> bytes:
        files = []
        for served in self.files.values():
            if not served.dataverse:
                continue
            data_file = {"id": served.file_id, "filesize": len(served.body) + (7 if served.tabular else 0)}
            if served.tabular:
                data_file.update(originalFileFormat="text/csv", originalFileSize=len(served.body), md5="0" * 32)
            else:
                data_file.update(md5=hashlib.md5(served.body).hexdigest())
            files.append({"label": served.label, "dataFile": data_file})
        return json.dumps({"status": "OK", "data": {"latestVersion": {"files": files}}}).encode()

    def _find(self, path: str) -> tuple[str, Served] | None:
        parsed = urlparse(path)
        if parsed.path.startswith("/files/"):
            name = parsed.path[len("/files/"):]
            return (name, self.files[name]) if name in self.files else None
        if parsed.path.startswith("/api/access/datafile/"):
            file_id = int(parsed.path.rsplit("/", 1)[-1])
            for name, served in self.files.items():
                if served.file_id == file_id and served.dataverse:
                    if served.tabular and parse_qs(parsed.query).get("format") != ["original"]:
                        return None  # only the original format is served here
                    return name, served
        return None

    def _handle(self, handler: BaseHTTPRequestHandler, *, head: bool) -> None:
        self.requests.append(("HEAD" if head else "GET", handler.path, handler.headers.get("Range")))
        if urlparse(handler.path).path == "/api/datasets/:persistentId/":
            assert parse_qs(urlparse(handler.path).query)["persistentId"] == [DOI]
            body = self._listing()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if not head:
                handler.wfile.write(body)
            return
        found = self._find(handler.path)
        if found is None:
            handler.send_error(404)
            return
        name, served = found
        body, start = served.body, 0
        wanted = handler.headers.get("Range")
        if wanted and wanted.startswith("bytes=") and wanted.endswith("-"):
            start = int(wanted[len("bytes="):-1])
            if start >= len(body):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(body)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            handler.send_response(200)
        handler.send_header("Content-Length", str(len(body) - start))
        handler.send_header("Accept-Ranges", "bytes")
        handler.end_headers()
        if head:
            return
        limit = self.drop_after.pop(name, None)
        if name in self.trickle:
            self._trickle(handler, body[start:], self.trickle[name])
            return
        position = start
        while position < len(body):
            if limit is not None and position - start >= limit:
                handler.close_connection = True
                handler.wfile.flush()
                handler.connection.shutdown(2)  # drop mid-file, as a broken link would
                return
            end = position + SERVER_CHUNK if limit is None else min(position + SERVER_CHUNK, start + limit)
            chunk = body[position:end]
            handler.wfile.write(chunk)
            self.sent[name] = self.sent.get(name, 0) + len(chunk)
            position += len(chunk)


    @staticmethod
    def _trickle(handler: BaseHTTPRequestHandler, body: bytes, seconds: float) -> None:
        """Send ``body`` a byte at a time, ``seconds`` apart, until done or the client goes away."""
        import time

        for index in range(len(body)):
            try:
                handler.wfile.write(body[index:index + 1])
                handler.wfile.flush()
            except OSError:  # the client gave up
                return
            time.sleep(seconds)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def with_bad_crc(archive: bytes, member: str) -> bytes:
    """``archive`` with one byte of ``member``'s stored data changed: the zip reads, the member fails its CRC."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        info = zipped.getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data = bytearray(archive)
    data[start + info.compress_size // 2] ^= 0xFF
    return bytes(data)


@dataclass
class Archives:
    """The served files' bytes by name, and what they hold."""

    files: dict[str, bytes]
    train_ids: list[str]
    test_ids: list[str]


def build_archives(work: Path, *, train: int = 40, test: int = 14, test_metadata: bool = True) -> Archives:
    """HAM10000's three files and the test set's two, from synthetic 64x48 images."""
    ham = work / "synthetic-train"
    generate(ham, count=train, size=(64, 48), seed=0, workers=1, progress=False)
    meta = pd.read_csv(ham / "HAM10000_metadata.csv", dtype=str)
    part_1 = {p.name: p.read_bytes() for p in sorted((ham / "HAM10000_images_part_1").glob("*.jpg"))}
    part_2 = {p.name: p.read_bytes() for p in sorted((ham / "HAM10000_images_part_2").glob("*.jpg"))}
    held = work / "synthetic-test"
    generate(held, count=test, size=(64, 48), seed=1, workers=1, progress=False)
    truth = pd.read_csv(held / "HAM10000_metadata.csv", dtype=str)
    rename = {old: f"ISIC_{FIRST_TEST_ID + i:07d}" for i, old in enumerate(sorted(truth["image_id"]))}
    truth["image_id"] = truth["image_id"].map(rename)
    truth["lesion_id"] = "TEST_" + truth["lesion_id"]
    test_images = {f"{rename[p.stem]}.jpg": p.read_bytes() for p in sorted(held.rglob("*.jpg"))}
    if not test_metadata:
        from skinbench.classes import ISIC_CODE, ISIC_COLUMNS

        onehot = pd.DataFrame({"image": truth["image_id"]})
        for column in ISIC_COLUMNS:
            onehot[column] = (truth["dx"].map(ISIC_CODE) == column).astype(float)
        truth_bytes = onehot.to_csv(index=False).encode()
    else:
        truth_bytes = truth.to_csv(index=False, sep="\t").encode()
    files = {
        "HAM10000_images_part_1.zip": zip_bytes(part_1),
        "HAM10000_images_part_2.zip": zip_bytes(part_2),
        "HAM10000_metadata": meta.to_csv(index=False, sep="\t").encode(),
        "ISIC2018_Task3_Test_Images.zip": zip_bytes({f"ISIC2018_Task3_Test_Images/{n}": b for n, b in test_images.items()}),
        "ISIC2018_Task3_Test_GroundTruth": truth_bytes,
    }
    return Archives(files, sorted(meta["image_id"]), sorted(truth["image_id"]))


def write_manifest(path: Path, server: FileServer, archives: Archives, *, dataverse: bool = True,
                   checksums: bool = True, url_base: str | None = None) -> Path:
    """A manifest in the shipped one's form for the served files.

    With ``dataverse`` the files are looked up in the server's Dataverse listing (as the shipped
    manifest does); otherwise each has a plain URL (``url_base`` replaces the server's).
    The image zips carry their MD5 when ``checksums``; the tables none (recorded on first download).
    """
    layout = {
        "HAM10000_images_part_1.zip": ("train", "zip", "HAM10000_images_part_1"),
        "HAM10000_images_part_2.zip": ("train", "zip", "HAM10000_images_part_2"),
        "HAM10000_metadata": ("train", "table", "HAM10000_metadata.csv"),
        "ISIC2018_Task3_Test_Images.zip": ("test", "zip", "ISIC2018_Task3_Test_Images"),
        "ISIC2018_Task3_Test_GroundTruth": ("test", "table", "ISIC2018_Task3_Test_GroundTruth.csv"),
    }
    entries = []
    for name, body in archives.files.items():
        group, unpack, to = layout[name]
        tabular = unpack == "table"
        server.add(name, body, dataverse=dataverse, label=f"{name}.tab" if tabular else name, tabular=tabular)
        entry = {"name": name, "what": name, "group": group, "unpack": unpack, "to": to}
        if dataverse:
            entry["dataverse"] = name
        else:
            base = url_base or server.base
            entry["url"] = f"{base}/files/{name}"
        if checksums and not tabular:
            entry["md5"] = hashlib.md5(body).hexdigest()
        entries.append(entry)
    source = {"title": "test HAM10000", "licence": "test", "homepage": f"{server.base}/dataset", "files": entries}
    if dataverse:
        source["dataverse"] = {"server": server.base, "doi": DOI}
    path.write_text(json.dumps({"format_version": 1, "sources": {"ham10000": source}}, indent=1))
    return path
