"""A generated dataset: sensors and injected anomalies described by a TOML config."""

from __future__ import annotations

import zlib
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import ClassVar, assert_never

import numpy as np
import numpy.typing as npt

from producers.datasets.base import (
    BadRowPolicy,
    DatasetError,
    DatasetLoader,
    DatasetMissingError,
    EntityData,
    RootCause,
    Split,
    synthesize_timestamps,
)
from producers.datasets.synthetic_config import (
    DEFAULT_CONFIG,
    Anomaly,
    AnomalyKind,
    Constant,
    Gaussian,
    RandomWalk,
    Sensor,
    Signal,
    Sine,
    SyntheticConfig,
    Uniform,
    read_config,
)

__all__ = ["SyntheticLoader", "generate"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# (first, last) test rows of each injected anomaly, both inclusive like `RootCause`.
Spans = list[tuple[int, int]]
ENTITY_PREFIX = "sensor-"


def _signal(signal: Signal, rows: int, rate_hz: float, rng: np.random.Generator) -> FloatArray:
    """The normal behaviour of one sensor, before measurement noise."""
    match signal:
        case Gaussian(mean=mean, std=std):
            return rng.normal(mean, std, rows)
        case Uniform(low=low, high=high):
            return rng.uniform(low, high, rows)
        case Sine():
            seconds = np.arange(rows) / rate_hz
            angle = 2 * np.pi * seconds / signal.period_s + signal.phase
            return signal.mean + signal.amplitude * np.sin(angle)
        case RandomWalk(low=low, high=high):
            walk = signal.start + np.cumsum(rng.normal(0.0, signal.step_std, rows))
            if low is None or high is None:
                return walk
            # Folding the walk like a triangle wave reflects it off both bounds, which
            # keeps it in range without a per-row loop and without piling up at a bound.
            width = high - low
            folded = np.mod(walk - low, 2 * width)
            return low + np.where(folded > width, 2 * width - folded, folded)
        case Constant(value=value):
            return np.full(rows, value)
        case _:
            assert_never(signal)


def _segments(anomaly: Anomaly, rows: int, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
    """Starts and lengths of non-overlapping segments covering `ratio` of `rows`."""
    target = round(anomaly.ratio * rows)
    shortest, longest = anomaly.duration
    lengths = rng.integers(shortest, longest + 1, size=target // shortest + 1)
    lengths = lengths[np.cumsum(lengths) <= target]
    rest = target - int(lengths.sum())
    if rest >= shortest:
        lengths = rng.permutation(np.append(lengths, rest))
    elif rest > 0:
        # Too short for a segment of its own: lengthen the first ones that have room, so the
        # labelled fraction is the configured ratio whenever the durations allow it.
        room = longest - lengths
        lengths += np.clip(rest - (np.cumsum(room) - room), 0, room)
    if lengths.size == 0:
        return lengths, lengths
    # Sorted gaps drawn from the rows left over place the segments uniformly; one row kept
    # between neighbours stops two anomalies from merging into one longer label run.
    free = rows - int(lengths.sum()) - (lengths.size - 1)
    gaps = np.sort(rng.integers(0, free + 1, size=lengths.size))
    before = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return gaps + before + np.arange(lengths.size), lengths


def _inject(
    segment: FloatArray, kind: AnomalyKind, size: tuple[float, float], rng: np.random.Generator
) -> None:
    """Changes `segment` (a view into the test split) in place."""
    sign = rng.choice((-1.0, 1.0))
    rows = segment.shape[0]
    if kind == "spike":
        segment += sign * rng.uniform(*size, rows)
    elif kind == "level_shift":
        segment += sign * rng.uniform(*size)
    elif kind == "drift":
        segment += sign * rng.uniform(*size) * np.arange(1, rows + 1) / rows
    elif kind == "noise_burst":
        segment += rng.normal(0.0, rng.uniform(*size), rows)
    elif kind == "stuck":
        segment[:] = segment[0]
    elif kind == "dropout":
        segment[:] = np.nan
    else:
        assert_never(kind)


def _merge(spans: list[tuple[int, int, int]], names: tuple[str, ...]) -> tuple[RootCause, ...]:
    """Overlapping or touching (start, end, sensor) spans become one root cause each."""
    merged: list[tuple[int, int, set[int]]] = []
    for start, end, sensor in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            last_start, last_end, sensors = merged[-1]
            merged[-1] = (last_start, max(last_end, end), sensors | {sensor})
        else:
            merged.append((start, end, {sensor}))
    return tuple(
        RootCause(start, end, tuple(names[i] for i in sorted(sensors)))
        for start, end, sensors in merged
    )


def _sensor(config: SyntheticConfig, entity: int, sensor: Sensor) -> tuple[FloatArray, Spans]:
    """One sensor's series over both splits, and the test rows its anomalies cover."""
    train_rows, rows = config.train_rows, config.train_rows + config.test_rows
    # Seeded by name, not position, so adding or reordering sensors leaves the others' data
    # as it was; one child stream per anomaly keeps the normal signal independent of which
    # anomalies are configured.
    key = zlib.crc32(sensor.name.encode())
    streams = np.random.SeedSequence([config.seed, entity, key]).spawn(1 + len(sensor.anomalies))
    rng = np.random.default_rng(streams[0])
    series = _signal(sensor.signal, rows, config.rate_hz, rng)
    if sensor.noise_std > 0:
        series += rng.normal(0.0, sensor.noise_std, rows)
    # Magnitudes are in stds of the normal train signal; a noiseless constant has none, so
    # 1% of its level (at least 0.01) stands in.
    scale = float(np.std(series[:train_rows])) or 0.01 * max(abs(float(series[0])), 1.0)
    test = series[train_rows:]
    spans: Spans = []
    for anomaly, stream in zip(sensor.anomalies, streams[1:], strict=True):
        anomaly_rng = np.random.default_rng(stream)
        size = (anomaly.magnitude[0] * scale, anomaly.magnitude[1] * scale)
        starts, lengths = _segments(anomaly, config.test_rows, anomaly_rng)
        for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
            _inject(test[start : start + length], anomaly.kind, size, anomaly_rng)
            spans.append((start, start + length - 1))
    return series, spans


def generate(config: SyntheticConfig, entity: int) -> EntityData:
    """One entity's data; depends only on the config's seed, `entity` and each sensor's name."""
    train_rows, rows = config.train_rows, config.train_rows + config.test_rows
    names = tuple(sensor.name for sensor in config.sensors)
    values = np.empty((rows, len(names)))
    labels = np.zeros(rows, dtype=np.int8)
    causes: list[tuple[int, int, int]] = []
    for column, sensor in enumerate(config.sensors):
        values[:, column], spans = _sensor(config, entity, sensor)
        for start, end in spans:
            labels[train_rows + start : train_rows + end + 1] = 1
            causes.append((start, end, column))
    origin = np.datetime64(config.start.replace(tzinfo=None), "ns")
    times = synthesize_timestamps(rows, config.rate_hz, origin)
    return EntityData(
        dataset=SyntheticLoader.name,
        entity=f"{ENTITY_PREFIX}{entity:03d}",
        channels=names,
        train=Split(values[:train_rows], times[:train_rows], labels[:train_rows]),
        test=Split(values[train_rows:], times[train_rows:], labels[train_rows:]),
        root_causes=_merge(causes, names),
    )


class SyntheticLoader(DatasetLoader):
    """Generated sensors with labelled, injected anomalies; see `synthetic_default.toml`.

    The data are computed on every `load`, the same for the same config and seed; the
    train split is anomaly-free, and `data_dir` is not used.
    """

    name: ClassVar[str] = "synthetic"
    description: ClassVar[str] = "generated sensors with injected anomalies, from a TOML config"
    source: ClassVar[str] = "generated; the packaged synthetic_default.toml or --config FILE"
    folder: ClassVar[str] = "synthetic"

    def __init__(
        self,
        data_dir: Path,
        *,
        on_bad_row: BadRowPolicy = "fail",
        config: Path | None = None,
        entities: int | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(data_dir, on_bad_row=on_bad_row)
        if entities is not None and entities < 1:
            raise DatasetError(f"entities must be at least 1, got {entities}")
        if seed is not None and seed < 0:
            raise DatasetError(f"seed must be at least 0, got {seed}")
        self.config_path: Traversable = DEFAULT_CONFIG if config is None else config
        overrides = {"entities": entities, "seed": seed}
        self._overrides = {key: value for key, value in overrides.items() if value is not None}
        self._config: SyntheticConfig | None = None

    @property
    def config(self) -> SyntheticConfig:
        """The validated config, with the constructor's `entities` and `seed` applied."""
        if self._config is None:
            # Read on first use, not in __init__, so listing loaders never touches the file.
            self._config = read_config(self.config_path).model_copy(update=self._overrides)
        return self._config

    def is_present(self) -> bool:
        return self.config_path.is_file()

    def require(self) -> None:
        # The base message points at data_dir, which generated data does not use.
        if not self.is_present():
            raise DatasetMissingError(f"synthetic config not found: {self.config_path}")

    def _entities(self) -> list[str]:
        return [f"{ENTITY_PREFIX}{i:03d}" for i in range(self.config.entities)]

    def _load(self, entity: str) -> EntityData:
        return generate(self.config, int(entity.removeprefix(ENTITY_PREFIX)))
