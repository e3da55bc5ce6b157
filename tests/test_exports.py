"""The public surface of kseg is exactly the intended one, and kseg never imports streamlit."""

import pathlib
import subprocess
import sys

import kseg


def test_exported_members():
    assert sorted(kseg.__all__) == sorted(
        [
            "COLOR_SPACES", "ColorHistogram", "DEFAULT_MAX_PIXELS", "Image", "ImageError",
            "KMeansResult", "KSegWarning", "PaletteEntry", "SUPPORTED_FORMATS", "Segmentation",
            "Superpixels", "__version__", "elbow", "kmeans", "load_image", "read_size", "segment",
            "suggest_k", "superpixels",
        ]
    )  # fmt: skip
    for name in kseg.__all__:
        assert hasattr(kseg, name), name


def test_image_error_is_a_value_error():
    assert issubclass(kseg.ImageError, ValueError)


def test_library_does_not_import_streamlit():
    code = "import sys, kseg, kseg.cli, kseg.export; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    for path in pathlib.Path(kseg.__file__).parent.rglob("*.py"):
        assert "import streamlit" not in path.read_text(encoding="utf-8"), path
