"""Dataset downloads against a real local HTTP server: resume, checksums, unpacking, errors."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import socket
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from producers.datasets import loader_class
from producers.fetch import DOWNLOADS, FetchError, download, fetch
from producers.fetch_sources import SOURCES, Download, RemoteFile

SKAB_HEADER = (
    "datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;"
    "Thermocouple;Voltage;Volume Flow RateRMS;anomaly;changepoint"
)
SKAB_ROWS = "\n".join(
    f"2020-03-09 10:14:3{i};0.02;0.04;1.3;0.05;79.3;26.0;233.0;32.0;{i % 2}.0;0.0" for i in range(4)
)


@dataclass
class Hit:
    path: str
    range: str | None
    status: int
    sent: int


@dataclass
class FileServer:
    """Serves `files` by name; honours `Range: bytes=N-` unless told not to; logs each hit."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    honour_range: bool = True
    cut_after: int | None = None  # the next answer stops after this many body bytes
    hits: list[Hit] = field(default_factory=list)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        body = self.files.get(handler.path.lstrip("/"))
        asked = handler.headers.get("Range")
        status, start = (200, 0) if body is not None else (404, 0)
        match = re.fullmatch(r"bytes=(\d+)-", asked or "")
        if body is not None and match and self.honour_range:
            start = int(match[1])
            status = 206 if start < len(body) else 416
        handler.send_response(status)
        payload = body[start:] if body is not None and status in (200, 206) else b""
        if status == 206 and body is not None:
            handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if self.cut_after is not None:  # declared in full, then the connection drops
            payload, self.cut_after = payload[: self.cut_after], None
        # Logged before the body goes out: the client may ask again as soon as it has it.
        self.hits.append(Hit(handler.path, asked, status, len(payload)))
        handler.wfile.write(payload)


@pytest.fixture
def server() -> Iterator[FileServer]:
    state = FileServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.answer(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANOMSTREAM_DATA_DIR", "ANOMSTREAM_FETCH_MIRROR", "ANOMSTREAM_FETCH_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def skab_zip(top: str = "SKAB-master") -> bytes:
    rows = f"{SKAB_HEADER}\n{SKAB_ROWS}\n".encode()
    return zipped(
        {
            f"{top}/data/valve1/0.csv": rows,
            f"{top}/data/valve2/0.csv": rows,
            f"{top}/data/other/1.csv": rows,
            f"{top}/data/anomaly-free/anomaly-free.csv": rows,
            f"{top}/data/README.md": b"# SKAB\n",
            f"{top}/LICENSE": b"GPL-3.0\n",
            f"{top}/notebooks/Core.ipynb": b"{}",
        }
    )


def smd_files() -> dict[str, bytes]:
    row = ",".join(["0.5"] * 38).encode()
    part = "OmniAnomaly-master/ServerMachineDataset"
    return {
        f"{part}/train/machine-1-1.txt": row + b"\n" + row + b"\n",
        f"{part}/test/machine-1-1.txt": row + b"\n" + row + b"\n",
        f"{part}/test_label/machine-1-1.txt": b"0\n1\n",
        f"{part}/interpretation_label/machine-1-1.txt": b"1-2:1,2\n",
        "OmniAnomaly-master/LICENSE": b"MIT\n",
        "OmniAnomaly-master/donut/model.py": b"",
    }


def npy(rows: int, dims: int) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.arange(rows * dims, dtype=np.float64).reshape(rows, dims))
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pin(monkeypatch: pytest.MonkeyPatch, name: str, index: int, **changes: object) -> None:
    plan = SOURCES[name]
    assert isinstance(plan, Download)
    files = list(plan.files)
    files[index] = dataclasses.replace(files[index], **changes)  # type: ignore[arg-type]
    monkeypatch.setitem(SOURCES, name, dataclasses.replace(plan, files=tuple(files)))


