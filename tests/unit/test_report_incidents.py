"""Incident-level figures on pure data: runs of labels, overlapping alerts, false alerts."""

from __future__ import annotations

import json

import pytest

from consumers.report_incidents import IncidentCounts, count_incidents, incident_spans


def test_incidents_are_maximal_runs_over_consecutive_seqs() -> None:
    seqs = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10]
    labels = [0, 1, 1, 0, 1, 1, 1, -1, 1, 1]
    # Seq 6 is missing (5 and 7 are not one run); seq 8 has no label (it ends a run).
    assert incident_spans(seqs, labels) == [(1, 2), (4, 5), (7, 7), (9, 10)]
    assert incident_spans([3, 4], [0, 0]) == []
    assert incident_spans([5, 6, 7], [1, 1, 1]) == [(5, 7)]


def test_found_incidents_and_false_alerts_by_hand() -> None:
    incidents = [(10, 20), (40, 45), (90, 90)]
    alerts = [
        (5, 10),  # touches the first incident at seq 10: found
        (21, 39),  # between incidents: false
        (44, 60),  # overlaps the second
        (45, 46),  # overlaps the second again: not false, found counts once
        (95, 99),  # false
    ]
    counts = count_incidents(incidents, alerts, hours=2.0)
    assert counts == IncidentCounts(incidents=3, found=2, alerts=5, false_alerts=2, hours=2.0)
    assert counts.found_rate == pytest.approx(2 / 3)
    assert counts.false_per_hour == pytest.approx(1.0)
    assert counts.lines()[0] == "labelled incidents with an overlapping alert: 2 of 3 (67%)"


def test_no_incidents_or_no_alerts() -> None:
    none_found = count_incidents([(1, 2)], [], hours=0.0)
    assert (none_found.found, none_found.false_alerts, none_found.found_rate) == (0, 0, 0.0)
    assert none_found.false_per_hour is None
    all_false = count_incidents([], [(1, 2), (3, 4)], hours=0.5)
    assert all_false.false_alerts == 2 and all_false.found_rate is None
    assert all_false.false_per_hour == pytest.approx(4.0)


def test_counts_add_up_and_are_strict_json() -> None:
    a = count_incidents([(0, 1)], [(0, 0)], hours=1.0)
    b = count_incidents([(5, 6)], [(9, 9)], hours=0.0)
    total = a + b
    assert (total.incidents, total.found, total.alerts, total.false_alerts) == (2, 1, 2, 1)
    assert total.hours == 1.0
    assert json.loads(json.dumps(b.as_dict(), allow_nan=False))["false_per_hour"] is None
