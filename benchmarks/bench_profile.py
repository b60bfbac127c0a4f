"""py-spy's samples of the worker, summarised for its engine thread."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _short(path: str) -> str:
    for marker in ("site-packages/", str(REPO) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def profile_summary(raw: Path, top: int = 15) -> str:
    """Own and cumulative samples per function, in the worker's engine thread only."""
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    total = engine_total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            frames.append(f"{match['func']} ({_short(match['file'])})" if match else frame.strip())
        if not any(f.startswith("Engine.run (stream_app/engine.py") for f in frames):
            continue
        engine_total += count
        own[frames[-1]] += count
        for name in set(frames):
            cumulative[name] += count
    if not engine_total:
        return f"no engine-thread samples among {total} (py-spy output: {raw})"
    lines = [
        f"py-spy, 100 Hz, on-CPU samples: {total} in all, {engine_total} in the engine thread "
        f"(the rest: startup imports, faust's event loop); % of engine-thread samples",
        "",
        "| own % | cum % | function (file) |",
        "|---:|---:|---|",
    ]
    for name, count in own.most_common(top):
        lines.append(
            f"| {100 * count / engine_total:.1f} | {100 * cumulative[name] / engine_total:.1f} "
            f"| `{name}` |"
        )
    lines += ["", "| cum % | function (file), by cumulative |", "|---:|---|"]
    for name, count in cumulative.most_common(top + 5)[:top]:
        lines.append(f"| {100 * count / engine_total:.1f} | `{name}` |")
    return "\n".join(lines)
