"""kseg.segment: known answers, equality with per-pixel Lloyd, parity with cv2.kmeans."""

import cv2
import images
import numpy as np
import pytest

import kseg
from kseg import ColorHistogram, ImageError, segment
from kseg._spaces import to_features
from kseg.samples import sample_path

QUADRANT_COLORS = [(220, 30, 30), (30, 200, 40), (20, 40, 210), (240, 240, 240)]


def quadrants(size=40, jitter=0, noise=0.0):
    """size x size, QUADRANT_COLORS in four equal quadrants (top left, top right, bottom
    left, bottom right), with uniform integer `jitter` or Gaussian `noise` (seed 0)."""
    half = size // 2
    return images.quadrants(
        size, size, split=(half, half), colours=QUADRANT_COLORS, jitter=jitter, noise=noise
    )


@pytest.fixture(scope="module")
def coffee():
    return kseg.load_image(sample_path("coffee"))


@pytest.mark.parametrize("space", ["rgb", "lab", "hsv"])
@pytest.mark.parametrize("engine", ["histogram", "opencv"])
def test_four_quadrants_recovered(space, engine):
    rgb = quadrants(jitter=6)
    seg = segment(rgb, 4, color_space=space, engine=engine)
    labels = seg.labels
    for r, c in [(0, 0), (0, 20), (20, 0), (20, 20)]:
        block = labels[r : r + 20, c : c + 20]
        assert (block == block[0, 0]).all()
    assert len({labels[0, 0], labels[0, 20], labels[20, 0], labels[20, 20]}) == 4
    got = {tuple(c) for c in seg.centers_rgb.tolist()}
    for color in QUADRANT_COLORS:  # each centre within a couple of levels of the true colour
        assert min(np.abs(np.subtract(color, g)).max() for g in got) <= 3
    np.testing.assert_allclose(seg.shares, [0.25] * 4)


def test_segmented_image_has_k_colours_and_matches_labels():
    seg = segment(quadrants(jitter=10), 3, seed=1)
    out = seg.segmented_image()
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, seg.centers_rgb[seg.labels])
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 3


def test_clusters_sorted_by_share():
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[:, :7] = (250, 250, 250)
    rgb[:, 7:9] = (250, 0, 0)
    seg = segment(rgb, 3)
    assert seg.counts.tolist() == [70, 20, 10]
    assert [e.hex for e in seg.palette()] == ["#fafafa", "#fa0000", "#000000"]
    assert seg.palette()[0].share == pytest.approx(0.7)


@pytest.mark.parametrize("space", ["rgb", "lab", "hsv"])
def test_histogram_engine_equals_per_pixel_lloyd(space):
    """From the same initial centres, the histogram engine is per-pixel Lloyd."""
    rgb = np.random.default_rng(3).integers(0, 256, (60, 50, 3)).astype(np.uint8)
    rgb[:30] //= 2
    X = to_features(rgb.reshape(-1, 3), space)
    start = X[[0, 700, 1400, 2100, 2900]]
    C = start.copy()
    for _ in range(15):
        labels = ((X[:, None] - C[None]) ** 2).sum(2).argmin(1)
        C = np.array([X[labels == j].mean(0) for j in range(5)])
    labels = ((X[:, None] - C[None]) ** 2).sum(2).argmin(1)
    compactness = ((X - C[labels]) ** 2).sum()
    init = kseg._spaces.features_to_centers(start, space)
    seg = segment(rgb, 5, init=init, max_iter=15, eps=0, criteria="max_iter", color_space=space)
    assert seg.compactness == pytest.approx(compactness, rel=1e-9)
    # same partition (clusters are renumbered by size)
    ours = seg.labels.ravel()
    pairs = set(zip(ours.tolist(), labels.tolist(), strict=True))
    assert len(pairs) == 5


def test_compactness_equals_recomputation(coffee):
    seg = segment(coffee, 6, color_space="lab")
    X = to_features(coffee.rgb.reshape(-1, 3), "lab")
    labels = seg.labels.ravel()
    assert seg.compactness == pytest.approx(((X - seg.centers[labels]) ** 2).sum(), rel=1e-9)


@pytest.mark.parametrize("k", [4, 8])
def test_compactness_at_least_as_good_as_cv2_kmeans(coffee, k):
    ours = segment(coffee, k)
    theirs = segment(coffee, k, engine="opencv")
    assert ours.compactness <= theirs.compactness * 1.001
    assert theirs.labels.shape == coffee.rgb.shape[:2]
    assert theirs.n_iter == -1


def test_same_seed_same_labels(coffee):
    a = segment(coffee, 5, init="random", seed=7)
    b = segment(coffee, 5, init="random", seed=7)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centers, b.centers)


