"""One retrain of a dataset: read the range from Kafka, exclude, retrain each entity, judge."""

from __future__ import annotations

import fnmatch
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from producers.kafka_config import KafkaSettings
from retraining.deployed import find_deployed
from retraining.entity_retrain import EntityOptions, EntityOutcome, retrain_entity
from retraining.exclusion import alert_spans
from retraining.lock import dataset_lock
from retraining.readings import decode_alerts, gather_readings
from retraining.settings import RetrainSettings
from retraining.stream_reader import read_range
from schemas import ALERTS_TOPIC, readings_topic

__all__ = ["RunSummary", "retrain_once"]

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one run did: the readings it read and each entity's outcome."""

    dataset: str
    start: datetime
    end: datetime | None
    readings: int = 0
    outcomes: list[EntityOutcome] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        return Counter(outcome.status for outcome in self.outcomes)

    def line(self) -> str:
        counts = self.counts()
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
        until = self.end.isoformat() if self.end is not None else "the end of the topic"
        return (
            f"retrain {self.dataset} from {self.start.isoformat()} to {until}: "
            f"{self.readings} readings of {len(self.outcomes)} entities; {parts}"
        )


def retrain_once(
    settings: RetrainSettings,
    kafka: KafkaSettings,
    options: EntityOptions,
    entity_globs: Sequence[str] = (),
    now: datetime | None = None,
) -> RunSummary:
    """Retrain every entity of the dataset seen in the range (or those matching the globs)
    that has a deployed model; the dataset's lock is held throughout."""
    dataset = options.dataset
    start, end = settings.window(now or datetime.now(UTC))
    summary = RunSummary(dataset, start, end)
    with dataset_lock(options.models_dir, dataset):
        messages = read_range(kafka, readings_topic(dataset), start, end, settings.read_idle_s)
        entities, _ = gather_readings(messages, dataset)
        summary.readings = sum(len(r) for r in entities.values())
        log.info("read %d readings of %d entities", summary.readings, len(entities))
        spans = {}
        if not options.include_alerts:
            # From before the range too: an alert opened earlier may still cover part of it.
            # Up to the topic's end, not `end`: an alert resolved later still covers the range.
            alert_messages = read_range(
                kafka, ALERTS_TOPIC, start - settings.alert_lookback, None, settings.read_idle_s
            )
            spans = alert_spans(decode_alerts(alert_messages), dataset)
            alerts = sum(len(entity_spans) for entity_spans in spans.values())
            log.info("%d alerts of %s, on %d entities", alerts, dataset, len(spans))
        for entity in sorted(entities):
            if entity_globs and not any(fnmatch.fnmatchcase(entity, g) for g in entity_globs):
                continue
            deployed = find_deployed(options.models_dir, dataset, entity)
            if deployed is None:
                reason = "no deployed model to start from (train one first)"
                outcome = EntityOutcome(entity, "skipped", reason, len(entities[entity]))
            else:
                outcome = retrain_entity(entities[entity], deployed, spans.get(entity, []), options)
            summary.outcomes.append(outcome)
    return summary
