"""Shared torch machinery for the deep detectors: device, seeding, training, inference, state.

Mixed precision: with `amp` on (the default on CUDA, never used on CPU) the forward pass runs
under `torch.autocast` — bfloat16 while training, float16 while scoring (10 mantissa bits
against bfloat16's 7) — and errors are reduced in float32. Scores must stay within 1e-3 of a
float32 run; `tests/unit/test_deep_detectors.py` checks that on a GPU (`@pytest.mark.gpu`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from tqdm import tqdm

from detectors.base import DetectorError

__all__ = [
    "INFER_BATCH",
    "Schedule",
    "TrainConfig",
    "TrainHistory",
    "arrays_to_module",
    "map_batches",
    "module_to_arrays",
    "resolve_amp",
    "resolve_device",
    "seeded",
    "train_network",
]

log = logging.getLogger(__name__)

INFER_BATCH = 4096  # windows per forward pass when scoring

# Trained ReLU/conv nets produce subnormal floats, which x86 CPUs handle in microcode: the TCN
# AE scored ~4x slower after training than before. Flushing them to zero changes scores by
# less than 1e-30 and restores the speed (2.5x on a conv over subnormal inputs here).
torch.set_flush_denormal(True)
Forward = Callable[[torch.Tensor], torch.Tensor]


def resolve_device(device: str) -> torch.device:
    """ "auto" -> cuda when available, else cpu; "cuda" without CUDA is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DetectorError(
                f"device={device!r} but CUDA is not available here "
                f"(torch {torch.__version__}); use device='auto' or 'cpu'"
            )
        return torch.device(device)
    raise DetectorError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'")


def resolve_amp(amp: bool | None, device: torch.device) -> bool:
    """Mixed precision only on CUDA; None means on there."""
    if device.type != "cuda":
        return False
    return True if amp is None else amp


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's CPU generator (restored afterwards) and, on CPU, force deterministic ops.

    Weights are initialised on the CPU, so the CPU generator decides them on every device.
    Deterministic algorithms on CUDA would need CUBLAS_WORKSPACE_CONFIG set before start-up,
    so GPU runs are reproducible only up to kernel ordering.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous)