def test_coarse_path_used_for_many_colours_and_still_good():
    """Above 20k distinct colours the attempts run on a coarse summary."""
    rgb = quadrants(size=200, noise=12)
    hist = ColorHistogram(rgb)
    assert hist.n_colors > 20_000
    seg = segment(hist, 4)
    exact = segment(hist, 4, engine="opencv")
    assert seg.compactness <= exact.compactness * 1.001


def test_fewer_colours_than_k_warns_plainly():
    rgb = np.zeros((5, 5, 3), np.uint8)
    rgb[2:] = (255, 255, 0)
    seg = segment(rgb, 10)
    assert seg.k == 2
    assert "only 2 distinct colours" in seg.warnings[0]
    assert np.isfinite(seg.centers).all() and seg.compactness == 0.0


def test_single_colour_image():
    seg = segment(np.full((3, 3, 3), 77, np.uint8), 4)
    assert seg.k == 1 and seg.centers_rgb.tolist() == [[77, 77, 77]]


def test_transparency_kept_and_hidden_colours_ignored():
    rgb = quadrants()
    alpha = np.ones(rgb.shape[:2], bool)
    alpha[:20, :20] = False  # the red quadrant is hidden
    image = kseg.Image.from_array(np.dstack([rgb, alpha.astype(np.uint8) * 255]))
    seg = segment(image, 4)
    assert seg.k == 3
    assert (220, 30, 30) not in {tuple(c) for c in seg.centers_rgb.tolist()}
    assert (seg.labels[:20, :20] == -1).all()
    out = seg.segmented_image()
    assert out.shape == (40, 40, 4)
    assert (out[:20, :20, 3] == 0).all() and (out[20:, :, 3] == 255).all()


def test_all_transparent_is_an_image_error():
    image = kseg.Image.from_array(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ImageError, match="fully transparent"):
        segment(image, 2)


def test_saved_palette_applies_unchanged(coffee):
    seg = segment(coffee, 5, color_space="lab")
    applied = segment(quadrants(), 5, init=seg.centers, max_iter=0, color_space="lab")
    assert applied.n_iter == 0
    # every centre used comes from the saved palette, unchanged
    saved = {tuple(np.round(c, 6)) for c in seg.centers}
    assert {tuple(np.round(c, 6)) for c in applied.centers} <= saved


@pytest.mark.parametrize("space", ["rgb", "lab", "hsv"])
def test_hsv_lab_centres_roundtrip_to_rgb(space):
    seg = segment(quadrants(), 4, color_space=space)
    got = sorted(map(tuple, seg.centers_rgb.tolist()))
    assert got == sorted(QUADRANT_COLORS)


def test_hsv_hue_wraps_around():
    """Hues 358 and 2 degrees are neighbours in the cylinder, far apart as numbers."""
    rgb = np.zeros((2, 10, 3), np.uint8)
    rgb[:, :5] = (255, 0, 9)  # hue ~358
    rgb[:, 5:] = (255, 9, 0)  # hue ~2
    rgb[1] = (0, 255, 255)  # cyan, hue 180
    seg = segment(rgb, 2, color_space="hsv")
    assert seg.labels[0, 0] == seg.labels[0, 9] != seg.labels[1, 0]


def test_preview_and_mask():
    seg = segment(quadrants(size=400), 4)
    small = seg.preview_labels(100)
    assert small.shape == (100, 100)
    np.testing.assert_array_equal(small[:50, :50], seg.labels[0, 0])
    mask = seg.mask([seg.labels[0, 0]], max_side=100)
    assert mask.dtype == bool and mask[:50, :50].all() and not mask[50:].any()
    with pytest.raises(ValueError, match="does not exist"):
        seg.mask(9)


def test_elbow_decreases_and_suggests():
    curve = kseg.elbow(quadrants(jitter=4), range(2, 8))
    values = list(curve.values())
    assert list(curve) == list(range(2, 8))
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert kseg.suggest_k(curve) == 4


FIVE_COLOURS = np.array([[220, 40, 40], [40, 180, 60], [40, 60, 220], [240, 230, 80], [30, 30, 30]])


