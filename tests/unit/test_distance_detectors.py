"""knn and subseq_kmeans against brute force, and the shared nearest search."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from detectors._nearest import half_norms, nearest
from detectors.knn import NearestNeighbourDetector
from detectors.subseq_kmeans import SubsequenceKMeansDetector


def windows(n: int, seed: int) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = (
        np.random.default_rng(seed).normal(size=(n, 12, 3)).astype(np.float32)
    )
    return out


def test_knn_is_the_distance_to_the_nearest_training_tail() -> None:
    train, test = windows(400, 0), windows(50, 1)
    detector = NearestNeighbourDetector(length=4, max_train=10_000).fit(train)
    flat_train = train[:, -4:, :].reshape(len(train), -1).astype(np.float64)
    flat_test = test[:, -4:, :].reshape(len(test), -1).astype(np.float64)
    distances = np.linalg.norm(flat_test[:, None, :] - flat_train[None, :, :], axis=2)
    np.testing.assert_allclose(detector.score(test), distances.min(axis=1), rtol=1e-5)
    contributions = detector.contributions(test)
    np.testing.assert_allclose(contributions.sum(axis=1), detector.score(test) ** 2, rtol=1e-5)


def test_subseq_kmeans_is_the_distance_to_the_nearest_centroid() -> None:
    train, test = windows(400, 0), windows(50, 1)
    detector = SubsequenceKMeansDetector(length=5, n_clusters=6).fit(train)
    centroids = detector._references.astype(np.float64)
    flat = test[:, -5:, :].reshape(len(test), -1).astype(np.float64)
    expected = np.linalg.norm(flat[:, None, :] - centroids[None, :, :], axis=2).min(axis=1)
    np.testing.assert_allclose(detector.score(test), expected, rtol=1e-5)


@pytest.mark.parametrize("length", [1, 12])
def test_nearest_leaves_its_input_alone(length: int) -> None:
    # A one-window block of the full window is a view of the caller's array.
    references = windows(30, 2).reshape(30, -1)[:, : length * 3].copy()
    one = windows(1, 3)
    before = one.copy()
    nearest(one, length, references, half_norms(references))
    np.testing.assert_array_equal(one, before)
