"""How long scoring pauses when a 3-node cluster loses the leader of an input partition.

    python benchmarks/failover.py [--cases shutdown,kill,kill-coordinator] [--repeat 1]

Each run starts its own 3-node kafka-local cluster (replication 3, min ISR 2) in a temporary
directory, a worker scoring 4 entities fed at a steady `--rate` of single readings, and then
loses a node that leads an input partition: `shutdown` is SIGTERM (a controlled shutdown
moves its leaders first); `kill` is SIGKILL of a leader that is not the consumer group's
coordinator (the others find out after the brokers' session timeout, 9 s by default);
`kill-coordinator` is SIGKILL of the group coordinator (also a leader), which ends the
group session as well. It prints the longest gap between consecutive scores (by their
`scored_at`), whether every (entity, seq) was scored exactly once, and what the worker did.
The cluster and worker harness is the fault tests' own (tests/local_kafka.py and friends).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from confluent_kafka.admin import AdminClient  # noqa: E402
from local_kafka import LocalKafka  # noqa: E402
from stream_checks import (  # noqa: E402
    PacedPublisher,
    interleave,
    make_worker,
    new_dataset,
    readings_of,
    wait_for_scores,
)
from stream_fixtures import WINDOW, series, train_model  # noqa: E402
from worker_process import expand_scores  # noqa: E402

from schemas import readings_topic  # noqa: E402

ROWS = 1200
ENTITIES = 4
LOGS: Path | None = None  # --logs: where the workers' logs are kept


@dataclass
class Outcome:
    case: str
    pause_s: float
    pause_after_s: float
    exactly_once: bool
    restores: float
    recoveries: dict[str, float]


def run(case: str, rate: float) -> Outcome:
    with tempfile.TemporaryDirectory() as root:
        tmp = Path(root)
        kafka = LocalKafka(tmp / "kafka", nodes=3)
        kafka.start()
        try:
            return _measure(case, rate, kafka, tmp)
        finally:
            kafka.close()


def _measure(case: str, rate: float, kafka: LocalKafka, tmp: Path) -> Outcome:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap, "log_level": 2})
    slug, models = new_dataset(kafka.bootstrap, admin, replication=3), tmp / "models"
    data = {f"e{i}": series(ROWS, seed=i) for i in range(ENTITIES)}
    for i, entity in enumerate(data):
        train_model(models, slug, entity, seed=500 + i)
    worker = make_worker(
        kafka.bootstrap, models, slug, tmp,
        ANOMSTREAM_WORKER_BATCH_MAX_MESSAGES="50", ANOMSTREAM_TOPIC_REPLICATION_FACTOR="3",
    )  # fmt: skip
    worker.start()
    try:
        worker.wait_assigned()
        messages = interleave(
            [readings_of(slug, e, d, seed=9, single_only=True) for e, d in data.items()]
        )
        feed = PacedPublisher(kafka.bootstrap, readings_topic(slug), messages, rate)
        feed.start()
        time.sleep(len(messages) / rate / 3)  # a third of the feed before the loss
        node = _victim(admin, case, readings_topic(slug), f"group-{slug}")
        lost_at = time.time()
        (kafka.stop_node if case == "shutdown" else kafka.kill)(node)
        feed.join()
        expected = ENTITIES * (ROWS - WINDOW + 1)
        scores = expand_scores(wait_for_scores(kafka.bootstrap, slug, expected, timeout_s=180))
        keys = Counter((s.entity, s.seq) for s in scores)
        times = sorted(s.scored_at.timestamp() for s in scores)
        pause, start = max((b - a, a) for a, b in zip(times, times[1:], strict=False))
        recoveries = {
            line.split('kind="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in worker.metrics().splitlines()
            if line.startswith("anomstream_worker_recoveries_total{")
        }
        return Outcome(
            case=case,
            pause_s=pause,
            pause_after_s=start - lost_at,
            exactly_once=len(keys) == expected and max(keys.values()) == 1,
            restores=worker.metric("anomstream_worker_partition_restores_total"),
            recoveries=recoveries,
        )
    finally:
        worker.stop()
        if LOGS is not None:
            LOGS.mkdir(parents=True, exist_ok=True)
            shutil.copy(worker.log_path, LOGS / f"{case}-{slug}.log")


def _victim(admin: AdminClient, case: str, topic: str, group: str) -> int:
    """The node to lose: a leader of `topic`, the group's coordinator or not as `case` says."""
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
    leaders = {p.leader for p in partitions}
    described = admin.describe_consumer_groups([group], request_timeout=10)[group]
    coordinator = int(described.result(timeout=15).coordinator.id)
    if case == "kill-coordinator":
        if coordinator not in leaders:
            raise SystemExit("the group coordinator leads no input partition; run again")
        return coordinator
    return min(leaders - {coordinator} if case == "kill" else leaders)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases", default="shutdown,kill,kill-coordinator", help="comma-separated cases"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per case")
    parser.add_argument("--rate", type=float, default=200.0, help="readings per second fed")
    parser.add_argument("--logs", type=Path, help="keep each run's worker log in this folder")
    args = parser.parse_args()
    global LOGS
    LOGS = args.logs
    rows = []
    for case in args.cases.split(","):
        for _ in range(args.repeat):
            outcome = run(case.strip(), args.rate)
            print(f"{outcome}", file=sys.stderr)
            rows.append(outcome)
    print("| leader lost by | longest scoring pause | exactly once | restores | recoveries |")
    print("| --- | --- | --- | --- | --- |")
    for o in rows:
        done = ", ".join(f"{k} {v:.0f}" for k, v in sorted(o.recoveries.items())) or "none"
        print(
            f"| {o.case} | {o.pause_s:.1f} s (from {o.pause_after_s:+.1f} s) | "
            f"{'yes' if o.exactly_once else 'NO'} | {o.restores:.0f} | {done} |"
        )


if __name__ == "__main__":
    main()
