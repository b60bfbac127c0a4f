"""`anomstream datasets` and `anomstream fetch` as users meet them: table, JSON, guidance."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from anomstream import cli
from producers.datasets import LOADERS, loader_class

CliMain = Callable[[list[str]], int]
ON_REQUEST = ("swat", "wadi", "damadics")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANOMSTREAM_DATA_DIR", "ANOMSTREAM_FETCH_MIRROR", "ANOMSTREAM_FETCH_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli_main() -> CliMain:
    return cli.main


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root holding SKAB only, in its shipped layout."""
    for group in ("valve1", "valve2", "other"):
        (tmp_path / "skab" / group).mkdir(parents=True)
        (tmp_path / "skab" / group / "0.csv").write_text("datetime;anomaly\n")
    return tmp_path


def test_the_table_says_what_is_there_and_how_to_get_the_rest(
    data_dir: Path, capsys: pytest.CaptureFixture[str], cli_main: CliMain
) -> None:
    assert cli_main(["datasets", "--data-dir", str(data_dir)]) == 0

    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1 : len(LOADERS) + 1]}
    assert lines[0].split()[:3] == ["DATASET", "STATUS", "LOCATION"]
    assert list(rows) == list(LOADERS)
    assert rows["skab"][1:3] == ["present", str(data_dir / "skab")]
    assert rows["smd"][1:3] == ["missing", str(data_dir / "ServerMachineDataset")]
    assert rows["synthetic"][1:3] == ["no", "fetch"]
    notes = lines[lines.index("To get the missing ones:") + 1 :]
    assert "  smd: run `anomstream fetch smd`" in notes
    assert not any(note.startswith("  skab:") for note in notes)
    swat = next(note for note in notes if note.startswith("  swat:"))
    swat_loader = loader_class("swat")(data_dir)
    assert swat_loader.source in swat and f"put the files in {swat_loader.location}" in swat


def test_json_has_one_object_per_dataset(
    data_dir: Path, capsys: pytest.CaptureFixture[str], cli_main: CliMain
) -> None:
    assert cli_main(["datasets", "--data-dir", str(data_dir), "--json"]) == 0

    rows = {row["dataset"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == list(LOADERS)
    assert rows["skab"]["present"] is True and rows["skab"]["next"] is None
    assert rows["smap"] | {"description": ""} == {
        "dataset": "smap",
        "status": "missing",
        "present": False,
        "location": str(data_dir / "smap_msl"),
        "description": "",
        "next": "run `anomstream fetch smap`",
    }
    assert rows["csv"]["present"] is None and rows["csv"]["status"] == "no fetch"


def test_the_data_root_defaults_to_the_environment(
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_main: CliMain,
) -> None:
    monkeypatch.setenv("ANOMSTREAM_DATA_DIR", str(data_dir))

    assert cli_main(["datasets", "--json"]) == 0

    rows = {row["dataset"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["skab"]["present"] is True
    assert rows["msl"]["location"] == str(data_dir / "smap_msl")


def test_a_loader_that_cannot_be_imported_is_listed_not_raised(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_main: CliMain,
) -> None:
    monkeypatch.setitem(LOADERS, "ghost", "producers.datasets.no_such_loader:GhostLoader")

    assert cli_main(["datasets", "--data-dir", str(tmp_path), "--json"]) == 0

    ghost = json.loads(capsys.readouterr().out)[-1]
    assert ghost["dataset"] == "ghost" and ghost["status"] == "unavailable"
    assert "no_such_loader" in ghost["next"]


@pytest.mark.parametrize("name", ON_REQUEST)
def test_fetch_of_an_on_request_dataset_says_where_to_ask_and_where_to_put_it(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_main: CliMain,
) -> None:
    loader = loader_class(name)(tmp_path)

    status = cli_main(["fetch", name, "--data-dir", str(tmp_path)])

    out = capsys.readouterr().out
    # Guidance is the answer, not a failure; `anomstream datasets` tells scripts what is there.
    assert status == 0
    assert out.startswith(f"{name} is given out on request")
    assert loader.source in out and f"put the files in {loader.location}" in out
    assert not loader.location.exists()  # nothing made up in its place


def test_fetch_of_an_unknown_dataset_is_one_line_listing_the_known_ones(
    capsys: pytest.CaptureFixture[str], cli_main: CliMain
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli_main(["fetch", "kdd99"])

    err = capsys.readouterr().err.strip().splitlines()
    assert caught.value.code == 2 and len(err) == 1
    assert "invalid choice: 'kdd99'" in err[0] and "'skab', 'smd'" in err[0]


def test_a_failed_fetch_is_one_line_and_exit_1_using_the_mirror_setting(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_main: CliMain,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ANOMSTREAM_FETCH_MIRROR", f"http://127.0.0.1:{port}")

    status = cli_main(["fetch", "smd", "--data-dir", str(tmp_path), "--no-progress"])

    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1
    assert err[0].startswith(f"anomstream fetch: error: cannot reach 127.0.0.1:{port}:")


def test_a_bad_fetch_setting_names_the_variable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_main: CliMain,
) -> None:
    monkeypatch.setenv("ANOMSTREAM_FETCH_TIMEOUT_S", "0")

    assert cli_main(["fetch", "smd", "--data-dir", str(tmp_path)]) == 1
    assert "ANOMSTREAM_FETCH_TIMEOUT_S" in capsys.readouterr().err
