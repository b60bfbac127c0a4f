"""`anomstream notify` against the real broker and a local webhook: every alert event POSTed
exactly once, through a crash, a receiver that answers 503 and one that is not there; and a
receiver that stays down given up on, per policy, into the dead-letter topic."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from notify_helpers import NotifyProcess, WebhookReceiver, produce_alerts, wait_until
from output_messages import make_alert

from schemas import Alert, AlertState, DeadLetter, decode

DEADLINE_S = 90.0


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    hook.start()
    yield hook
    hook.stop()


@pytest.fixture
def notify_factory(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Callable[..., NotifyProcess]]:
    started: list[NotifyProcess] = []

    def make(topic: str, deadletter: str, *args: str) -> NotifyProcess:
        process = NotifyProcess(
            tmp_path / "notify.log",
            [
                "--topic", topic, "--group-id", f"notify-{topic}", "--from", "earliest",
                "--bootstrap", kafka_bootstrap, *args,
            ],
            {"ANOMSTREAM_NOTIFY_DEADLETTER_TOPIC": deadletter},
        )  # fmt: skip
        started.append(process)
        return process

    yield make
    for process in started:
        if process.alive():
            process.stop()


def test_each_event_is_posted_once_across_a_crash_and_an_outage(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    receiver: WebhookReceiver,
    notify_factory: Callable[..., NotifyProcess],
) -> None:
    topic, deadletter = new_topic("alerts", partitions=2), new_topic("deadletter")
    opened, updated, resolved = AlertState.OPENED, AlertState.UPDATED, AlertState.RESOLVED
    sent = produce_alerts(
        kafka_bootstrap, topic,
        [make_alert(entity="e1", state=opened), make_alert(entity="e2", state=opened),
         make_alert(entity="e1", state=updated), make_alert(entity="e1", state=resolved),
         make_alert(entity="e2", state=updated)],
    )  # fmt: skip
    notify = notify_factory(topic, deadletter, "--webhook", receiver.url)
    notify.start()
    wait_until(lambda: len(receiver.accepted()) == 5, DEADLINE_S, "the first 5 events posted")

    # The receiver fails (503); the notifier retries and is killed mid-retry: the event it
    # was retrying was never accepted, so its offset was never committed.
    receiver.answer = lambda body: 503
    sent += produce_alerts(
        kafka_bootstrap, topic,
        [make_alert(entity="e3", state=opened), make_alert(entity="e4", state=opened)],
    )  # fmt: skip
    wait_until(lambda: len(receiver.rejected()) >= 3, DEADLINE_S, "retries against the 503")
    notify.kill()

    # Restarted while the receiver is not there at all (connection refused); one more event.
    receiver.stop()
    sent += produce_alerts(kafka_bootstrap, topic, [make_alert(entity="e5", state=opened)])
    notify.start()
    # Once the killed member's 6 s session is over, the restart owns the partitions and
    # tries the uncommitted event again.
    wait_until(lambda: "ConnectError" in notify.output(), DEADLINE_S, "a refused retry")
    assert notify.alive(), notify.output()
    assert len(receiver.accepted()) == 5
    receiver.answer = lambda body: 200
    receiver.start()
    wait_until(lambda: len(receiver.accepted()) == 8, DEADLINE_S, "the 3 later events posted")
    time.sleep(3)  # anything sent twice would arrive by now

    accepted = receiver.accepted()
    keys = Counter(r.key for r in accepted)
    assert len(accepted) == 8 and set(keys.values()) == {1}, keys
    assert sorted(r.body for r in accepted) == sorted(sent), "each event, as written"
    assert all(r.key.startswith(f"{topic}/") for r in accepted)
    # One entity's events keep their order (one partition, read in order).
    e1 = [decode(r.body, Alert).state for r in accepted if b'"entity":"e1"' in r.body]
    assert e1 == [opened, updated, resolved]
    assert notify.stop() == 0, notify.output()
    assert "notify stopped: 3 alert events delivered" in notify.output()
    assert "/hook" not in notify.output(), "a webhook's path (where tokens live) is never logged"


def test_a_receiver_that_stays_down_is_given_up_on_into_the_dead_letter_topic(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    receiver: WebhookReceiver,
    notify_factory: Callable[..., NotifyProcess],
) -> None:
    topic, deadletter = new_topic("alerts"), new_topic("deadletter")
    receiver.answer = lambda body: 503 if b'"entity":"bad"' in body else 200
    bad, good = produce_alerts(
        kafka_bootstrap, topic, [make_alert(entity="bad"), make_alert(entity="good")]
    )
    notify = notify_factory(
        topic, deadletter, "--webhook", receiver.url, "--on-failure", "deadletter",
        "--max-attempts", "3",
    )  # fmt: skip
    notify.start()
    wait_until(lambda: len(receiver.accepted()) == 1, DEADLINE_S, "the next event posted")
    assert [r.body for r in receiver.accepted()] == [good]
    assert [r.body for r in receiver.rejected()] == [bad] * 3

    letters = read_all(kafka_bootstrap, deadletter, expected=1)
    (letter,) = [decode(value, DeadLetter) for value in letters]
    assert (letter.source_topic, letter.partition, letter.offset) == (topic, 0, 0)
    assert letter.raw == bad and letter.key == b"bad"
    assert letter.reason.startswith("notify: webhook http://127.0.0.1:")
    assert "(3 attempts): HTTP 503" in letter.reason
    assert notify.stop() == 0, notify.output()
    assert "1 alert events delivered, 1 dead-lettered" in notify.output()


def read_all(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"read-{topic}",
         "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )  # fmt: skip
    values: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(values) < expected and time.monotonic() < deadline:
            record = consumer.poll(0.5)
            if record is not None and record.error() is None:
                values.append(record.value() or b"")
        time.sleep(1)
        while (record := consumer.poll(0.5)) is not None:  # nothing more than expected
            if record.error() is None:
                values.append(record.value() or b"")
    finally:
        consumer.close()
    return values