def five_stripes(noise=8.0, seed=0):
    """Five well-separated colours in vertical stripes of 50 x 12 pixels, plus Gaussian noise."""
    labels = np.repeat(np.arange(5), 12)[None, :].repeat(50, axis=0)
    noisy = FIVE_COLOURS[labels] + np.random.default_rng(seed).normal(0, noise, (50, 60, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def up_to(curve, high):
    """The curve's k <= high: kseg.elbow computes each k alone (one seed), whatever the range."""
    return {k: value for k, value in curve.items() if k <= high}


@pytest.mark.parametrize("noise", [8.0, 20.0])
def test_suggest_k_finds_five_colours_whatever_the_range(noise):
    curve = kseg.elbow(five_stripes(noise), range(2, 33))
    assert [kseg.suggest_k(up_to(curve, high)) for high in (16, 24, 32)] == [5, 5, 5]


def test_suggest_k_on_a_photo_does_not_depend_on_the_range_end():
    """Regression (issue 10): the elbow was the k farthest below the chord from the first to
    the last k, so the range moved it: k = 6 for 2-16 and 10 for 2-32 on the same photo."""
    curve = kseg.elbow(kseg.load_image(sample_path("chelsea")), range(2, 33))
    assert kseg.suggest_k(up_to(curve, 16)) == kseg.suggest_k(curve)
    assert 4 <= kseg.suggest_k(curve) <= 10


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        ({2: 1000.0, 3: 400.0, 4: 100.0, 5: 95.0, 6: 91.0, 7: 88.0}, 4),
        ({2: 1000.0, 3: 400.0, 4: 100.0, 5: 95.0, 6: 91.0, 7: 88.0, 8: 1.0}, 8),  # 2nd elbow
        ({2: 1000.0, 3: 700.0, 4: 490.0}, 4),  # each step cuts 30 %: not flat yet
        ({2: 100.0, 3: 86.0, 4: 74.0}, 2),  # each step cuts 14 %: flat from the start
        ({3: 50.0, 4: 0.0, 5: 0.0}, 4),  # four distinct colours fit exactly
        ({2: 0.0, 3: 0.0}, 2),
        ({7: 12.5}, 7),
    ],
)
def test_suggest_k_known_answers(curve, expected):
    assert kseg.suggest_k(curve) == expected


def test_suggest_k_refuses_an_empty_curve():
    with pytest.raises(ValueError, match="at least one k"):
        kseg.suggest_k({})


def test_elbow_gives_each_k_its_own_segment_compactness_in_the_order_asked():
    """kseg.elbow runs two k at a time; each value is still segment's for that k alone."""
    hist = ColorHistogram(quadrants(size=200, noise=12))  # the coarse path
    curve = kseg.elbow(hist, [6, 2, 4, 3], color_space="lab", seed=2)
    assert list(curve) == [6, 2, 4, 3]
    for k, value in curve.items():
        assert value == segment(hist, k, attempts=3, color_space="lab", seed=2).compactness


def test_elbow_reuses_given_colour_features():
    hist = kseg.ColorHistogram(quadrants(jitter=4))
    lab = hist.in_space("lab")
    given = kseg.elbow(hist, range(2, 6), color_space="lab", features=lab)
    assert given == kseg.elbow(hist, range(2, 6), color_space="lab")
    with pytest.raises(ValueError, match="features must be"):
        kseg.elbow(hist, range(2, 4), color_space="rgb", features=lab)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k must be at least 1"),
        ({"k": 300}, "at most 256"),
        ({"color_space": "cmyk"}, "color_space must be one of"),
        ({"engine": "gpu"}, "engine must be one of"),
        ({"init": np.zeros((3, 3))}, r"shape \(4, 3\)"),
        ({"init": "kmeans"}, "init must be one of"),
        ({"seed": -1}, "seed must be at least 0"),
    ],
)
def test_bad_parameters(kwargs, match):
    args = {"k": 4} | kwargs
    with pytest.raises(ValueError, match=match):
        segment(quadrants(), args.pop("k"), **args)


def test_opencv_engine_with_given_centres():
    init = np.array(QUADRANT_COLORS, float)
    seg = segment(quadrants(jitter=3), 4, init=init, engine="opencv", max_iter=5)
    assert seg.k == 4
    got = sorted(map(tuple, seg.centers_rgb.tolist()))
    assert np.abs(np.subtract(got, sorted(QUADRANT_COLORS))).max() <= 2


def test_opencv_engine_paints_like_the_recipe(coffee):
    """The recipe paints centers[labels]; the opencv engine's image is the same."""
    seg = segment(coffee, 3, engine="opencv", attempts=1)
    data = coffee.rgb.reshape(-1, 3).astype(np.float32)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.1)
    cv2.setRNGSeed(0)
    _, labels, centers = cv2.kmeans(data, 3, None, crit, 1, cv2.KMEANS_PP_CENTERS)
    recipe = np.clip(np.rint(centers), 0, 255).astype(np.uint8)[labels.ravel()]
    np.testing.assert_array_equal(seg.segmented_image().reshape(-1, 3), recipe)


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_regions_then_colours(coffee, space):
    """Every superpixel goes whole into one cluster; compactness is over all pixels."""
    from kseg._superpixels import superpixels

    sp = superpixels(coffee, 300)
    seg = segment(coffee, 5, regions=sp, color_space=space)
    labels = seg.labels
    for region in range(0, sp.n_regions, 7):
        assert len(np.unique(labels[sp.labels == region])) == 1
    X = to_features(coffee.rgb.reshape(-1, 3), space)
    recomputed = ((X - seg.centers[labels.ravel()]) ** 2).sum()
    assert seg.compactness == pytest.approx(recomputed, rel=1e-6)
    # The request, not what SLIC found (Regression, issue 10: the command said --regions
    # with the number found, so it ran SLIC for another count and gave another result).
    assert sp.n_regions != 300
    assert seg.params["regions"] == 300
    assert seg.params["region_compactness"] == 10.0
    assert seg.params["region_max_iter"] == 10
    assert seg.params["region_color_space"] == "lab"
    # constrained to whole regions, it cannot beat free colour clustering
    assert seg.compactness >= segment(coffee, 5, color_space=space).compactness


