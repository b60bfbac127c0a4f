"""`anomstream report` without Kafka: saved-run lines into exact per-entity arrays, numbers,
PNG files and an escaped index.html."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from output_messages import make_alert, make_score, make_score_batch

from anomstream.cli import main
from consumers.report_data import AlertSpan, collect, parse_run_line, read_runs
from consumers.report_render import write_report
from schemas import Alert, AlertState, SchemaError, Score, ScoreBatch, encode

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def score(entity: str, seq: int, value: float, label: int | None, dataset: str = "ds") -> Score:
    return make_score(dataset=dataset, entity=entity, seq=seq, score=value, label=label)


def batch(entity: str, first_seq: int, values: list[float], labels: list[int | None]) -> ScoreBatch:
    return make_score_batch(entity=entity, first_seq=first_seq, scores=values, labels=labels)


def alert(entity: str, alert_id: str, state: str, start: int, end: int | None) -> Alert:
    return make_alert(state=state, entity=entity, alert_id=alert_id, start_seq=start, end_seq=end)


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    """Two entities ("a" and "<b>"), labels on "a" only, one resolved and one open alert."""
    messages: list[Alert | Score | ScoreBatch] = [
        batch("a", 0, [0.1, 2.0, 3.0, 0.2], [0, 1, 0, 1]),
        score("a", 5, 0.3, 0),  # out of order: sorted by seq
        score("a", 4, 1.5, 1),
        alert("a", "ds/a/1", "opened", 1, None),
        alert("a", "ds/a/1", "resolved", 1, 2),
        score("<b>", 10, 0.5, None),
        score("<b>", 11, 4.0, None),
        alert("<b>", "ds/<b>/11", "opened", 11, None),
        score("a", 99, 9.0, 1, dataset="other"),  # another dataset: left out
    ]
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"\n".join(encode(m) for m in messages) + b"\n")
    return path


def test_lines_are_told_apart_by_their_keys() -> None:
    assert isinstance(parse_run_line(encode(alert("a", "x", "opened", 1, None)))[0], Alert)
    pair = parse_run_line(encode(batch("a", 7, [1.0, 2.0], [0, 0])))
    assert [(type(s), s.seq) for s in pair if isinstance(s, Score)] == [(Score, 7), (Score, 8)]
    single = parse_run_line(encode(score("a", 3, 0.1, None)).decode())
    assert len(single) == 1 and isinstance(single[0], Score) and single[0].seq == 3
    with pytest.raises(SchemaError):
        parse_run_line(b"[1, 2]")


def test_collect_gives_exact_arrays_and_alert_spans(run_file: Path) -> None:
    series = collect(read_runs([run_file]), "ds")
    assert list(series) == ["<b>", "a"]
    a = series["a"]
    assert a.seqs.tolist() == [0, 1, 2, 3, 4, 5]
    assert a.scores.tolist() == [0.1, 2.0, 3.0, 0.2, 1.5, 0.3]
    assert a.labels.tolist() == [0, 1, 0, 1, 1, 0]
    assert a.is_anomaly.tolist() == [False, True, True, False, True, False]
    assert a.thresholds.tolist() == [1.0] * 6
    assert a.alerts == (AlertSpan("ds/a/1", 1, 2, 3.0, AlertState.RESOLVED),)
    b = series["<b>"]
    assert b.seqs.tolist() == [10, 11]
    assert b.labels.tolist() == [-1, -1]
    assert [s.span(int(b.seqs[-1])) for s in b.alerts] == [(11, 11)]


def test_precision_and_recall_are_point_wise(run_file: Path) -> None:
    series = collect(read_runs([run_file]), "ds")
    a = series["a"].stats()
    # Flagged seqs 1, 2, 4; labelled 1, 3, 4: two hits of three flagged, of three labelled.
    assert (a.scores, a.anomalous, a.alerts, a.labelled) == (6, 3, 1, 3)
    assert a.precision == pytest.approx(2 / 3)
    assert a.recall == pytest.approx(2 / 3)
    b = series["<b>"].stats()
    assert (b.scores, b.anomalous, b.alerts, b.labelled) == (2, 1, 1, 0)
    assert b.precision is None and b.recall is None


def test_entity_globs_select(run_file: Path) -> None:
    assert list(collect(read_runs([run_file]), "ds", ("a*",))) == ["a"]


def test_a_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(encode(score("a", 1, 0.1, None)) + b'\n{"seq": 1}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not a Score"):
        read_runs([path])


def test_report_writes_pngs_and_escaped_index(run_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    index = write_report(out, "ds", collect(read_runs([run_file]), "ds"))
    page = index.read_text(encoding="utf-8")
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 2
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
        assert f'href="{png.name}"' in page and f'src="{png.name}"' in page
    assert "<b>" not in page.replace("<body>", "")
    assert html.escape("<b>") in page
    row = re.search(r'<tr data-entity="a">(.*?)</tr>', page)
    assert row is not None
    cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
    # Incidents of "a": seqs 1 and 3-4 (seq 2 is normal); the alert spans 1-2: 1 of 2 found.
    assert cells == ["6", "3", "1", "3", "0.667", "0.667", "1 of 2", "0"]
    data = json.loads((out / "incidents.json").read_text())
    assert list(data["entities"]) == ["a"]  # "<b>" has no labels: not judged
    assert data["total"]["found"] == 1 and data["total"]["incidents"] == 2


def test_cli_from_saved_run(
    run_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    assert main(["report", "--dataset", "ds", "--run", str(run_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out / "index.html") in printed
    assert "labelled incidents with an overlapping alert: 1 of 2 (50%)" in printed
    assert "alerts that overlap no incident: 0 of 1" in printed
    assert len(list(out.glob("*.png"))) == 2


def test_cli_no_scores_is_one_line(run_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--dataset", "nope", "--run", str(run_file)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("anomstream report: error: no scores of dataset nope")
    assert "\n" not in err


def test_cli_run_with_from_is_a_usage_error(run_file: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--dataset", "ds", "--run", str(run_file), "--from", "2h"])
    assert exit_info.value.code == 2
