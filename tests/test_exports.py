"""The public surface of kseg is exactly the intended one, and the core never loads the page."""

import pathlib
import pkgutil
import subprocess
import sys
import types

import kseg

PUBLIC = [
    "COLOR_SPACES", "CRITERIA", "ColorFeatures", "ColorHistogram", "DEFAULT_MAX_PIXELS",
    "ENGINES", "INITS", "Image", "ImageError", "KMeansResult", "MAX_K", "PaletteEntry",
    "Region", "RegionFigures", "SUPPORTED_FORMATS", "Segmentation", "Superpixels",
    "__version__", "downscale", "elbow", "export", "isolate", "kmeans", "load_image",
    "pick_regions", "read_size", "region_figures", "segment", "shrink", "suggest_k",
    "superpixels",
]  # fmt: skip
PUBLIC_MODULES = {"cli", "dashboard", "export", "samples"}


def test_exported_members():
    assert sorted(kseg.__all__) == sorted(PUBLIC)
    for name in kseg.__all__:
        assert hasattr(kseg, name), name


def test_no_public_name_hides_a_module():
    """Regression: kseg.segment, kseg.kmeans and kseg.superpixels were functions named
    like the modules that held them, so ``kseg.superpixels`` could mean either (a
    benchmark patched the function instead of the module)."""
    modules = {m.name for m in pkgutil.iter_modules(kseg.__path__)}
    public = {name for name in modules if not name.startswith("_")}
    assert public == PUBLIC_MODULES
    for name in kseg.__all__:
        value = getattr(kseg, name)
        if isinstance(value, types.ModuleType):
            assert value.__name__ == f"kseg.{name}", name
        else:
            assert name not in modules, f"kseg.{name} shares its name with a module"


def test_image_error_is_a_value_error():
    assert issubclass(kseg.ImageError, ValueError)


def loaded_in_a_fresh_interpreter(imports: str) -> list[str]:
    """Which of streamlit and plotly a new Python has loaded after ``import <imports>``."""
    code = (
        f"import sys, {imports}; print(*[m for m in ('streamlit', 'plotly') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_library_does_not_import_streamlit_or_plotly():
    assert loaded_in_a_fresh_interpreter("kseg, kseg.cli, kseg.export, kseg.samples") == []
    root = pathlib.Path(kseg.__file__).parent
    for path in root.rglob("*.py"):
        if root / "dashboard" in path.parents:
            continue  # the page: the one place that may
        text = path.read_text(encoding="utf-8")
        for name in ("streamlit", "plotly"):
            assert f"import {name}" not in text and f"from {name}" not in text, path


def test_the_page_package_loads_both():
    assert loaded_in_a_fresh_interpreter("kseg.dashboard.page") == ["streamlit", "plotly"]
