"""LSTM encoder-decoder reconstructing the window (Malhotra et al. 2016, EncDec-AD)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from detectors._deep import ReconstructionDetector, ReconstructionParams

__all__ = ["LstmEncoderDecoderDetector", "LstmEncoderDecoderParams"]


class _LstmEncoderDecoder(nn.Module):
    """Encoder LSTM -> final state -> decoder LSTM -> linear, reconstructing in reverse.

    As in EncDec-AD the decoder starts from the encoder's final state and emits the window
    newest step first, so the step the stream scores is the one decoded most directly. It is
    fed the encoder's final hidden state at every step rather than its own previous output:
    non-autoregressive, so one fused LSTM call instead of a Python loop over the steps.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.encoder = nn.LSTM(channels, hidden, batch_first=True)
        self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
        self.output = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, c) = self.encoder(x)
        inputs = h[-1].unsqueeze(1).expand(-1, x.shape[1], -1)
        decoded, _ = self.decoder(inputs, (h, c))
        out: torch.Tensor = self.output(decoded)
        return out.flip(1)


@dataclass(frozen=True)
class LstmEncoderDecoderParams(ReconstructionParams):
    """lstm_ed's hyperparameters: those of `ReconstructionParams`, with its own defaults."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    hidden: int = 32


class LstmEncoderDecoderDetector(ReconstructionDetector[LstmEncoderDecoderParams]):
    """LSTM encoder-decoder; score from the reconstruction error of the window.

    Defaults are sized to train one SMD machine (about 2,800 windows of 100 x 38 at stride
    10) in well under two minutes on a 2-core CPU and to score thousands of windows a second.
    Errors are time-weighted per channel (see `ReconstructionDetector`) and scored by
    `scoring` (see `detectors.error_scoring`).
    """

    name = "lstm_ed"
    Params = LstmEncoderDecoderParams

    def _build(self, window: int, channels: int) -> nn.Module:
        return _LstmEncoderDecoder(channels, self.hp.hidden)
