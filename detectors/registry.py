"""Detector names to classes, imported only when used (torch loads only for deep ones)."""

from __future__ import annotations

import importlib
from typing import Final

from detectors.base import Detector, DetectorError

__all__ = ["DEFAULT_ADAPTIVE", "DEFAULT_DETECTOR", "DETECTORS", "detector_class"]

DETECTORS: Final[dict[str, str]] = {
    "raw": "detectors.raw:RawSignalDetector",
    "pca": "detectors.pca:PcaDetector",
    "iforest": "detectors.iforest:IsolationForestDetector",
    "ocsvm": "detectors.ocsvm:OneClassSvmDetector",
    "kmeans": "detectors.kmeans:KMeansDetector",
    "knn": "detectors.knn:NearestNeighbourDetector",
    "subseq_kmeans": "detectors.subseq_kmeans:SubsequenceKMeansDetector",
    "ae": "detectors.autoencoder:AutoencoderDetector",
    "uae": "detectors.autoencoder:UnivariateAutoencoderDetector",
    "lstm_ed": "detectors.lstm_ed:LstmEncoderDecoderDetector",
    "tcn_ae": "detectors.tcn_ae:TcnAutoencoderDetector",
    "telemanom": "detectors.telemanom:TelemanomDetector",
    "cnn_forecast": "detectors.cnn_forecast:CnnForecastDetector",
}


# What `anomstream train` uses without --detector: the evidence is in docs/RESULTS.md.
DEFAULT_DETECTOR: Final = "pca"
DEFAULT_ADAPTIVE: Final = True


def detector_class(name: str) -> type[Detector]:
    """The class registered under `name`; unknown names list the known ones."""
    try:
        target = DETECTORS[name]
    except KeyError:
        raise DetectorError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        # An image built with TORCH=none, or an install without torch: the classic
        # detectors work, the deep ones say what they need.
        raise DetectorError(
            f"{name} runs on PyTorch, which is not installed here: pip install torch "
            "(or build the image with TORCH=index)"
        ) from None
    cls: type[Detector] = getattr(module, class_name)
    return cls
