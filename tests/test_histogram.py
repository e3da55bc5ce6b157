"""kseg.ColorHistogram: distinct colours, counts, and labelling pixels through them."""

import numpy as np
import pytest

from kseg import ColorHistogram, ImageError
from kseg._histogram import pack_rgb, unpack_keys


def test_counts_distinct_colours():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, :] = (255, 0, 0)
    rgb[1, 0] = (0, 0, 255)
    hist = ColorHistogram(rgb)
    assert hist.n_colors == 3
    found = {tuple(c): int(n) for c, n in zip(hist.colors.tolist(), hist.counts, strict=True)}
    assert found == {(0, 0, 0): 2, (0, 0, 255): 1, (255, 0, 0): 3}
    assert hist.n_opaque == 6


def test_matches_numpy_unique_on_random_image():
    rgb = np.random.default_rng(0).integers(0, 6, (50, 40, 3)).astype(np.uint8)
    hist = ColorHistogram(rgb)
    colors, counts = np.unique(rgb.reshape(-1, 3), axis=0, return_counts=True)
    np.testing.assert_array_equal(hist.colors, colors)  # key order is lexicographic RGB
    np.testing.assert_array_equal(hist.counts, counts)


def test_transparent_pixels_are_not_counted():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (9, 9, 9)  # hidden under alpha = 0
    alpha = np.array([[False, True], [True, True]])
    hist = ColorHistogram(rgb, alpha)
    assert hist.colors.tolist() == [[0, 0, 0]]
    assert hist.n_opaque == 3


def test_pack_roundtrip():
    rgb = np.random.default_rng(1).integers(0, 256, (7, 9, 3)).astype(np.uint8)
    keys = pack_rgb(rgb)
    assert keys.dtype == np.uint32
    np.testing.assert_array_equal(unpack_keys(keys.ravel()).reshape(rgb.shape), rgb)


def test_label_pixels_full_and_preview():
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:, 3:] = (200, 10, 10)
    alpha = np.ones((4, 6), bool)
    alpha[0, 0] = False
    hist = ColorHistogram(rgb, alpha)
    color_labels = np.array([5, 7])  # (0,0,0) -> 5, (200,10,10) -> 7
    labels = hist.label_pixels(color_labels)
    assert labels.dtype == np.int16
    assert labels[0, 0] == -1 and labels[1, 0] == 5 and labels[2, 5] == 7
    index = hist.preview_index(3)  # 2 x 3 nearest-neighbour preview: rows 1, 3; columns 1, 3, 5
    assert index.shape == (2, 3)
    np.testing.assert_array_equal(np.append(color_labels, -1)[index], [[5, 7, 7], [5, 7, 7]])
    hist2 = ColorHistogram(rgb, ~np.eye(4, 6, 1, dtype=bool))  # (1, 2) is transparent
    np.testing.assert_array_equal(hist2.preview_index(6)[1, 2], -1)
    assert not index.flags.writeable
    np.testing.assert_array_equal(hist.preview_index(3), index)  # the same index each call


def test_a_histogram_never_changes_after_it_is_made():
    """Regression: the histogram filled a memo of tables as it was used, so a cache
    holding it had to measure it again and again. Now all of it is made at once."""
    rgb = np.full((2, 2, 3), 128, np.uint8)
    hist = ColorHistogram(rgb)
    before = dict(vars(hist))
    for space in ("rgb", "lab", "hsv"):
        hist.in_space(space)
    hist.preview_index(1)
    hist.label_pixels(np.zeros(hist.n_colors, np.int16))
    assert vars(hist).keys() == before.keys()
    assert all(vars(hist)[name] is value for name, value in before.items())
    for name in ("rgb", "keys", "counts", "colors", "weights"):
        assert not getattr(hist, name).flags.writeable, name
    assert rgb.flags.writeable  # the caller's array keeps its flags
    assert not hist.features("lab").flags.writeable


def test_features_in_a_space_are_complete_when_made():
    rng = np.random.default_rng(0)
    many = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)  # ~90,000 distinct colours
    features = ColorHistogram(many).in_space("lab")
    assert features.color_space == "lab" and len(features.summaries) == 3
    sizes = [points.shape[0] for points, _ in features.summaries]
    assert sizes == sorted(sizes) and sizes[-1] <= features.n_colors
    for points, weights in features.summaries:  # every summary holds every pixel's weight
        assert weights.sum() == features.weights.sum() == 300 * 300
        assert not points.flags.writeable and not weights.flags.writeable
    few = ColorHistogram(np.full((2, 2, 3), 7, np.uint8)).in_space("rgb")
    assert few.summaries == ()  # few colours: k-means runs on them directly


@pytest.mark.parametrize(
    ("rgb", "match"),
    [
        (np.zeros((2, 2), np.uint8), r"shape \(height, width, 3\)"),
        (np.zeros((2, 2, 3), np.float32), "uint8"),
        (np.zeros((0, 2, 3), np.uint8), "no pixels"),
    ],
)
def test_bad_arrays(rgb, match):
    with pytest.raises(ImageError, match=match):
        ColorHistogram(rgb)