Schedule = Literal["plateau", "cosine", "constant"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train: Adam on MSE, early stopping on the chronologically last windows.

    `schedule`: "plateau" halves the learning rate after `patience // 2` epochs (at least
    one) without a better validation loss, "cosine" anneals it to zero over `epochs`,
    "constant" leaves it alone.
    """

    epochs: int
    batch_size: int
    lr: float
    validation: float = 0.1  # fraction of training windows held out for early stopping
    patience: int = 3  # epochs without validation improvement before stopping
    schedule: Schedule = "constant"
    amp: bool = False
    progress: bool = False


@dataclass
class TrainHistory:
    """Per epoch: mean training loss, the loss early stopping watched (validation, or
    training without a validation tail) and the learning rate; the 1-based epoch whose
    weights were kept."""

    train: list[float] = field(default_factory=list)
    watched: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int = 0


def _autocast(
    device: torch.device, amp: bool, dtype: torch.dtype
) -> contextlib.AbstractContextManager[object]:
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def _train_dtype() -> torch.dtype:
    # bfloat16 needs no gradient scaler; older GPUs without it train in float32.
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32


def train_network(
    net: nn.Module,
    windows: npt.NDArray[np.float32],
    forward: Forward,
    target: Forward,
    config: TrainConfig,
    device: torch.device,
    seed: int,
) -> TrainHistory:
    """Fit `net` so that forward(x) ~ target(x) on batches of windows.

    The last `validation` fraction of the windows (in time order, so no future leaks into
    the past) is held out when there are at least 20 windows; training stops after
    `patience` epochs without a better validation loss and the best epoch's weights are
    restored. The learning rate follows `config.schedule`. Call inside `seeded()` for
    reproducible runs.
    """
    data = torch.from_numpy(windows)
    held = int(len(data) * config.validation) if len(data) >= 20 else 0
    train, val = data[: len(data) - held], data[len(data) - held :]
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    step_schedule = _scheduler(optimizer, config)
    generator = torch.Generator().manual_seed(seed)
    amp_dtype = _train_dtype() if config.amp else torch.float32
    best, best_state, stale = float("inf"), copy.deepcopy(net.state_dict()), 0
    history = TrainHistory()
    losses = history.train
    epochs = tqdm(range(config.epochs), desc=type(net).__name__, disable=not config.progress)
    for epoch in epochs:
        net.train()
        total = 0.0
        for index in torch.split(
            torch.randperm(len(train), generator=generator), config.batch_size
        ):
            x = train[index].to(device, non_blocking=True)
            with _autocast(device, config.amp, amp_dtype):
                out = forward(x)
            loss = nn.functional.mse_loss(out.float(), target(x))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total += loss.item() * len(x)
        losses.append(total / len(train))
        watched = _mean_loss(net, val, forward, target, device) if held else losses[-1]
        history.watched.append(watched)
        history.lr.append(float(optimizer.param_groups[0]["lr"]))
        epochs.set_postfix(loss=f"{losses[-1]:.4g}", val=f"{watched:.4g}")
        log.debug(
            "%s epoch %d: train %.5g, validation %.5g",
            type(net).__name__,
            epoch,
            losses[-1],
            watched,
        )
        if watched < best - 1e-7:
            best, best_state, stale = watched, copy.deepcopy(net.state_dict()), 0
            history.best_epoch = epoch + 1
        else:
            stale += 1
            if held and stale >= config.patience:
                log.info("%s stopped early after epoch %d", type(net).__name__, epoch)
                break
        step_schedule(watched)
    log.info(
        "%s: best epoch %d of %d, validation loss %.5g",
        type(net).__name__, history.best_epoch, len(losses), best,
    )  # fmt: skip
    net.load_state_dict(best_state)
    net.eval()
    return history


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> Callable[[float], None]:
    """A function called once per epoch with the watched loss that steps the schedule."""
    if config.schedule == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(config.patience // 2, 1) - 1, threshold=0.0
        )
        return lambda loss: plateau.step(loss)
    if config.schedule == "cosine":
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
        return lambda _: cosine.step()
    return lambda _: None


def _mean_loss(
    net: nn.Module, val: torch.Tensor, forward: Forward, target: Forward, device: torch.device
) -> float:
    net.eval()
    total = 0.0
    with torch.inference_mode():
        for x in torch.split(val, INFER_BATCH):
            x = x.to(device)
            total += nn.functional.mse_loss(forward(x), target(x)).item() * len(x)
    return total / len(val)


def map_batches(
    forward: Forward,
    reduce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    windows: npt.NDArray[np.float32],
    device: torch.device,
    amp: bool,
    batch_size: int = INFER_BATCH,
) -> npt.NDArray[np.float64]:
    """reduce(x, forward(x)) over mini-batches under inference mode, as one float64 array.

    Only `forward` runs under autocast; `reduce` sees its output cast back to float32.
    """
    parts = []
    with torch.inference_mode():
        # Windows may be read-only views (the stream's window buffer); torch wants to own
        # writable memory, so such input is copied once here.
        source = windows if windows.flags.writeable else np.array(windows)
        for x in torch.split(torch.from_numpy(source), batch_size):
            x = x.to(device, non_blocking=True)
            with _autocast(device, amp, torch.float16):
                out = forward(x)
            parts.append(reduce(x, out.float()).cpu().numpy())
    return np.concatenate(parts).astype(np.float64)


def module_to_arrays(net: nn.Module, prefix: str = "net.") -> dict[str, npt.NDArray[np.float32]]:
    """State dict -> named float32 arrays for the npz artifact."""
    return {prefix + k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def arrays_to_module(
    net: nn.Module, arrays: dict[str, npt.NDArray[np.generic]], prefix: str = "net."
) -> None:
    """Load what `module_to_arrays` wrote into a freshly built `net` (no pickle, no torch.load)."""
    state = {
        k[len(prefix) :]: torch.from_numpy(np.array(v))
        for k, v in arrays.items()
        if k.startswith(prefix)
    }
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise DetectorError(
            f"artifact does not match the {type(net).__name__} network: {error}"
        ) from None
