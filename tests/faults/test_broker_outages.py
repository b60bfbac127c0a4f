"""The worker against a broker that goes away: restarts, kill -9, a lost partition leader.

Each test runs a broker of its own (kafka-local in the test's directory) so that it may stop
and kill it, keeps a paced feed running through the outage as a live source would, and then
checks that every (entity, seq) was scored exactly once and equal to the offline scorer,
with the worker process never restarted.
"""

from __future__ import annotations

import time
from pathlib import Path

from confluent_kafka.admin import AdminClient
from local_kafka import LocalKafka
from stream_checks import (
    PacedPublisher,
    check_exactly_once_and_parity,
    interleave,
    make_worker,
    new_dataset,
    readings_of,
    wait_for_scores,
)
from stream_fixtures import WINDOW, series, train_model
from worker_process import count_scores, read_all

from schemas import readings_topic, scores_topic


def _scored(bootstrap: str, slug: str) -> int:
    return count_scores(read_all(bootstrap, scores_topic(slug), lambda v: False, 2.0))


def _wait_scored_more(bootstrap: str, slug: str, than: int, timeout_s: float = 90) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = _scored(bootstrap, slug)
        if now > than:
            return now
    raise AssertionError(f"no new scores within {timeout_s}s (still {than})")


def test_the_worker_rides_out_two_broker_restarts_mid_replay_and_loses_nothing(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap, "log_level": 2})
    slug, models = new_dataset(kafka.bootstrap, admin), tmp_path / "models"
    entities = {f"e{i}": series(1500, seed=i, spike_at=700 + 50 * i) for i in range(4)}
    for i, entity in enumerate(entities):
        train_model(models, slug, entity, seed=400 + i)
    worker = make_worker(
        kafka.bootstrap, models, slug, tmp_path, ANOMSTREAM_WORKER_BATCH_MAX_MESSAGES="50"
    )
    worker.start(via_cli=True)
    try:
        worker.wait_assigned()
        messages = interleave(
            [readings_of(slug, e, d, seed=8, single_only=True) for e, d in entities.items()]
        )
        feed = PacedPublisher(kafka.bootstrap, readings_topic(slug), messages, per_second=150)
        feed.start()
        scored = _wait_scored_more(kafka.bootstrap, slug, 0)
        # First a clean stop of the broker, then a kill -9, each for 20 s, the feed going on.
        for outage in (kafka.stop, kafka.kill):
            outage()
            time.sleep(20)
            kafka.start()
            scored = _wait_scored_more(kafka.bootstrap, slug, scored)
            assert worker.process is not None and worker.process.poll() is None, worker.log()
        feed.join(timeout=300)
        assert feed.undelivered == 0 and feed.sent == len(messages)
        expected = sum(len(d) - WINDOW + 1 for d in entities.values())
        values = wait_for_scores(kafka.bootstrap, slug, expected, timeout_s=180)
        check_exactly_once_and_parity(values, models, slug, entities)
        assert worker.process is not None and worker.process.poll() is None, "it exited"
        log = worker.log()
        assert "Kafka does not answer" in log and "Kafka answers again after" in log
        assert worker.metric("anomstream_worker_transactions_total", 'outcome="aborted"') > 0
        assert worker.metric("anomstream_worker_kafka_connected") == 1
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
    assert "Traceback" not in worker.log()


def group_coordinator(admin: AdminClient, group: str) -> int:
    description = admin.describe_consumer_groups([group], request_timeout=10)[group]
    return int(description.result(timeout=15).coordinator.id)


def test_a_killed_partition_leader_in_a_three_node_cluster_needs_no_restore(
    tmp_path: Path,
) -> None:
    kafka = LocalKafka(tmp_path / "kafka", nodes=3)
    kafka.start()
    try:
        admin = AdminClient({"bootstrap.servers": kafka.bootstrap, "log_level": 2})
        slug, models = new_dataset(kafka.bootstrap, admin, replication=3), tmp_path / "models"
        entities = {f"e{i}": series(1200, seed=i) for i in range(4)}
        for i, entity in enumerate(entities):
            train_model(models, slug, entity, seed=500 + i)
        worker = make_worker(
            kafka.bootstrap, models, slug, tmp_path,
            ANOMSTREAM_WORKER_BATCH_MAX_MESSAGES="50",
            ANOMSTREAM_TOPIC_REPLICATION_FACTOR="3",
        )  # fmt: skip
        worker.start(via_cli=True)
        try:
            worker.wait_assigned()
            messages = interleave(
                [readings_of(slug, e, d, seed=9, single_only=True) for e, d in entities.items()]
            )
            feed = PacedPublisher(kafka.bootstrap, readings_topic(slug), messages, per_second=200)
            feed.start()
            scored = _wait_scored_more(kafka.bootstrap, slug, 0)
            # kill -9 a node that leads an input partition but does not coordinate the
            # group: losing the coordinator too ends the group session, which rightly
            # costs a rewind (benchmarks/failover.py measures both, and a shutdown).
            coordinator = group_coordinator(admin, f"group-{slug}")
            topic = admin.list_topics(readings_topic(slug), timeout=10).topics[readings_topic(slug)]
            leaders = {p.leader for p in topic.partitions.values()} - {coordinator}
            assert leaders, "every input partition is led by the group coordinator"
            kafka.kill(min(leaders))
            _wait_scored_more(kafka.bootstrap, slug, scored)
            feed.join(timeout=300)
            assert feed.undelivered == 0
            expected = sum(len(d) - WINDOW + 1 for d in entities.values())
            values = wait_for_scores(kafka.bootstrap, slug, expected, timeout_s=180)
            check_exactly_once_and_parity(values, models, slug, entities)
            # The failover was ridden out by retrying the cycle, not by throwing the state
            # away and rebuilding it from the topics.
            assert worker.metric("anomstream_worker_partition_restores_total") == 0, worker.log()
            assert worker.metric("anomstream_worker_recoveries_total", 'kind="rewind"') == 0
        finally:
            assert worker.stop() == 0, worker.log()[-3000:]
    finally:
        kafka.close()
