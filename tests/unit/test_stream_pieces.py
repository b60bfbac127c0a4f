"""Pure pieces of the stream app: window buffer, alert tracker, ingest's two paths, settings."""

from __future__ import annotations

import random

import numpy as np
import orjson
import pytest
from pydantic import ValidationError
from stream_fixtures import batch, reading, series

from detectors.windows import sliding_windows
from schemas import Reading, ReadingBatch, SchemaError, decode
from stream_app.alert_tracker import AlertTracker
from stream_app.ingest import IngestError, _fast_path, parse_readings
from stream_app.settings import AlertPolicy, WorkerSettings
from stream_app.window_buffer import WindowBuffer


@pytest.mark.parametrize("seed", range(5))
def test_window_buffer_hands_out_the_same_windows_as_the_offline_slicer(seed: int) -> None:
    rng = np.random.default_rng(seed)
    window, channels = rng.integers(1, 30), 3
    data = rng.normal(size=(2000, channels))
    buffer = WindowBuffer(int(window), channels)
    expected = sliding_windows(data, int(window))
    got, at = [], 0
    while at < len(data):
        n = int(rng.choice([1, 2, 7, 50, 700]))  # 700 forces the buffer to grow
        rows = data[at : at + n]
        first_ready, windows = buffer.append(
            rows, rows.astype(np.float32), np.arange(at, at + len(rows))
        )
        assert first_ready == max(0, int(window) - 1 - at) or first_ready == len(rows)
        got.append(np.array(windows))
        at += len(rows)
    np.testing.assert_array_equal(np.concatenate(got), expected)
    assert buffer.count == len(data)
    if window > 1:
        assert buffer.window_start_offset() == len(data) - int(window) + 1
    np.testing.assert_array_equal(buffer.held_raw(), data[len(data) - int(window) + 1 :])


def test_window_buffer_renormalises_the_rows_it_holds() -> None:
    buffer = WindowBuffer(4, 2)
    rows = np.arange(10, dtype=np.float64).reshape(5, 2)
    buffer.append(rows, rows.astype(np.float32), np.arange(5))
    held = buffer.held_raw()
    buffer.renormalise((held * 10).astype(np.float32))
    _, windows = buffer.append(rows[:1], rows[:1].astype(np.float32), np.array([5]))
    np.testing.assert_array_equal(windows[0][:3], held * 10)


def ts(seq: int) -> str:
    """The event time of reading `seq` (RFC 3339 UTC, as the tracker gets them)."""
    return f"2026-01-01T00:{seq // 60:02d}:{seq % 60:02d}Z"


def steps(tracker: AlertTracker, verdicts: str) -> list[tuple[int, str]]:
    """Feed '0'/'1' verdicts (score 1 + position); return (seq, state) of the events."""
    out = []
    for seq, flag in enumerate(verdicts):
        step = tracker.step(seq, ts(seq), 1.0 + seq, flag == "1", [("c", float(seq))])
        if step is not None:
            out.append((seq, step.state))
    return out


def test_an_alert_opens_after_consecutive_points_and_resolves_after_quiet() -> None:
    policy = AlertPolicy(consecutive=3, quiet=2, update_every=4)
    tracker = AlertTracker("d/e", policy)
    events = steps(tracker, "0110111111101000")
    # A run of 2 is not enough; the run from seq 4 opens at its third point, is updated 4
    # scores later, survives one normal point, and resolves after two normal ones.
    assert events == [(6, "opened"), (10, "updated"), (14, "resolved")]


def test_an_alert_reports_its_start_end_and_peak() -> None:
    tracker = AlertTracker("d/e", AlertPolicy(consecutive=2, quiet=1, update_every=100))
    opened = resolved = None
    for seq, flag in enumerate("0011101"):
        step = tracker.step(
            seq, ts(seq), [0, 0, 5, 9, 2, 0, 7][seq], flag == "1", [(f"c{seq}", 1.0)]
        )
        if step and step.state == "opened":
            opened = step
        if step and step.state == "resolved":
            resolved = step
    assert opened is not None and resolved is not None
    assert (opened.alert_id, opened.start_seq, opened.start_time) == ("d/e/2", 2, ts(2))
    assert opened.peak_score == 9 and opened.top_channels == [("c3", 1.0)]
    assert (resolved.end_seq, resolved.end_time, resolved.peak_score) == (4, ts(4), 9)


