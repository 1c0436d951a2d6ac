"""k-means baselines: they must find obvious clusters, keep empty clusters finite, and render mean colours."""

import numpy as np
import pytest

from slotviewer.engine.kmeans import _layer_norm, kmeans, render_clusters
from slotviewer.metrics import adjusted_rand_index


def three_blobs(n_per: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tight clusters around distinct patterns (still distinct after the layer norm)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[4, 0, 0, 0, 0, 0], [0, 0, 4, 0, 0, 0], [0, 0, 0, 0, 4, 0]], np.float32)
    truth = np.repeat(np.arange(3), n_per)
    rng.shuffle(truth)
    features = centres[truth] + rng.normal(0, 0.05, (len(truth), 6)).astype(np.float32)
    return features, truth


@pytest.mark.parametrize("soft", [False, True])
def test_finds_obvious_clusters(soft: bool) -> None:
    features, truth = three_blobs()
    normed = _layer_norm(features)
    tried = 0
    for seed in range(40):
        responsibilities, centroids = kmeans(features, 3, 5, seed, soft=soft)
        assert responsibilities.shape == (5, 3, 60) and centroids.shape == (6, 3, 6)
        start = [truth[np.abs(normed - c).sum(1).argmin()] for c in centroids[0]]
        if len(set(start)) < 3:
            continue  # two starts in one blob: a local minimum is k-means' right, not a bug
        tried += 1
        labels = responsibilities[-1].argmax(0)
        assert adjusted_rand_index(truth, labels) == 1.0, seed
        for k in range(3):  # the final centroid is the mean of the (normed) points it owns
            np.testing.assert_allclose(centroids[-1][k], normed[labels == k].mean(0), atol=1e-2 if soft else 1e-5)
        np.testing.assert_allclose(responsibilities.sum(axis=1), 1.0, atol=1e-5)
        if soft:
            assert responsibilities[-1].max(0).min() > 0.9, "well-separated points belong almost wholly to one"
        else:
            assert set(np.unique(responsibilities)) == {0.0, 1.0}
    assert tried >= 3


def test_starts_at_distinct_inputs_and_is_seeded() -> None:
    features, _ = three_blobs()
    _, centroids = kmeans(features, 3, 2, seed=7)
    normed = _layer_norm(features)
    for c in centroids[0]:  # Forgy: every initial centroid is one of the inputs
        assert np.abs(normed - c).sum(1).min() < 1e-6
    np.testing.assert_array_equal(kmeans(features, 3, 2, seed=7)[1], centroids)
    assert not np.array_equal(kmeans(features, 3, 2, seed=8)[1][0], centroids[0])


def test_scale_free() -> None:
    features, _ = three_blobs()
    a = kmeans(features, 3, 3, seed=1)[0]
    b = kmeans(features * 100 + 5, 3, 3, seed=1)[0]
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_empty_clusters_keep_their_centroid() -> None:
    features = np.repeat(np.array([[3, 0, 0, 0], [0, 0, 3, 0]], np.float32), 5, axis=0)  # only two distinct points
    for soft in (False, True):
        responsibilities, centroids = kmeans(features, 4, 3, seed=0, soft=soft)
        assert np.isfinite(centroids).all() and np.isfinite(responsibilities).all()
    responsibilities, centroids = kmeans(features, 4, 3, seed=0, soft=False)
    empty = responsibilities[-1].sum(1) == 0
    assert empty.any()
    np.testing.assert_array_equal(centroids[-1][empty], centroids[-2][empty])


def test_more_clusters_than_points_and_no_iterations() -> None:
    features = np.eye(4, dtype=np.float32)[:2]
    responsibilities, centroids = kmeans(features, 5, 2, seed=0)
    assert responsibilities.shape == (2, 5, 2) and centroids.shape == (3, 5, 4)
    responsibilities, centroids = kmeans(features, 3, 0, seed=0)
    assert responsibilities.shape == (0, 3, 2) and centroids.shape == (1, 3, 4)


def test_render_clusters_paints_each_cluster_its_mean_colour() -> None:
    image = np.zeros((3, 4, 4), np.float32)
    image[0, :, :2] = 1.0  # left half red
    image[2, :, 2:] = 0.5  # right half half-blue
    responsibilities = np.zeros((2, 2, 2), np.float32)
    responsibilities[0, :, 0] = 1.0  # cluster 0: the left column of the 2×2 map
    responsibilities[1, :, 1] = 1.0
    rgb, alpha_logits = render_clusters(responsibilities, image, 4)
    assert rgb.shape == (2, 4, 4, 3) and alpha_logits.shape == (2, 4, 4)
    np.testing.assert_allclose(rgb[0, 0, 0], [1.0, 0.0, 0.0], atol=0.2)
    np.testing.assert_allclose(rgb[1, 0, 0], [0.0, 0.0, 0.5], atol=0.2)
    assert rgb[0, 0, 0, 0] > rgb[1, 0, 0, 0] and rgb[1, 0, 0, 2] > rgb[0, 0, 0, 2]
    alpha = np.exp(alpha_logits)
    np.testing.assert_allclose(alpha.sum(0), 1.0, atol=1e-5)
    assert (alpha[0, :, 0] > 0.9).all() and (alpha[1, :, -1] > 0.9).all()
    assert (rgb == rgb[:, :1, :1]).all(), "a cluster is one flat colour"


