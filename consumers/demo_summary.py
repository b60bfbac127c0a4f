"""The demo's closing summary, from the worker's and the exporter's /metrics, and the
incident figures `anomstream report` wrote (they need the topics, which the report reads).

python -m consumers.demo_summary WORKER_URL EXPORTER_URL DATASET [INCIDENTS_JSON]
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Summary", "incident_lines", "summarise"]


@dataclass(frozen=True)
class Summary:
    """What one dataset's run produced, and how its verdicts compare with the labels."""

    consumed: float
    scored: float
    dead_letters: float
    opened: float
    resolved: float
    outcomes: dict[str, float]

    @property
    def precision(self) -> float | None:
        flagged = self.outcomes["tp"] + self.outcomes["fp"]
        return self.outcomes["tp"] / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        positive = self.outcomes["tp"] + self.outcomes["fn"]
        return self.outcomes["tp"] / positive if positive else None

    def lines(self, dataset: str) -> list[str]:
        def ratio(value: float | None) -> str:
            return "n/a (no labelled anomalies)" if value is None else f"{value:.3f}"

        labelled = sum(self.outcomes.values())
        return [
            f"dataset            {dataset}",
            f"readings consumed  {self.consumed:,.0f}",
            f"scores published   {self.scored:,.0f}",
            f"dead letters       {self.dead_letters:,.0f}",
            f"alerts opened      {self.opened:,.0f} (resolved {self.resolved:,.0f})",
            f"labelled scores    {labelled:,.0f}",
            f"precision          {ratio(self.precision)} (point-wise, against the labels)",
            f"recall             {ratio(self.recall)}",
        ]


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name].append((dict(sample.labels), sample.value))
    return out


def summarise(worker_text: str, exporter_text: str, dataset: str) -> Summary:
    worker, exporter = _samples(worker_text), _samples(exporter_text)

    def total(
        samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **want: str
    ) -> float:
        return sum(
            v for labels, v in samples[name] if all(labels.get(k) == w for k, w in want.items())
        )

    return Summary(
        consumed=total(worker, "anomstream_worker_readings_consumed_total", dataset=dataset),
        scored=total(worker, "anomstream_worker_readings_scored_total", dataset=dataset),
        dead_letters=total(worker, "anomstream_worker_dead_letters_total"),
        opened=total(exporter, "anomstream_alerts_total", dataset=dataset, state="opened"),
        resolved=total(exporter, "anomstream_alerts_total", dataset=dataset, state="resolved"),
        outcomes={
            outcome: total(
                exporter, "anomstream_label_outcomes_total", dataset=dataset, outcome=outcome
            )
            for outcome in ("tp", "fp", "fn", "tn")
        },
    )


def incident_lines(path: Path) -> list[str]:
    """The summary's incident lines from the report's incidents.json (a note if absent)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [f"incidents          n/a (no readable {path})"]
    total = data.get("total")
    if not total:
        return ["incidents          n/a (no labelled scores)"]
    rate = "" if total["found_rate"] is None else f" ({total['found_rate']:.0%})"
    per_hour = total["false_per_hour"]
    hourly = "n/a" if per_hour is None else f"{per_hour:.2f}"
    return [
        f"incidents alerted  {total['found']} of {total['incidents']}{rate} "
        "(labelled incidents with an overlapping alert)",
        f"false alerts       {total['false_alerts']} of {total['alerts']} alerts overlap no "
        f"incident ({hourly} per entity-hour, {total['hours']:.2f} entity-hours)",
    ]


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local metrics
        return str(response.read().decode())


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(
            "usage: python -m consumers.demo_summary WORKER_URL EXPORTER_URL DATASET "
            "[INCIDENTS_JSON]",
            file=sys.stderr,
        )
        return 2
    worker_url, exporter_url, dataset = argv[:3]
    summary = summarise(_fetch(worker_url), _fetch(exporter_url), dataset)
    lines = summary.lines(dataset)
    if len(argv) == 4:
        lines += incident_lines(Path(argv[3]))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
