"""The numpy twins of the superpixel kernels give exactly what the compiled kernels give.

kseg._jit hands out kseg._slic_np until numba has compiled kseg._slic, so a visitor's
superpixels must not depend on which one ran: every comparison here is exact
(np.array_equal), never approximate.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import kseg
from kseg import _jit, _slic, _slic_np, _superpixels
from kseg.samples import sample_path

KERNELS = ("_to_planes", "_assign_strip", "_enforce_connectivity", "_region_sums")


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A bundled photo resized to (height, width), with mild noise: real edges and texture."""
    bgr = cv2.imread(str(sample_path("chelsea")), cv2.IMREAD_COLOR)
    rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (width, height), cv2.INTER_AREA)
    noise = np.random.default_rng(seed).normal(0.0, 2.0, rgb.shape)
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def with_alpha(rgb: np.ndarray, seed: int = 0) -> SimpleNamespace:
    """The image with a transparent band and scattered transparent pixels."""
    alpha = np.random.default_rng(seed).random(rgb.shape[:2]) > 0.1
    alpha[:, : rgb.shape[1] // 5] = False
    alpha[0, -1] = True
    return SimpleNamespace(rgb=rgb, alpha=alpha)


def _copy(value):
    """A copy that keeps a read-only array read-only (numba compiles per flag)."""
    if isinstance(value, np.ndarray):
        out = value.copy()
        out.flags.writeable = value.flags.writeable
        return out
    return copy.copy(value)


def _assert_same(compiled, twin, where: str) -> None:
    if isinstance(compiled, np.ndarray):
        assert compiled.dtype == twin.dtype, where
        # equal_nan: rows a kernel does not write may hold np.empty's leftovers.
        assert np.array_equal(compiled, twin, equal_nan=compiled.dtype.kind == "f"), where
    else:
        assert compiled == twin, where


class Both:
    """Runs each kernel call compiled and as the twin (on copies); asserts equal results."""

    def __init__(self):
        self.calls = dict.fromkeys(KERNELS, 0)

    def __getattr__(self, name):
        compiled, twin = getattr(_slic, name), getattr(_slic_np, name)

        def both(*args):
            copies = [_copy(a) for a in args]
            result = compiled(*args)
            twin_result = twin(*copies)
            _assert_same(result, twin_result, f"{name} returned")
            for i, (a, b) in enumerate(zip(args, copies, strict=True)):
                if isinstance(a, np.ndarray):
                    _assert_same(a, b, f"{name} argument {i}")
            self.calls[name] += 1
            return result

        return both


@pytest.fixture
def both(monkeypatch):
    tee = Both()
    monkeypatch.setattr(_jit, "kernels", lambda group: tee)
    # One strip at a time: the copies are then taken while no other strip is written.
    monkeypatch.setattr(_superpixels, "_n_workers", lambda: 1)
    return tee


IMAGES = {
    "photo": lambda: photo(90, 130),
    "noise": lambda: noise(40, 57),
    "photo_alpha": lambda: with_alpha(photo(70, 90, seed=1)),
    "noise_alpha": lambda: with_alpha(noise(33, 47, seed=2), seed=3),
    "row": lambda: photo(1, 300),
    "column": lambda: photo(200, 1),
    "thin": lambda: noise(3, 200, seed=4),
    "tiny": lambda: noise(2, 2, seed=5),
}


@pytest.mark.parametrize("name", IMAGES)
@pytest.mark.parametrize(
    "options",
    [
        {"n_segments": 40},
        {"n_segments": 7, "compactness": 1.0},
        {"n_segments": 150, "compactness": 30.0, "color_space": "rgb"},
        {"n_segments": 60, "enforce_connectivity": False},
    ],
    ids=["lab40", "lab7-c1", "rgb150-c30", "no-connectivity"],
)
def test_every_kernel_call_matches(both, name, options):
    image, options = IMAGES[name](), dict(options)
    n_pixels = (image.rgb if hasattr(image, "rgb") else image).shape[:2]
    n_segments = min(options.pop("n_segments"), n_pixels[0] * n_pixels[1])
    kseg.superpixels(image, n_segments, **options)
    assert both.calls["_assign_strip"] > 0 and both.calls["_region_sums"] > 0


@pytest.mark.parametrize("shape,n_segments", [((240, 320), 400), ((120, 500), 25)])
def test_every_kernel_call_matches_on_larger_photos(both, shape, n_segments):
    kseg.superpixels(photo(*shape, seed=7), n_segments, max_iter=4)


def test_as_many_segments_as_pixels(both):
    kseg.superpixels(noise(12, 13, seed=8), 156)


def strip_inputs(height, width, centers, seed, step, alpha=None):
    rng = np.random.default_rng(seed)
    planes = [(rng.random((height, width)) * 60).astype(np.float32) for _ in range(3)]
    centers = np.asarray(centers, np.float32)
    ids = np.argsort(centers[:, 0], kind="stable").astype(np.int32)
    by_row = np.ascontiguousarray(centers[ids])
    if alpha is None:
        alpha = np.zeros((0, 0), np.uint8)
    alpha.flags.writeable = False
    return planes, alpha, np.float32(step), by_row, ids, centers


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("step", [1.5, 3.0, 4.7, 11.0])
def test_assign_strip_with_drifted_centres(seed, step):
    """Centres off the grid leave pixels no window reaches (the grid fallback), windows
    narrower than the 8 float32 lanes of the compiled sums, and ties."""
    height, width, n_rows, n_cols = 23, 31, 3, 4
    rng = np.random.default_rng(100 + seed)
    centers = np.column_stack(
        [
            rng.uniform(0, height - 1, n_rows * n_cols),
            rng.uniform(0, width - 1, n_rows * n_cols),
            rng.uniform(0, 60, (n_rows * n_cols, 3)),
        ]
    )
    centers[::5, 2:] = centers[1::5, 2:][: len(centers[::5])]  # equal colours: ties
    alpha = (rng.random((height, width)) > 0.2).astype(np.uint8) if seed % 2 else None
    planes, alpha, step, by_row, ids, centers = strip_inputs(
        height, width, centers, seed, step, alpha
    )
    for r0, r1 in [(0, height), (0, 7), (7, 16), (16, height)]:
        results = []
        for module in (_slic, _slic_np):
            labels = np.full((height, width), -7, np.int32)
            sums = np.zeros((len(centers), 6))
            module._assign_strip(
                *planes, alpha, r0, r1, step, by_row, ids, centers, n_rows, n_cols, labels, sums
            )
            results.append((labels, sums))
        assert np.array_equal(results[0][0], results[1][0])
        assert np.array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("min_size", [0, 1, 3, 8, 50])
def test_enforce_connectivity_on_fragmented_labels(seed, min_size):
    rng = np.random.default_rng(seed)
    height, width = rng.integers(1, 40, 2)
    labels = rng.integers(-1, 1 + seed, (height, width)).astype(np.int32)
    if seed % 3 == 0:  # blocks with holes, not only noise
        labels = np.repeat(np.repeat(labels[::4, ::4], 4, 0), 4, 1)[:height, :width].copy()
        labels[rng.random(labels.shape) < 0.05] = -1
    outs = []
    for module in (_slic, _slic_np):
        out = np.full_like(labels, 99)
        outs.append((module._enforce_connectivity(labels, min_size, out), out))
    assert outs[0][0] == outs[1][0]
    assert np.array_equal(outs[0][1], outs[1][1])


def test_enforce_connectivity_when_every_pixel_is_transparent():
    labels = np.full((4, 5), -1, np.int32)
    outs = [np.zeros_like(labels) for _ in range(2)]
    assert _slic._enforce_connectivity(labels, 3, outs[0]) == 0
    assert _slic_np._enforce_connectivity(labels, 3, outs[1]) == 0
    assert np.array_equal(*outs)


@pytest.mark.parametrize("seed", range(3))
def test_superpixels_the_same_with_either_kernels(monkeypatch, seed):
    """KSEG_KERNELS=numpy and KSEG_KERNELS=numba give the same Superpixels."""
    image = with_alpha(photo(150, 200, seed=seed), seed=seed) if seed else photo(150, 200)
    results = {}
    for mode in ("numba", "numpy"):
        monkeypatch.setenv("KSEG_KERNELS", mode)
        monkeypatch.setattr(_jit, "_compiled", {})
        results[mode] = kseg.superpixels(image, 90 + 40 * seed, compactness=5.0 + seed)
    a, b = results["numba"], results["numpy"]
    assert a.n_regions == b.n_regions
    for field in ("labels", "mean_colors", "sizes", "centroids"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_the_twin_warms_instantly_and_has_every_kernel():
    _slic_np.warm()
    for name in KERNELS:
        assert callable(getattr(_slic_np, name)), name
