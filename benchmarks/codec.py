"""Time JSON encode/decode of readings with pydantic's own JSON against orjson."""

from __future__ import annotations

import argparse
import random
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

# Run as `python benchmarks/codec.py` from the repository root without installing.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schemas import Reading, ReadingBatch, decode, encode  # noqa: E402

CHANNELS = 38  # SMD's channel count, the widest common benchmark feed.
BATCH_ROWS = 100


def _orjson() -> ModuleType | None:
    try:
        import orjson
    except ImportError:
        return None
    return orjson


def make_reading(rng: random.Random) -> Reading:
    """A 38-channel reading with one missing value."""
    values: dict[str, float | None] = {f"ch{i:02d}": rng.gauss(0, 1) for i in range(CHANNELS)}
    values["ch07"] = None
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return Reading(
        dataset="smd", entity="machine-1-1", seq=12345, event_time=start, values=values, label=0
    )


def make_batch(rng: random.Random) -> ReadingBatch:
    """100 consecutive 38-channel rows of one entity."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return ReadingBatch(
        dataset="smd",
        entity="machine-1-1",
        first_seq=0,
        event_times=[start + timedelta(seconds=i) for i in range(BATCH_ROWS)],
        channels=[f"ch{i:02d}" for i in range(CHANNELS)],
        rows=[[rng.gauss(0, 1) for _ in range(CHANNELS)] for _ in range(BATCH_ROWS)],
        labels=[0] * BATCH_ROWS,
    )


def cases(message: Reading | ReadingBatch) -> list[tuple[str, Callable[[], Any]]]:
    """(label, zero-argument call) for every encoder and decoder under comparison."""
    model = type(message)
    data = encode(message)
    serializer, validator = model.__pydantic_serializer__, model.__pydantic_validator__
    out: list[tuple[str, Callable[[], Any]]] = [
        ("encode  pydantic to_json", lambda: serializer.to_json(message)),
        ("encode  model_dump_json", message.model_dump_json),
        ("encode  schemas.encode", lambda: encode(message)),
        ("decode  pydantic validate_json", lambda: validator.validate_json(data)),
        ("decode  model_validate_json", lambda: model.model_validate_json(data)),
        ("decode  schemas.decode", lambda: decode(data, model)),
    ]
    orjson = _orjson()
    if orjson is not None:
        dumps, loads = orjson.dumps, orjson.loads
        out.insert(3, ("encode  orjson(model_dump)", lambda: dumps(message.model_dump())))
        out.append(("decode  model_validate(orjson)", lambda: model.model_validate(loads(data))))
    return out


def measure(calls: list[Callable[[], Any]], seconds: float, rounds: int = 30) -> list[float]:
    """Best seconds per call of each case; each runs ~`seconds` in `rounds` interleaved runs."""
    # Interleaving and keeping the minimum: on a shared machine slow spells last seconds and
    # only ever add time, so every case must see the same spells to be compared fairly.
    timers = [timeit.Timer(call) for call in calls]
    numbers = []
    for timer in timers:
        number, elapsed = timer.autorange()
        numbers.append(max(1, int(number * (seconds / rounds) / max(elapsed, 1e-9))))
    best = [float("inf")] * len(calls)
    for _ in range(rounds):
        for i, (timer, number) in enumerate(zip(timers, numbers, strict=True)):
            best[i] = min(best[i], timer.timeit(number) / number)
    return best


def main() -> None:
    """Print messages/s and µs/message for each codec and message shape."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per case")
    args = parser.parse_args()
    rng = random.Random(0)
    messages: dict[str, Reading | ReadingBatch] = {
        f"Reading ({CHANNELS} ch)": make_reading(rng),
        f"ReadingBatch ({BATCH_ROWS}x{CHANNELS})": make_batch(rng),
    }
    print(f"{'message':<24} {'codec':<32} {'bytes':>7} {'msg/s':>12} {'µs/msg':>9}")
    for name, message in messages.items():
        size = len(encode(message))
        labels, calls = zip(*cases(message), strict=True)
        for label, per_call in zip(labels, measure(list(calls), args.seconds), strict=True):
            print(f"{name:<24} {label:<32} {size:>7} {1 / per_call:>12,.0f} {per_call * 1e6:>9.2f}")


if __name__ == "__main__":
    main()
