"""Where each registered dataset comes from: download addresses, checksums, how each unpacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from producers.datasets.base import DatasetLoader

__all__ = ["SOURCES", "Download", "NoFetch", "OnRequest", "Plan", "RemoteFile", "guidance"]

Unpack = Literal["zip", "tar", "file"]


@dataclass(frozen=True)
class RemoteFile:
    """One file to download and how it becomes part of the dataset's folder.

    `filename` is its name in `<data root>/.downloads/` and on a mirror. `sha256` is None where
    nobody has computed it from the canonical address yet: the download is then not verified
    against a pin, its digest is printed and recorded beside the data instead.
    """

    url: str
    filename: str
    sha256: str | None
    unpack: Unpack
    # (path in the archive, path under the dataset folder); a path that ends in "/" moves a
    # whole tree, any other names one file. Archive members that match none are skipped.
    members: tuple[tuple[str, str], ...] = ()
    # GitHub names an archive's top folder after the repository and ref (`SKAB-master/`);
    # dropping whatever it is keeps the table right if the ref in the address changes.
    strip_top: bool = False


@dataclass(frozen=True)
class Download:
    """A dataset fetched from public addresses into `folder` under the data root."""

    folder: str
    files: tuple[RemoteFile, ...]


@dataclass(frozen=True)
class OnRequest:
    """A dataset its owner gives out on request; `fetch` can only say where to ask.

    Where to ask is the loader's `source`: the loader knows which release and files it reads.
    """


@dataclass(frozen=True)
class NoFetch:
    """A dataset with nothing to download."""

    reason: str


Plan = Download | OnRequest | NoFetch

# No sha256 is pinned below: these addresses cannot be reached from where this table was
# written, and a digest nobody computed must not be claimed. The GitHub archives could not be
# pinned anyway: they follow a branch, and GitHub does not promise byte-stable archives.
_SKAB = Download(
    folder="skab",
    files=(
        RemoteFile(
            url="https://github.com/waico/SKAB/archive/refs/heads/master.zip",
            filename="skab-master.zip",
            sha256=None,
            unpack="zip",
            members=(("data/", ""), ("LICENSE", "LICENSE")),
            strip_top=True,
        ),
    ),
)
_SMD = Download(
    folder="ServerMachineDataset",
    files=(
        RemoteFile(
            url="https://github.com/NetManAIOps/OmniAnomaly/archive/refs/heads/master.zip",
            filename="omnianomaly-master.zip",
            sha256=None,
            unpack="zip",
            members=(("ServerMachineDataset/", ""), ("LICENSE", "LICENSE")),
            strip_top=True,
        ),
    ),
)
# One download serves both spacecraft: telemanom ships SMAP and MSL channels together.
_SMAP_MSL = Download(
    folder="smap_msl",
    files=(
        RemoteFile(
            # The address the khundman/telemanom README gives; the zip holds data/train, data/test.
            url="https://s3-us-west-2.amazonaws.com/telemanom/data.zip",
            filename="telemanom-data.zip",
            sha256=None,
            unpack="zip",
            members=(("data/train/", "train/"), ("data/test/", "test/")),
        ),
        RemoteFile(
            url="https://raw.githubusercontent.com/khundman/telemanom/master/labeled_anomalies.csv",
            filename="labeled_anomalies.csv",
            sha256=None,
            unpack="file",
        ),
    ),
)
SOURCES: Final[dict[str, Plan]] = {
    "skab": _SKAB,
    "smd": _SMD,
    "smap": _SMAP_MSL,
    "msl": _SMAP_MSL,
    "swat": OnRequest(),
    "wadi": OnRequest(),
    "damadics": OnRequest(),
    "synthetic": NoFetch("generated on the fly, nothing to download"),
    "csv": NoFetch("reads your own CSV, JSON lines or Parquet files, nothing to download"),
    "sql": NoFetch("reads rows from your own database, nothing to download"),
}


def guidance(name: str, loader: DatasetLoader) -> str:
    """One line telling how to get a missing dataset."""
    plan = SOURCES.get(name)
    if isinstance(plan, Download):
        return f"run `anomstream fetch {name}`"
    if isinstance(plan, NoFetch):
        return plan.reason
    # On request, or a loader registered without a table entry: its own `source` says where.
    where = f"put the files in {loader.location} (where the {name} loader looks)"
    return f"get it from {loader.source}, then {where}"
