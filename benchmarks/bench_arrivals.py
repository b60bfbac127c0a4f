"""When each score becomes visible to a read_committed reader: run as its own process (so the
benchmark's producer does not share its interpreter), it reads `scores.<slug>` from the end
and writes {"entity seq": arrival ms} as JSON once it has seen `--expect` scores or timed out.

    python benchmarks/bench_arrivals.py --bootstrap B --topic T --expect N --out F --ready R
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path

from bench_kafka import score_keys
from confluent_kafka import OFFSET_END, Consumer, TopicPartition


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ready", type=Path, required=True, help="touched once reading")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"bench-arrivals-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 5,  # a reader that asks often: its own wait is not measured
            "log_level": 2,
        }
    )
    partitions = consumer.list_topics(args.topic, timeout=10).topics[args.topic].partitions
    consumer.assign([TopicPartition(args.topic, p, OFFSET_END) for p in partitions])
    consumer.consume(1, timeout=1.0)  # positions resolved before the producer starts
    args.ready.touch()
    arrived: dict[str, int] = {}
    deadline = time.monotonic() + args.timeout
    try:
        while len(arrived) < args.expect and time.monotonic() < deadline:
            for record in consumer.consume(num_messages=10_000, timeout=0.05):
                if record.error() is not None:
                    continue
                now_ms = time.time_ns() // 1_000_000
                entity, seqs = score_keys(record.value() or b"")
                for seq in seqs:
                    arrived[f"{entity} {seq}"] = now_ms
    finally:
        consumer.close()
    args.out.write_text(json.dumps(arrived))


if __name__ == "__main__":
    main()