def test_regions_on_flat_quadrants_recover_them():
    from kseg._superpixels import superpixels

    rgb = quadrants(120, jitter=5)
    seg = segment(rgb, 4, regions=superpixels(rgb, 36))
    for r, c in [(0, 0), (0, 60), (60, 0), (60, 60)]:
        block = seg.labels[r : r + 60, c : c + 60]
        assert (block == block[0, 0]).all()


def test_regions_must_match_the_image():
    from kseg._superpixels import superpixels

    sp = superpixels(quadrants(size=60), 16)
    with pytest.raises(ValueError, match="same image"):
        segment(quadrants(size=40), 3, regions=sp)
    with pytest.raises(ValueError, match="histogram engine"):
        segment(quadrants(size=60), 3, regions=sp, engine="opencv")


# ------------------------------------------------------------ mean_error and n_iter_total
TWO_BY_TWO = np.array([[[0, 0, 0], [0, 0, 10]], [[200, 0, 0], [200, 0, 0]]], np.uint8)


@pytest.mark.parametrize("engine", ["histogram", "opencv"])
def test_mean_error_on_four_known_pixels(engine):
    """Two dark pixels 5 levels from their centre (0, 0, 5), two red ones on theirs."""
    seg = segment(TWO_BY_TWO, 2, engine=engine)
    assert seg.mean_error == pytest.approx(10 / 4)


def test_mean_error_in_lab_is_cie76_delta_e():
    seg = segment(TWO_BY_TWO, 2, color_space="lab")
    lab = to_features(TWO_BY_TWO.reshape(-1, 3), "lab")
    dark = (lab[0] + lab[1]) / 2
    expected = (np.linalg.norm(lab[0] - dark) + np.linalg.norm(lab[1] - dark)) / 4
    assert seg.mean_error == pytest.approx(expected, rel=1e-6)


def test_mean_error_in_hsv_is_measured_in_the_cylinder():
    """Black is (0, 0, 0); pure dark blue is (S cos 240, S sin 240, V) with S = 100."""
    seg = segment(TWO_BY_TWO, 2, color_space="hsv")
    blue = np.array([100 * np.cos(np.deg2rad(240)), 100 * np.sin(np.deg2rad(240)), 1000 / 255])
    assert seg.mean_error == pytest.approx(2 * np.linalg.norm(blue / 2) / 4, rel=1e-5)


def test_mean_error_ignores_transparent_pixels():
    rgb = np.array([[[0, 0, 0], [0, 0, 10], [255, 255, 255]]], np.uint8)
    alpha = np.array([[True, True, False]])
    seg = segment(ColorHistogram(rgb, alpha), 1)
    assert seg.mean_error == pytest.approx(5.0)


def test_mean_error_matches_a_per_pixel_recomputation(coffee):
    seg = segment(coffee, 6, color_space="lab")
    X = to_features(coffee.rgb.reshape(-1, 3), "lab")
    per_pixel = np.linalg.norm(X - seg.centers[seg.labels.ravel()], axis=1).mean()
    assert seg.mean_error == pytest.approx(per_pixel, rel=1e-9)
    assert seg.mean_error**2 <= seg.compactness / X.shape[0]  # mean <= root mean square


def test_n_iter_total_sums_every_attempt():
    one = segment(TWO_BY_TWO, 2, attempts=1)
    assert one.n_iter_total == one.n_iter >= 1
    many = segment(TWO_BY_TWO, 2, attempts=5)
    assert many.n_iter_total == 5 * many.n_iter  # every start converges alike here
    res = kseg.kmeans([[0.0], [1.0], [10.0], [11.0]], 2, attempts=4)
    assert res.n_iter <= res.n_iter_total <= 4 * 20


def test_n_iter_total_on_the_coarse_path_and_when_not_reported(coffee):
    seg = segment(coffee, 5, attempts=2)
    assert seg.n_iter_total > seg.n_iter >= 1
    assert segment(coffee, 3, engine="opencv").n_iter_total == -1
    applied = segment(coffee, 2, init=seg.centers[:2], max_iter=0)
    assert applied.n_iter_total == applied.n_iter == 0