def test_alert_state_survives_a_round_trip_mid_incident() -> None:
    policy = AlertPolicy(consecutive=2, quiet=3, update_every=5)
    verdicts = "0111100111000001"
    whole = steps(AlertTracker("d/e", policy), verdicts)
    for cut in range(len(verdicts)):
        first = AlertTracker("d/e", policy)
        head = steps(first, verdicts[:cut])
        state = orjson.loads(orjson.dumps(first.state()))
        second = AlertTracker("d/e", policy, state)
        tail = [
            (seq, s.state)
            for seq in range(cut, len(verdicts))
            if (
                s := second.step(seq, ts(seq), 1.0 + seq, verdicts[seq] == "1", [("c", float(seq))])
            )
        ]
        assert head + tail == whole, f"cut at {cut}"


GOOD = [
    reading("skab", "valve1", 3, series(1, seed=1)[0], 1),
    batch("smd", "m-1", 10, series(5, seed=2), [0, 1, None, 0, 0]),
    batch("smd", "m-1", 10, series(2, seed=3)),
]


@pytest.mark.parametrize("raw", GOOD)
def test_the_fast_path_reads_what_the_models_read(raw: bytes) -> None:
    fast = _fast_path(raw)
    assert fast is not None, "well-formed producer output takes the fast path"
    if b'"rows"' in raw:
        many = decode(raw, ReadingBatch)
        assert fast.first_seq == many.first_seq and list(fast.channels) == many.channels
        np.testing.assert_array_equal(fast.values, np.array(many.rows, dtype=float))
        assert fast.labels == many.labels
    else:
        one = decode(raw, Reading)
        assert fast.first_seq == one.seq and list(fast.channels) == list(one.values)
        assert fast.labels == [one.label]


def mutations(raw: bytes, rng: random.Random) -> bytes:
    """A small random edit of a valid message: the kind of damage a bad producer does."""
    edits = [
        (b'"seq":3', b'"seq":-3'),
        (b'"seq":3', b'"seq":"3"'),
        (b'"first_seq":10', b'"first_seq":true'),
        (b'"label":1', b'"label":2'),
        (b'"labels":[0,1', b'"labels":[0,7'),
        (b"Z", b""),
        (b"Z", b"+05:00"),
        (b'"skab"', b'"SKAB"'),
        (b'"smd"', b'"a.b"'),
        (b'"m-1"', b'""'),
        (b"[[", b"[[null,"),
        (b"],[", b"],[1.5,"),
        (b"],[", b'],["x",'),
        (b'"channels":["flow"', b'"channels":["flow","flow"'),
        (b"}", b',"extra":1}'),
        (b'"schema_version":1', b'"schema_version":2'),
        (b'"values":{', b'"values":{"":1.0,'),
        (b'"rows":[', b'"rows":[[1e999,2,3],'),
    ]
    old, new = rng.choice([e for e in edits if e[0] in raw] or [(b"{", b"[")])
    return raw.replace(old, new, 1)


@pytest.mark.parametrize("seed", range(60))
def test_the_fast_path_never_accepts_what_the_models_refuse(seed: int) -> None:
    rng = random.Random(seed)
    raw = mutations(rng.choice(GOOD), rng)
    model = ReadingBatch if b'"rows"' in raw else Reading
    try:
        decode(raw, model)
        valid = True
    except SchemaError:
        valid = False
    if not valid:
        assert _fast_path(raw) is None, raw
        with pytest.raises(IngestError):
            parse_readings(raw)
    else:
        assert len(parse_readings(raw)) >= 1


def test_settings_refuse_a_bad_topic_pattern_and_name_the_state_topic() -> None:
    with pytest.raises(ValidationError):
        WorkerSettings(topics="^readings.(")
    settings = WorkerSettings(group_id="g", worker_id="w")
    assert settings.state_topic_name() == "g-state" and settings.transactional_id() == "g-w"
    assert WorkerSettings(topics=" a, ^b.* ,").topic_list() == ["a", "^b.*"]


def test_a_bad_worker_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from anomstream.cli import main

    monkeypatch.setenv("ANOMSTREAM_WORKER_ALERT_QUIET", "0")
    assert main(["worker"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ANOMSTREAM_WORKER_ALERT_QUIET" in err


@pytest.mark.parametrize("value", [b"true", b"false", b"null", b'"1.5"', b'"x"', b"[1.0]"])
def test_a_batch_row_value_that_is_not_a_number_never_takes_the_fast_path(value: bytes) -> None:
    good = batch("smd", "m-1", 10, np.array([[1.5, 2.5, 3.5], [4.5, 5.5, 6.5]]))
    raw = good.replace(b"5.5", value, 1)
    assert raw != good
    assert _fast_path(raw) is None
    try:
        expected = decode(raw, ReadingBatch).rows
    except SchemaError:
        with pytest.raises(IngestError):
            parse_readings(raw)
    else:  # pydantic's lax mode reads "1.5" and null; so does the validated path
        np.testing.assert_array_equal(
            parse_readings(raw).values,
            np.array([[np.nan if v is None else v for v in row] for row in expected]),
        )
