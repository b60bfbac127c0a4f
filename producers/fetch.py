"""Download the public datasets into the data root: resumable, checksummed, unpacked, checked."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from http.client import HTTPException, HTTPResponse
from pathlib import Path, PurePosixPath
from typing import IO, Literal, cast
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from tqdm import tqdm

from producers.datasets.registry import loader_class
from producers.fetch_sources import SOURCES, NoFetch, OnRequest, RemoteFile, guidance

__all__ = ["DOWNLOADS", "FetchError", "FetchSettings", "Outcome", "download", "fetch"]

log = logging.getLogger(__name__)

# Archives wait here (hidden, so nothing mistakes them for a dataset) until they are unpacked.
DOWNLOADS = ".downloads"
_CHUNK = 1 << 16
Outcome = Literal["downloaded", "present", "on-request", "no-fetch"]


class FetchError(Exception):
    """A download or unpack that failed; the message is one line, meant for the user."""


class FetchSettings(BaseSettings):
    """`ANOMSTREAM_FETCH_MIRROR`: a base URL serving every file under its table `filename`."""

    model_config = SettingsConfigDict(env_prefix="ANOMSTREAM_FETCH_")

    mirror: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    timeout_s: float = 30.0,
    progress: bool | None = None,
) -> str:
    """Fetch `url` into `dest` by way of `dest.part`; returns the file's sha256.

    A `.part` left by an interrupted run is continued with an HTTP Range request when the server
    answers 206, and started over when it answers 200. `dest` appears only once the file is
    whole and, if `sha256` is given, matches it; a mismatching download is discarded. Without
    a pinned digest a resumed file is only as sound as the server's bytes staying the same in
    between; an archive spliced from two versions fails to unpack and is removed then.
    `progress`: True/False, or None for a bar only when stderr is a terminal.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"not an http(s) address: {url}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    response = _open(url, offset, timeout_s)
    if response is None:  # 416: the server has nothing past our .part, so it is not a prefix
        part.unlink()
        offset = 0
        response = cast(HTTPResponse, _open(url, 0, timeout_s))
    with response:
        if offset and response.status != 206:
            offset = 0  # the server ignored Range and sends the whole file: start over
        elif offset and not response.headers.get("Content-Range", "").startswith(
            f"bytes {offset}-"
        ):
            raise FetchError(f"{url} answered a range other than bytes={offset}- was asked for")
        _write(response, part, offset, dest.name, progress)
    digest = _sha256(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink()  # resuming from bad bytes would only reproduce the mismatch
        raise FetchError(
            f"checksum mismatch for {dest.name}: expected sha256 {sha256}, got {digest} "
            "(download discarded)"
        )
    os.replace(part, dest)
    return digest


def _open(url: str, offset: int, timeout_s: float) -> HTTPResponse | None:
    # S310 warns of file:// and custom schemes; `download` lets only http(s) through.
    request = Request(url, headers={"User-Agent": "anomstream-fetch"})  # noqa: S310
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    host = urlsplit(url).netloc
    try:
        return cast(HTTPResponse, urlopen(request, timeout=timeout_s))  # noqa: S310
    except HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return None
        raise FetchError(f"HTTP {exc.code} {exc.reason} from {url}") from None
    except URLError as exc:
        raise FetchError(f"cannot reach {host}: {exc.reason}") from None
    except TimeoutError:  # waiting for the status line: urllib does not wrap this one
        raise FetchError(f"no answer from {host} within {timeout_s:g}s") from None
    except (OSError, HTTPException) as exc:  # e.g. the connection reset before any answer
        raise FetchError(f"connection to {host} failed: {exc!r}") from None


def _write(
    response: HTTPResponse, part: Path, offset: int, label: str, progress: bool | None
) -> None:
    length = response.headers.get("Content-Length", "")
    total = offset + int(length) if length.isdigit() else None
    done = offset
    bar = tqdm(
        total=total,
        initial=offset,
        desc=label,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=None if progress is None else not progress,  # None: only on a terminal
    )
    with part.open("ab" if offset else "wb") as out, bar:
        try:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                bar.update(len(chunk))
        except (OSError, HTTPException) as exc:
            raise FetchError(
                f"download of {label} broke off at {done} bytes ({exc}); run again to resume"
            ) from None
    # http.client returns b"" on a connection closed early rather than raising.
    if total is not None and done < total:
        raise FetchError(
            f"download of {label} broke off at {done} of {total} bytes; run again to resume"
        )


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def fetch(
    name: str,
    data_dir: Path,
    *,
    force: bool = False,
    progress: bool | None = None,
    mirror: str | None = None,
    timeout_s: float = 30.0,
    say: Callable[[str], None] = log.info,
) -> Outcome:
    """Get dataset `name` into `data_dir`, in the layout its loader reads; `say` gets the news.

    Where the table pins no sha256 the digest is computed, told through `say` and written to
    `<file>.sha256` in the dataset folder: that records what was fetched, it verifies nothing.
    Datasets given out on request yield "on-request" after `say` tells where to ask.
    """
    plan = SOURCES.get(name)
    if isinstance(plan, NoFetch):
        say(f"{name} needs no fetch: {plan.reason}")
        return "no-fetch"
    try:
        loader = loader_class(name)(data_dir)
    except ImportError as exc:
        raise FetchError(f"the {name} loader cannot be imported: {exc}") from None
    if loader.is_present() and not force:
        say(f"{name} is already present in {loader.location}")
        return "present"
    if plan is None or isinstance(plan, OnRequest):
        say(f"{name} is given out on request, not downloaded: {guidance(name, loader)}")
        return "on-request"
    downloads = data_dir / DOWNLOADS
    for remote in plan.files:
        archive = downloads / remote.filename
        url = f"{mirror.rstrip('/')}/{remote.filename}" if mirror else remote.url
        digest = _obtain(remote, archive, url, force, timeout_s, progress, say)
        _unpack(archive, remote, data_dir / plan.folder)
        _record(data_dir / plan.folder, remote, digest, say)
    if not loader.is_present():
        raise FetchError(
            f"unpacked {name} into {data_dir / plan.folder} but its loader does not find the "
            f"files in {loader.location}; the upstream layout may have changed"
        )
    for remote in plan.files:  # unpacked and checked: the archives only take up space now
        (downloads / remote.filename).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # kept if it holds another dataset's partial download
        downloads.rmdir()
    say(f"{name} is ready in {loader.location}")
    return "downloaded"


def _obtain(
    remote: RemoteFile,
    archive: Path,
    url: str,
    force: bool,
    timeout_s: float,
    progress: bool | None,
    say: Callable[[str], None],
) -> str:
    if force:
        archive.unlink(missing_ok=True)
        archive.with_name(archive.name + ".part").unlink(missing_ok=True)
    if archive.exists():  # an earlier run stopped after downloading, before unpacking
        digest = _sha256(archive)
        if remote.sha256 is None or digest == remote.sha256:
            say(f"using {archive}, downloaded before")
            return digest
        archive.unlink()
    say(f"downloading {remote.filename} from {url}")
    return download(url, archive, sha256=remote.sha256, timeout_s=timeout_s, progress=progress)


def _record(folder: Path, remote: RemoteFile, digest: str, say: Callable[[str], None]) -> None:
    record = folder / f"{remote.filename}.sha256"
    # sha256sum's format, so `sha256sum -c` can check a copy of the file later.
    record.write_text(f"{digest}  {remote.filename}\n")
    if remote.sha256 is not None:
        say(f"sha256 {digest}  {remote.filename} (matches the pinned value)")
    else:
        say(f"sha256 {digest}  {remote.filename} (not pinned upstream; recorded in {record})")


def _unpack(archive: Path, remote: RemoteFile, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if remote.unpack == "file":
        shutil.copyfile(archive, folder / remote.filename)
        return
    written = 0
    try:
        for member, source in _members(archive, remote.unpack):
            rel = _destination(member, remote)
            if rel is None:
                continue
            target = _inside(folder, rel, archive)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                shutil.copyfileobj(source, out)
            written += 1
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        archive.unlink()  # an HTML error page or a mangled resume: only a new download helps
        raise FetchError(
            f"{archive.name} is not a readable {remote.unpack} archive ({exc}); "
            "removed it, run fetch again"
        ) from None
    if not written:
        expected = ", ".join(src for src, _ in remote.members)
        raise FetchError(f"{archive.name} holds none of the expected paths ({expected})")


def _members(archive: Path, kind: str) -> Iterator[tuple[str, IO[bytes]]]:
    if kind == "zip":
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                if not info.is_dir():
                    with zipped.open(info) as source:
                        yield info.filename, source
        return
    with tarfile.open(archive) as tarred:
        for member in tarred:
            # Regular files only: a link in a downloaded archive could point anywhere.
            extracted = tarred.extractfile(member) if member.isfile() else None
            if extracted is not None:
                with extracted:
                    yield member.name, extracted


def _destination(member: str, remote: RemoteFile) -> str | None:
    parts = PurePosixPath(member).parts
    rel = "/".join(parts[1:] if remote.strip_top else parts)
    for src, dst in remote.members:
        if src.endswith("/") and rel.startswith(src) and rel != src:
            return dst + rel[len(src) :]
        if rel == src:
            return dst
    return None


def _inside(folder: Path, rel: str, archive: Path) -> Path:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise FetchError(f"{archive.name} has an unsafe member path {rel!r}; not unpacking it")
    return folder.joinpath(*path.parts)
