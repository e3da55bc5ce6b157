"""Helpers shared by the benchmarks: photo-like test images and a machine summary.

The images are built from the bundled samples and kept in memory or a temporary
directory; they are never committed.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kseg.samples import sample_path  # noqa: E402

__all__ = [
    "ROOT",
    "decode_jpeg",
    "distinct_colors",
    "encode_jpeg",
    "load_sample_rgb",
    "load_average",
    "machine_summary",
    "now",
    "photo_like",
    "thread_pools",
]


def load_sample_rgb(name: str) -> np.ndarray:
    """A bundled sample photo as (H, W, 3) uint8 RGB."""
    bgr = cv2.imread(str(sample_path(name)), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def photo_like(name: str, size: tuple[int, int], *, sigma: float = 1.5, seed: int = 0):
    """A bundled photo cropped to the aspect of ``size`` (width, height), upscaled, plus noise.

    The crop is centred and the upscale bicubic (``cv2.INTER_CUBIC``); Gaussian
    noise of standard deviation ``sigma`` then gives the smooth upscale the
    colour variety of a real photo. Returns (height, width, 3) uint8 RGB.
    """
    width, height = size
    rgb = load_sample_rgb(name)
    src_h, src_w = rgb.shape[:2]
    if src_w * height > src_h * width:  # source is wider than the target: trim the sides
        keep = max(1, round(src_h * width / height))
        left = (src_w - keep) // 2
        rgb = rgb[:, left : left + keep]
    else:
        keep = max(1, round(src_w * height / width))
        top = (src_h - keep) // 2
        rgb = rgb[top : top + keep]
    big = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    out = np.empty_like(big)
    step = max(1, (1 << 22) // (width * 3))  # noise in strips of ~4 M values: no 24 MP float copy
    for top in range(0, height, step):
        strip = big[top : top + step].astype(np.float32)
        strip += rng.standard_normal(strip.shape, dtype=np.float32) * np.float32(sigma)
        np.clip(strip, 0, 255, out=strip)
        out[top : top + step] = np.rint(strip)
    return out


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """(H, W, 3) uint8 RGB as JPEG bytes (OpenCV's encoder, 4:2:0 chroma)."""
    ok, buffer = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("OpenCV could not encode the test image as JPEG.")
    return buffer.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> (H, W, 3) uint8 RGB, with OpenCV."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def distinct_colors(rgb: np.ndarray) -> int:
    """Number of distinct RGB colours, counted with plain numpy (independent of kseg)."""
    flat = rgb.reshape(-1, 3)
    keys = flat[:, 0].astype(np.uint32) << 16
    keys |= flat[:, 1].astype(np.uint32) << 8
    keys |= flat[:, 2]
    return int(np.count_nonzero(np.bincount(keys, minlength=1 << 24)))


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), or "?"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def machine_summary(pools: str | None = None) -> list[str]:
    """Lines describing the machine and library versions, for a benchmark's header.

    ``pools`` describes the BLAS and OpenMP thread pools, as :func:`thread_pools`
    returns it from the process that did the work; by default, this process's.
    """
    import numba
    import PIL

    cpu = cpu_name()
    versions = [
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads)",
        f"numba {numba.__version__}",
        f"Pillow {PIL.__version__}",
    ]
    try:
        import sklearn

        versions.append(f"scikit-learn {sklearn.__version__}")
    except ImportError:
        versions.append("scikit-learn not installed")
    return [
        f"Machine: {cpu}, {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
        f"{platform.system()} {platform.release()}.",
        "Versions: " + ", ".join(versions) + ".",
        "Thread pools (threadpoolctl): " + (pools or thread_pools()) + ".",
    ]


def now() -> str:
    """The local date and time, to the second, ISO 8601."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages: how busy the shared machine was."""
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def thread_pools() -> str:
    """The BLAS and OpenMP thread pools loaded in this process, and BLAS tuning variables."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    pools = []
    for info in threadpool_info():
        text = f"{info.get('internal_api', '?')} {info.get('version') or ''}".strip()
        text += f" ({_owner(info.get('filepath', ''))}, {info.get('num_threads', '?')} threads"
        if info.get("architecture"):
            text += f", kernel {info['architecture']}"
        pools.append(text + ")")
    tuning = [f"{name}={os.environ[name]}" for name in _BLAS_ENV if name in os.environ]
    summary = "; ".join(pools) or "none loaded"
    return summary + ("; environment: " + ", ".join(tuning) if tuning else "")


def _owner(filepath: str) -> str:
    """The installed package a shared library came with: ``.../numpy.libs/x.so`` -> numpy."""
    parts = Path(filepath).parts
    if "site-packages" in parts:
        package = parts[parts.index("site-packages") + 1]
        return package.removesuffix(".libs").split("-")[0]
    return Path(filepath).name or "?"


_BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
