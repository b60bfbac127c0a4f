"""The live tail's pure parts: durations, start positions, filters, decoding, line format."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from output_messages import make_alert, make_score, make_score_batch

from anomstream.cli import main
from consumers.tail_filter import (
    StartPosition,
    TailFilter,
    decode_items,
    parse_duration,
    parse_start,
)
from consumers.tail_format import HumanPrinter, JsonPrinter, format_alert, format_score
from schemas import (
    Alert,
    AlertState,
    SchemaError,
    Score,
    ScoreBatch,
    encode,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def alert(state: str = "opened", entity: str = "valve1/0", peak: float = 3.5) -> Alert:
    return make_alert(
        state=state, dataset="skab", entity=entity, start_seq=100,
        end_seq=120 if state == "resolved" else None, alert_id=f"skab/{entity}/100",
        peak=peak, threshold=1.25, top_channels=[("flow", 0.75)],
        emitted_at=T0 + timedelta(seconds=5, milliseconds=250),
    )  # fmt: skip


def score(value: float = 2.0, entity: str = "m-1", dataset: str = "smd") -> Score:
    return make_score(
        dataset=dataset, entity=entity, seq=7, event_time=T0, score=value, threshold=1.5,
        label=1, model_version="v2",
    )  # fmt: skip


def batch() -> ScoreBatch:
    return make_score_batch(
        dataset="smd", entity="m-1", first_seq=10, scores=[0.5, 2.5, 1.0], threshold=1.5,
        model_version="v2",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("500ms", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "10", "m", "10x", "1h 30m", "-5m", "0s", "5m10"])
def test_bad_durations_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_start_positions() -> None:
    assert parse_start("latest") == StartPosition("latest")
    assert parse_start("beginning") == StartPosition("beginning")
    assert parse_start("10m") == StartPosition("ago", timedelta(minutes=10))
    with pytest.raises(ValueError, match="latest, beginning or a duration"):
        parse_start("yesterday")


def test_an_empty_filter_lets_everything_through() -> None:
    assert TailFilter().accepts(alert()) and TailFilter().accepts(score(0.1))


def test_filters_on_dataset_entity_globs_score_and_state() -> None:
    assert not TailFilter(dataset="smd").accepts(alert())
    assert TailFilter(dataset="skab").accepts(alert())
    globs = TailFilter(entity_globs=("valve2/*", "valve1/?"))
    assert globs.accepts(alert(entity="valve1/0"))
    assert not globs.accepts(alert(entity="valve1/10"))
    assert not TailFilter(entity_globs=("M-*",)).accepts(score(entity="m-1")), "case-sensitive"
    assert TailFilter(min_score=2.0).accepts(score(2.0))
    assert not TailFilter(min_score=2.0).accepts(score(1.99))
    assert not TailFilter(min_score=4.0).accepts(alert(peak=3.5)), "alerts compare peak_score"
    states = TailFilter(states=frozenset({AlertState.OPENED, AlertState.RESOLVED}))
    assert states.accepts(alert("opened")) and states.accepts(alert("resolved"))
    assert not states.accepts(alert("updated"))
    assert states.accepts(score()), "states do not apply to scores"


def test_decode_items_reads_alerts_scores_and_batches() -> None:
    assert decode_items("alerts", encode(alert())) == [alert()]
    assert decode_items("scores", encode(score())) == [score()]
    expanded = [s for s in decode_items("scores", encode(batch())) if isinstance(s, Score)]
    assert [(s.seq, s.score, s.is_anomaly) for s in expanded] == [
        (10, 0.5, False),
        (11, 2.5, True),
        (12, 1.0, False),
    ]
    with pytest.raises(SchemaError):
        decode_items("scores", encode(alert()))
    with pytest.raises(SchemaError):
        decode_items("alerts", b"not json")


def test_an_entity_named_first_seq_is_still_a_score() -> None:
    assert decode_items("scores", encode(score(entity="first_seq"))) == [score(entity="first_seq")]


def test_alert_line() -> None:
    assert format_alert(alert()) == (
        "2026-01-01T00:00:05.250Z  OPENED   skab/valve1/0  peak 3.5 > 1.25  seq 100-"
        "  top flow=0.75  id skab/valve1/0/100"
    )
    assert "RESOLVED skab/valve1/0  peak 3.5 > 1.25  seq 100-120" in format_alert(alert("resolved"))


def test_score_line_in_utc() -> None:
    local = score().model_copy(update={"event_time": T0.astimezone(timezone(timedelta(hours=2)))})
    assert format_score(local) == (
        "2026-01-01T00:00:00.000Z  smd/m-1  seq 7  score 2 / 1.5  ANOMALY  label 1"
    )
    assert "normal " in format_score(score(1.0))


def test_color_only_when_asked() -> None:
    assert "\033[" not in format_alert(alert()) + format_score(score())
    assert format_alert(alert(), color=True).count("\033[31m") == 1, "opened is red"
    assert "\033[32m" in format_alert(alert("resolved"), color=True), "resolved is green"
    assert "\033[31m\033[1mANOMALY\033[0m" in format_score(score(), color=True)


def test_json_printer_writes_the_message_as_sent_once() -> None:
    out = io.BytesIO()
    value = encode(batch())
    printer = JsonPrinter(out)
    assert printer.write(value, decode_items("scores", value), None) == 1
    assert printer.write(value, [], None) == 0, "nothing matched: nothing printed"
    assert printer.write(value, decode_items("scores", value), 0) == 0, "no room left"
    assert out.getvalue() == value + b"\n"


def test_human_printer_gives_a_line_per_reading_within_the_room() -> None:
    out = io.BytesIO()
    items = decode_items("scores", encode(batch()))
    assert HumanPrinter(out, color=False).write(b"", items, 2) == 2
    lines = out.getvalue().decode().splitlines()
    assert [line.split("  ")[2] for line in lines] == ["seq 10", "seq 11"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tail", "scores"], "needs --dataset or --topic-pattern"),
        (["tail", "scores", "--dataset", "smd", "--state", "opened"], "alerts only"),
        (["tail", "--topic-pattern", "x"], "scores only"),
        (["tail", "--from", "5x"], "--from"),
        (["tail", "--dataset", "Bad.Name"], "not a slug"),
        (["tail", "--limit", "0"], "--limit"),
        (["tail", "--timeout", "-1"], "--timeout"),
        (["tail", "--state", "closed"], "--state"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