def test_render_clusters_weak_clusters_and_dtypes() -> None:
    """A cluster with little total weight still gets the weighted mean colour of what it claims (not a
    darkened sum); logits stay finite where a cluster claims nothing; everything is float32."""
    image = np.zeros((3, 2, 2), np.float32)
    image[1] = 0.8  # a flat green picture
    responsibilities = np.zeros((2, 2, 2), np.float32)
    responsibilities[0] = 0.1  # a weak cluster: total weight 0.4 over the 2×2 output
    responsibilities[1] = 0.9
    rgb, alpha_logits = render_clusters(responsibilities, image, 2)
    np.testing.assert_allclose(rgb[0, 0, 0], [0.0, 0.8, 0.0], atol=1e-5)
    np.testing.assert_allclose(rgb[1, 0, 0], [0.0, 0.8, 0.0], atol=1e-5)
    np.testing.assert_allclose(np.exp(alpha_logits[:, 0, 0]), [0.1, 0.9], atol=1e-5)
    assert rgb.dtype == np.float32 and alpha_logits.dtype == np.float32
    one_hot = np.zeros((2, 2, 2), np.float32)
    one_hot[0] = 1.0
    _, logits = render_clusters(one_hot, image, 2)
    assert np.isfinite(logits).all(), "a cluster that claims nothing gets a tiny alpha, not log(0)"


def own_layer_norm(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)


def test_features_are_layer_normed_per_position() -> None:
    features = np.random.default_rng(3).normal(2.0, 5.0, (7, 6)).astype(np.float32)
    normed = _layer_norm(features)
    np.testing.assert_allclose(normed.mean(1), 0.0, atol=1e-5)
    np.testing.assert_allclose(normed.var(1), 1.0, atol=1e-3)
    np.testing.assert_allclose(normed, own_layer_norm(features), atol=1e-5)
    assert np.isfinite(_layer_norm(np.full((2, 4), 3.0, np.float32))).all(), "a flat position stays finite"


def test_soft_kmeans_follows_its_definition() -> None:
    """Iteration by iteration: responsibilities are a softmax over clusters of −d²/β with β a tenth of the
    features' mean squared spread, and each centroid is the responsibility-weighted mean of the inputs."""
    features, _ = three_blobs(n_per=4, seed=2)
    features = features + np.random.default_rng(5).normal(0, 0.8, features.shape).astype(np.float32)
    x = own_layer_norm(features)
    beta = 0.1 * ((x - x.mean(0)) ** 2).sum(1).mean() + 1e-6
    for seed in range(6):
        responsibilities, centroids = kmeans(features, 4, 3, seed, soft=True)
        for t in range(3):
            d2 = ((x[None] - centroids[t][:, None]) ** 2).sum(-1)
            logits = -d2 / beta
            expected = np.exp(logits - logits.max(0)) / np.exp(logits - logits.max(0)).sum(0)
            np.testing.assert_allclose(responsibilities[t], expected, atol=1e-4, err_msg=f"seed {seed}, t {t}")
            mass = expected.sum(1, keepdims=True)
            np.testing.assert_allclose(centroids[t + 1], expected @ x / mass, atol=1e-4)


def test_forgy_picks_distinct_inputs_and_repeats_from_all() -> None:
    features = np.eye(5, dtype=np.float32) * 4
    normed = _layer_norm(features)
    for seed in range(5):
        start = kmeans(features, 5, 0, seed)[1][0]
        assert len(np.unique(start.round(5), axis=0)) == 5, "no input drawn twice"
        assert all(np.abs(normed - c).sum(1).min() < 1e-6 for c in start)
    two = features[:2]
    distinct = {len(np.unique(kmeans(two, 5, 0, seed)[1][0].round(5), axis=0)) for seed in range(8)}
    assert 2 in distinct, "with more clusters than inputs, repeats are drawn from every input"


def test_outputs_are_float32_with_and_without_iterations() -> None:
    features, _ = three_blobs(n_per=3)
    for iters in (0, 2):
        for soft in (False, True):
            responsibilities, centroids = kmeans(features.astype(np.float64), 3, iters, 0, soft=soft)
            assert responsibilities.dtype == np.float32 and centroids.dtype == np.float32, (iters, soft)


def test_soft_is_the_default() -> None:
    features, _ = three_blobs(n_per=3)
    noisy = features + np.random.default_rng(1).normal(0, 1.0, features.shape).astype(np.float32)
    responsibilities = kmeans(noisy, 3, 2, 0)[0]
    assert not set(np.unique(responsibilities)) <= {0.0, 1.0}
    np.testing.assert_array_equal(responsibilities, kmeans(noisy, 3, 2, 0, soft=True)[0])
