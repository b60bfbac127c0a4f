"""deploy/prometheus/alerts.yml: valid rules on real metrics, each tested, and loaded by the
Prometheus that compose and the image run; deploy/alertmanager's config is valid too."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from metric_names import anomstream_metrics

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES = REPO_ROOT / "deploy/prometheus/alerts.yml"
RULES_TEST = Path(__file__).with_name("alert_rules_test.yml")
PROMETHEUS_DIR = REPO_ROOT / "deploy/prometheus"
METRIC = re.compile(r"\banomstream_[a-z0-9_]+")

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed (Debian: apt-get install prometheus; scripts/setup does)",
)


def rule_blocks() -> dict[str, str]:
    """Alert name -> the text of its rule (the file is plain enough for a regex: no YAML
    library among the dependencies; promtool checks the real parse)."""
    text = RULES.read_text()
    starts = [m.start() for m in re.finditer(r"^ {6}- alert: ", text, re.MULTILINE)]
    blocks = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    named = {re.match(r"\s*- alert: (\w+)", b).group(1): b for b in blocks}  # type: ignore[union-attr]
    assert len(named) == len(blocks), "alert names are unique"
    return named


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)


@needs_promtool
def test_the_rules_pass_promtool_check() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rule_blocks())} rules found" in done.stdout


@needs_promtool
def test_the_rules_fire_when_and_only_when_the_simulated_series_say() -> None:
    # Real `for` durations on simulated time: see alert_rules_test.yml for the scenarios.
    done = promtool("test", "rules", str(RULES_TEST))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_rule_is_exercised_by_the_promtool_tests() -> None:
    tested = set(re.findall(r"alertname: (\w+)", RULES_TEST.read_text()))
    assert set(rule_blocks()) == tested


def test_the_issue_asks_for_these_rules() -> None:
    names = set(rule_blocks())
    assert {
        "AnomstreamWorkerDown",
        "AnomstreamConsumerLagHigh",
        "AnomstreamDeadLetters",
        "AnomstreamEntitySilent",
        "AnomstreamOpenAnomalies",
    } <= names


def test_rules_query_only_served_metrics_and_scraped_jobs() -> None:
    available = anomstream_metrics()
    jobs = set(re.findall(r"job_name: (\S+)", (PROMETHEUS_DIR / "prometheus.yml").read_text()))
    for name, block in rule_blocks().items():
        expr = block.split("expr:", 1)[1].split("labels:", 1)[0]
        used = set(METRIC.findall(expr))
        scraped = set(re.findall(r'job="([^"]+)"', expr))
        assert used or scraped, f"{name} queries an anomstream metric or job"
        assert used <= available, f"{name}: not served by anything: {sorted(used - available)}"
        assert scraped <= jobs, f"{name}: no such job in prometheus.yml: {scraped - jobs}"


def test_every_rule_has_a_severity_and_says_what_is_wrong() -> None:
    for name, block in rule_blocks().items():
        assert re.search(r"severity: (critical|warning)$", block, re.MULTILINE), name
        assert "summary:" in block and "description:" in block, name


def test_prometheus_loads_the_rules_in_the_image_too() -> None:
    config = (PROMETHEUS_DIR / "prometheus.yml").read_text()
    assert re.search(r"^rule_files:\n  - alerts\.yml$", config, re.MULTILINE)
    dockerfile = (PROMETHEUS_DIR / "Dockerfile").read_text()
    assert re.search(r"^COPY prometheus\.yml alerts\.yml /etc/prometheus/$", dockerfile, re.M)


@pytest.mark.skipif(
    shutil.which("amtool") is None,
    reason="amtool is not installed (Debian: apt-get install prometheus-alertmanager)",
)
def test_the_alertmanager_config_passes_amtool() -> None:
    config = REPO_ROOT / "deploy/alertmanager/alertmanager.yml"
    done = subprocess.run(
        ["amtool", "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
