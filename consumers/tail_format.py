"""How the live tail prints: JSON lines as sent, or one human line per alert or score."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Protocol

from consumers.tail_filter import Item
from schemas import Alert, AlertState, ChannelContribution, Score

__all__ = ["HumanPrinter", "JsonPrinter", "Printer", "format_alert", "format_item", "format_score"]

_RESET = "\033[0m"
_RED, _GREEN, _YELLOW, _DIM, _BOLD = "\033[31m", "\033[32m", "\033[33m", "\033[2m", "\033[1m"
_STATE_COLOR = {AlertState.OPENED: _RED, AlertState.UPDATED: _YELLOW, AlertState.RESOLVED: _GREEN}


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def format_time(moment: datetime) -> str:
    """UTC to the millisecond with a `Z`: `2026-01-01T00:00:05.250Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _top(channels: Sequence[ChannelContribution]) -> str:
    if not channels:
        return ""
    return "  top " + ",".join(f"{c.channel}={c.contribution:.3g}" for c in channels[:3])


def format_alert(alert: Alert, color: bool = False) -> str:
    """`<emitted> OPENED   <dataset>/<entity>  peak P > T  seq S-E  top ...  id <alert_id>`."""
    state = _paint(alert.state.value.upper().ljust(8), _STATE_COLOR[alert.state], color)
    end = "" if alert.end_seq is None else str(alert.end_seq)
    return (
        f"{format_time(alert.emitted_at)}  {state} "
        f"{_paint(f'{alert.dataset}/{alert.entity}', _BOLD, color)}  "
        f"peak {alert.peak_score:.4g} > {alert.threshold:.4g}  "
        f"seq {alert.start_seq}-{end}{_top(alert.top_channels)}  id {alert.alert_id}"
    )


def format_score(score: Score, color: bool = False) -> str:
    """`<event time> <dataset>/<entity>  seq N  score S / T  ANOMALY|normal  [label L] [top]`."""
    if score.is_anomaly:
        verdict = _paint("ANOMALY", _RED + _BOLD, color)
    else:
        verdict = _paint("normal ", _DIM, color)
    label = "" if score.label is None else f"  label {score.label}"
    return (
        f"{format_time(score.event_time)}  {score.dataset}/{score.entity}  seq {score.seq}  "
        f"score {score.score:.4g} / {score.threshold:.4g}  {verdict}{label}"
        f"{_top(score.top_channels)}"
    )


def format_item(item: Item, color: bool = False) -> str:
    return format_alert(item, color) if isinstance(item, Alert) else format_score(item, color)


class Printer(Protocol):
    """Writes one consumed message; returns the lines written (at most `room`)."""

    def write(self, value: bytes, items: Sequence[Item], room: int | None) -> int: ...


class JsonPrinter:
    """The message exactly as sent, one per line (a ScoreBatch stays one line)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def write(self, value: bytes, items: Sequence[Item], room: int | None) -> int:
        if not items or room == 0:
            return 0
        self.out.write(value.rstrip(b"\n") + b"\n")
        return 1


class HumanPrinter:
    """One line per alert or per score (a ScoreBatch gives a line per matching reading)."""

    def __init__(self, out: IO[bytes], color: bool) -> None:
        self.out = out
        self.color = color

    def write(self, value: bytes, items: Sequence[Item], room: int | None) -> int:
        shown = items if room is None else items[:room]
        for item in shown:
            self.out.write(format_item(item, self.color).encode("utf-8") + b"\n")
        return len(shown)
