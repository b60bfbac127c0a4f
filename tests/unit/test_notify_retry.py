"""The notifier's retry policy and its per-event delivery loop, with fake receivers and a
fake clock: no network, no Kafka, no sleeping."""

from __future__ import annotations

import doctest
from collections.abc import Iterator

import pytest
from output_messages import make_alert

import consumers.notify_retry
from consumers.notify_delivery import deliver
from consumers.notify_payload import AlertEvent
from consumers.notify_retry import Failure, RetryPolicy, retryable_status
from schemas import encode


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(round(seconds, 6))
        self.now += seconds
        return True


class FakeTarget:
    """Answers with the given outcomes in turn (None = 2xx), the last one from then on."""

    def __init__(self, name: str, *outcomes: Failure | None) -> None:
        self.name = name
        self._outcomes: Iterator[Failure | None] = iter(outcomes)
        self._last: Failure | None = None
        self.sent: list[str] = []

    def send(self, event: AlertEvent) -> Failure | None:
        self.sent.append(event.event_id)
        self._last = next(self._outcomes, self._last)
        return self._last


DOWN = Failure("ConnectError: connection refused")
BAD_REQUEST = Failure("HTTP 400: bad alert", permanent=True)


def event(offset: int = 7) -> AlertEvent:
    alert = make_alert()
    return AlertEvent(alert, encode(alert), b"e1", "alerts", 0, offset)


def test_the_docstring_examples_hold() -> None:
    result = doctest.testmod(consumers.notify_retry)
    assert result.attempted > 0 and result.failed == 0


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_s=0.5, max_s=3.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert RetryPolicy(initial_s=1, max_s=60).delay(10_000) == 60.0  # no overflow


def test_block_never_gives_up_not_even_on_a_permanent_failure() -> None:
    # A wrong URL or token is fixed by the operator and a restart; until then nothing is lost.
    policy = RetryPolicy(initial_s=1, max_s=8)
    assert policy.blocks
    assert policy.next_wait(1000, elapsed_s=1e9, permanent=True) == 8.0


def test_give_up_after_max_attempts_or_at_the_deadline() -> None:
    by_count = RetryPolicy(initial_s=1, max_s=60, max_attempts=3)
    assert [by_count.next_wait(n, 0.0) for n in (1, 2, 3)] == [1.0, 2.0, None]
    by_time = RetryPolicy(initial_s=10, max_s=60, deadline_s=25)
    assert by_time.next_wait(1, elapsed_s=0.0) == 10.0
    assert by_time.next_wait(2, elapsed_s=20.0) == 5.0, "the last try is made at the deadline"
    assert by_time.next_wait(3, elapsed_s=25.0) is None
    assert by_count.next_wait(1, 0.0, permanent=True) is None


@pytest.mark.parametrize(
    ("status", "retry"),
    [(500, True), (502, True), (503, True), (429, True), (408, True), (400, False),
     (401, False), (404, False), (301, False)],
)  # fmt: skip
def test_which_http_answers_are_worth_another_try(status: int, retry: bool) -> None:
    assert retryable_status(status) is retry


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_s": 0}, {"initial_s": 5, "max_s": 1}, {"multiplier": 0.5}, {"max_attempts": 0},
     {"deadline_s": 0}],
)  # fmt: skip
def test_a_policy_that_makes_no_sense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_receiver_that_answers_is_sent_each_event_once() -> None:
    clock, target = FakeClock(), FakeTarget("hook", None)
    result = deliver(event(), [target], RetryPolicy(), clock.wait, clock)
    assert result.delivered == ["hook"] and result.settled and not result.given_up
    assert target.sent == ["alerts/0/7"] and clock.waits == []


def test_a_receiver_that_comes_back_gets_the_event_after_backoff() -> None:
    clock, target = FakeClock(), FakeTarget("hook", DOWN, DOWN, DOWN, None)
    result = deliver(event(), [target], RetryPolicy(initial_s=1, max_s=3), clock.wait, clock)
    assert result.delivered == ["hook"] and result.attempts == 4
    assert clock.waits == [1.0, 2.0, 3.0]


def test_each_receiver_is_retried_alone() -> None:
    # Alertmanager took the event at once; only the webhook is tried again.
    clock = FakeClock()
    am, hook = FakeTarget("am", None), FakeTarget("hook", DOWN, None)
    result = deliver(event(), [am, hook], RetryPolicy(), clock.wait, clock)
    assert sorted(result.delivered) == ["am", "hook"]
    assert len(am.sent) == 1 and len(hook.sent) == 2


def test_deadletter_policy_gives_up_and_says_why() -> None:
    clock, target = FakeClock(), FakeTarget("webhook http://h:80", DOWN)
    policy = RetryPolicy(initial_s=1, max_s=60, max_attempts=3)
    result = deliver(event(), [target], policy, clock.wait, clock)
    assert result.settled and result.delivered == []
    reason = result.given_up["webhook http://h:80"]
    assert reason == (
        "notify: webhook http://h:80 gave up after 3s (3 attempts): "
        "ConnectError: connection refused"
    )
    assert len(target.sent) == 3 and clock.waits == [1.0, 2.0]


def test_deadletter_policy_gives_up_at_once_on_a_permanent_failure() -> None:
    clock, ok, bad = FakeClock(), FakeTarget("am", None), FakeTarget("hook", BAD_REQUEST)
    policy = RetryPolicy(max_attempts=5)
    result = deliver(event(), [ok, bad], policy, clock.wait, clock)
    assert result.delivered == ["am"] and "gave up at once" in result.given_up["hook"]
    assert len(bad.sent) == 1 and clock.waits == []


def test_a_stop_while_waiting_leaves_the_event_unsettled() -> None:
    clock, target = FakeClock(), FakeTarget("hook", DOWN)
    result = deliver(event(), [target], RetryPolicy(), lambda seconds: False, clock)
    assert result.interrupted and not result.settled and result.delivered == []
