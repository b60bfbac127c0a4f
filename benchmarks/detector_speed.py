"""Scoring throughput (windows/s) and peak memory of every registered detector."""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Run as `python benchmarks/detectors.py` from the repository root without installing.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detectors.base import Detector  # noqa: E402
from detectors.registry import DETECTORS, detector_class  # noqa: E402

WINDOW, CHANNELS = 100, 38  # SMD's width at a common window length
TRAIN_WINDOWS = 2000
BATCHES = (256, 4096)
# Deep detectors train briefly: this measures scoring, not model quality.
FAST_TRAINING: dict[str, Any] = {"epochs": 1, "batch_size": 256}


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def build(name: str, device: str) -> Detector:
    cls = detector_class(name)
    accepted = cls.keywords()
    wanted = {**FAST_TRAINING, "device": device, "seed": 0}
    return cls(**{k: v for k, v in wanted.items() if k in accepted})


def windows(n: int, seed: int) -> npt.NDArray[np.float32]:
    """Smooth random walks per channel, standardised like real normalised data."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.standard_normal((n + WINDOW, CHANNELS)), axis=0)
    walk = (walk - walk.mean(axis=0)) / walk.std(axis=0)
    index = np.arange(n)[:, None] + np.arange(WINDOW)[None, :]
    out: npt.NDArray[np.float32] = walk[index].astype(np.float32)
    return out


def time_scoring(detector: Detector, batch: npt.NDArray[np.float32], seconds: float) -> float:
    """Windows per second, after one warm-up call, over at least `seconds`."""
    detector.score(batch)
    calls, start = 0, time.perf_counter()
    while True:
        detector.score(batch)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 3:
            return calls * len(batch) / elapsed


def peak_memory(detector: Detector, batch: npt.NDArray[np.float32], device: str) -> str:
    """Peak extra memory of one scoring call: tracemalloc (numpy) or CUDA's allocator."""
    if device.startswith("cuda") and detector.uses_torch:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        detector.score(batch)
        return f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB cuda"
    tracemalloc.start()
    try:
        detector.score(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return f"{peak / 2**20:.0f} MiB host"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--detectors", default=",".join(DETECTORS), help="comma-separated names")
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per batch size")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    train = windows(TRAIN_WINDOWS, seed=0)
    batches = {size: windows(size, seed=size) for size in BATCHES}
    print(f"window {WINDOW} x {CHANNELS} channels, fit on {TRAIN_WINDOWS} windows, {device}")
    header = f"{'detector':<10} {'fit s':>7}" + "".join(f" {f'b={b} win/s':>15}" for b in BATCHES)
    print(f"{header} {'peak mem (b=' + str(BATCHES[-1]) + ')':>22}")
    for name in args.detectors.split(","):
        try:
            detector = build(name, device)
        except ImportError as exc:
            print(f"{name:<10} skipped: {exc}")
            continue
        start = time.perf_counter()
        detector.fit(train)
        fit_s = time.perf_counter() - start
        rates = [time_scoring(detector, batches[b], args.seconds) for b in BATCHES]
        memory = peak_memory(detector, batches[BATCHES[-1]], device)
        cells = "".join(f" {rate:>15,.0f}" for rate in rates)
        print(f"{name:<10} {fit_s:>7.2f}{cells} {memory:>22}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