def test_skab_is_downloaded_verified_unpacked_and_found_by_its_loader(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = skab_zip()
    server.files["skab-master.zip"] = archive
    pin(monkeypatch, "skab", 0, sha256=sha(archive))
    notes: list[str] = []

    outcome = fetch("skab", tmp_path, mirror=server.url, progress=False, say=notes.append)

    assert outcome == "downloaded"
    skab = tmp_path / "skab"
    assert (skab / "valve1" / "0.csv").read_text().startswith(SKAB_HEADER)
    assert (skab / "LICENSE").read_text() == "GPL-3.0\n"
    assert not (skab / "notebooks").exists() and not (skab / "data").exists()
    assert loader_class("skab")(tmp_path).is_present()
    assert (skab / "skab-master.zip.sha256").read_text() == f"{sha(archive)}  skab-master.zip\n"
    assert any("matches the pinned value" in note for note in notes)
    assert not (tmp_path / DOWNLOADS / "skab-master.zip").exists()  # no second copy kept
    # Present now: a second fetch asks the server nothing; --force downloads again.
    assert fetch("skab", tmp_path, mirror=server.url, progress=False) == "present"
    assert len(server.hits) == 1
    assert fetch("skab", tmp_path, mirror=server.url, progress=False, force=True) == "downloaded"
    assert len(server.hits) == 2


def test_an_unpinned_download_prints_and_records_its_digest(
    server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = zipped(smd_files())
    server.files["omnianomaly-master.zip"] = archive

    status = fetch("smd", tmp_path, mirror=server.url, progress=False, say=print)

    out = capsys.readouterr().out
    assert status == "downloaded"
    assert f"sha256 {sha(archive)}  omnianomaly-master.zip (not pinned upstream" in out
    record = tmp_path / "ServerMachineDataset" / "omnianomaly-master.zip.sha256"
    assert record.read_text().split() == [sha(archive), "omnianomaly-master.zip"]
    assert loader_class("smd")(tmp_path).is_present()
    assert not (tmp_path / "ServerMachineDataset" / "donut").exists()


def test_smap_and_msl_share_one_download_of_two_files(server: FileServer, tmp_path: Path) -> None:
    server.files["telemanom-data.zip"] = zipped(
        {
            "data/train/P-1.npy": npy(6, 25),
            "data/test/P-1.npy": npy(8, 25),
            "data/train/M-1.npy": npy(6, 55),
            "data/test/M-1.npy": npy(8, 55),
            "data/2018-05-19_15.00.10/models/P-1.h5": b"weights",
        }
    )
    server.files["labeled_anomalies.csv"] = (
        b"chan_id,spacecraft,anomaly_sequences,class,num_values\n"
        b'P-1,SMAP,"[[2, 3]]",[point],8\nM-1,MSL,"[[4, 6]]",[contextual],8\n'
    )

    assert fetch("smap", tmp_path, mirror=server.url, progress=False) == "downloaded"

    folder = tmp_path / "smap_msl"
    assert np.load(folder / "test" / "M-1.npy").shape == (8, 55)
    assert (folder / "labeled_anomalies.csv").read_bytes() == server.files["labeled_anomalies.csv"]
    assert not (folder / "2018-05-19_15.00.10").exists()
    assert fetch("msl", tmp_path, mirror=server.url, progress=False) == "present"
    assert [hit.path for hit in server.hits] == ["/telemanom-data.zip", "/labeled_anomalies.csv"]


def test_a_tar_archive_unpacks_like_a_zip(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in smd_files().items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    server.files["smd.tar.gz"] = buffer.getvalue()
    pin(monkeypatch, "smd", 0, filename="smd.tar.gz", unpack="tar")

    assert fetch("smd", tmp_path, mirror=server.url, progress=False) == "downloaded"
    assert (tmp_path / "ServerMachineDataset" / "test_label" / "machine-1-1.txt").is_file()


def test_an_interrupted_download_resumes_with_a_range_request(
    server: FileServer, tmp_path: Path
) -> None:
    payload = bytes(range(256)) * 400
    server.files["big.bin"] = payload
    server.cut_after = 30_000
    dest = tmp_path / "big.bin"

    with pytest.raises(FetchError, match="broke off at 30000 of 102400 bytes; run again"):
        download(f"{server.url}/big.bin", dest, progress=False)
    assert (tmp_path / "big.bin.part").stat().st_size == 30_000 and not dest.exists()

    digest = download(f"{server.url}/big.bin", dest, sha256=sha(payload), progress=False)

    assert digest == sha(payload) and dest.read_bytes() == payload
    assert server.hits[-1] == Hit("/big.bin", "bytes=30000-", 206, len(payload) - 30_000)
    assert not (tmp_path / "big.bin.part").exists()


def test_a_server_that_ignores_range_is_read_from_the_start(
    server: FileServer, tmp_path: Path
) -> None:
    payload = b"the whole file" * 100
    server.files["f.bin"] = payload
    server.honour_range = False
    (tmp_path / "f.bin.part").write_bytes(b"stale bytes")

    download(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)

    assert (tmp_path / "f.bin").read_bytes() == payload  # not appended to the stale part
    assert server.hits == [Hit("/f.bin", "bytes=11-", 200, len(payload))]


def test_a_part_file_past_the_end_starts_over(server: FileServer, tmp_path: Path) -> None:
    server.files["f.bin"] = b"short"
    (tmp_path / "f.bin.part").write_bytes(b"longer than the file")

    download(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)

    assert (tmp_path / "f.bin").read_bytes() == b"short"
    assert [hit.status for hit in server.hits] == [416, 200]


def test_a_checksum_mismatch_names_both_digests_and_moves_nothing_into_place(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = skab_zip()
    server.files["skab-master.zip"] = archive
    pin(monkeypatch, "skab", 0, sha256="0" * 64)

    with pytest.raises(FetchError) as caught:
        fetch("skab", tmp_path, mirror=server.url, progress=False)

    message = str(caught.value)
    assert message == (
        f"checksum mismatch for skab-master.zip: expected sha256 {'0' * 64}, "
        f"got {sha(archive)} (download discarded)"
    )
    assert not (tmp_path / "skab").exists()
    assert list((tmp_path / DOWNLOADS).iterdir()) == []


def test_a_file_that_is_no_archive_is_removed_with_a_clear_error(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["skab-master.zip"] = b"<html>rate limited</html>"

    with pytest.raises(FetchError, match="skab-master.zip is not a readable zip archive"):
        fetch("skab", tmp_path, mirror=server.url, progress=False)
    assert not (tmp_path / DOWNLOADS / "skab-master.zip").exists()


def test_an_archive_member_escaping_the_folder_is_refused(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["skab-master.zip"] = zipped({"SKAB-master/data/../../escaped.txt": b"x"})

    with pytest.raises(FetchError, match="unsafe member path"):
        fetch("skab", tmp_path / "root", mirror=server.url, progress=False)
    assert not (tmp_path / "escaped.txt").exists()


def test_http_404_is_one_line_naming_the_address(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as caught:
        fetch("skab", tmp_path, mirror=server.url, progress=False)
    assert str(caught.value) == f"HTTP 404 Not Found from {server.url}/skab-master.zip"


def test_a_closed_port_fails_at_once(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()

    with pytest.raises(FetchError, match=f"cannot reach 127.0.0.1:{port}: .*refused"):
        download(f"http://127.0.0.1:{port}/x.zip", tmp_path / "x.zip", timeout_s=5)
    assert time.monotonic() - started < 2


def test_a_silent_server_times_out(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x.zip"
        started = time.monotonic()
        with pytest.raises(FetchError, match="no answer from 127.0.0.1:.* within 0.3s"):
            download(url, tmp_path / "x.zip", timeout_s=0.3)
    assert time.monotonic() - started < 3


def test_the_progress_bar_draws_only_when_asked_or_on_a_terminal(
    server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.files["f.bin"] = b"x" * 5000

    download(f"{server.url}/f.bin", tmp_path / "a.bin", progress=True)
    drawn = capsys.readouterr().err
    download(f"{server.url}/f.bin", tmp_path / "b.bin")  # captured stderr is no terminal

    assert "a.bin" in drawn and "100%" in drawn
    assert capsys.readouterr().err == ""


def test_synthetic_needs_no_fetch(tmp_path: Path) -> None:
    notes: list[str] = []
    assert fetch("synthetic", tmp_path, say=notes.append) == "no-fetch"
    assert notes == ["synthetic needs no fetch: generated on the fly, nothing to download"]


def test_the_source_table_unpacks_where_the_loaders_look() -> None:
    for name, plan in SOURCES.items():
        if isinstance(plan, Download):
            assert plan.folder == loader_class(name).folder, name
            assert all(isinstance(remote, RemoteFile) for remote in plan.files)
