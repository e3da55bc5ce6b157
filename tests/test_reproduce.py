"""Every result the page shows comes again from the command its Downloads panel gives.

Each test drives the page with AppTest, takes the command line from the panel's code
block, runs it through ``kseg.cli.main`` in a folder holding the photo under the name
the command uses (and the page's Run parameters file, when the command reads it), and
compares the segmented PNG it writes with the page's download, pixel for pixel.
"""

from __future__ import annotations

import io
import json
import shlex

import app_support
import numpy as np
import PIL.Image
import pytest
from app_support import ok, png_bytes

import kseg
from kseg import cli, export
from kseg.dashboard.tabs import downloads, superpixels
from kseg.samples import sample_path


@pytest.fixture
def shown(monkeypatch) -> list[tuple]:
    """What each Downloads panel of the last run offered: (segmentation, stem, source)."""
    offered: list[tuple] = []
    for tab in (downloads, superpixels):
        real = tab.downloads_ui

        def recording(seg, stem, source_name, *, key_prefix="", _real=real):
            offered.append((key_prefix, seg, stem, source_name))
            return _real(seg, stem, source_name, key_prefix=key_prefix)

        monkeypatch.setattr(tab, "downloads_ui", recording)
    return offered


def decoded(png: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(png)).convert("RGBA"))


def reproduce(at, offered, tmp_path, monkeypatch, *, prefix="", photo=None) -> dict:
    """Run the panel's command as a person would; returns the parameters file's contents."""
    key_prefix, seg, stem, source_name = [o for o in offered if o[0] == prefix][-1]
    command = [c.value for c in at.code][-1 if prefix else 0]
    params_name = f"{stem}-params.json"
    params = json.loads(export.params_json(seg, source_name=source_name, params_name=params_name))
    assert params["cli"] == command  # the file and the page say the same command
    monkeypatch.chdir(tmp_path)
    (tmp_path / source_name).write_bytes(photo if photo is not None else b"")
    (tmp_path / params_name).write_text(
        export.params_json(seg, source_name=source_name, params_name=params_name)
    )
    words = shlex.split(command)
    assert words[:3] == ["kseg", "segment", source_name]
    out = tmp_path / "out"
    argv = [str(out) if w == "OUTDIR" else w for w in words[1:]]
    assert cli.main([*argv, "-q"]) == 0
    written = (out / f"{source_name.rsplit('.', 1)[0]}.segmented.png").read_bytes()
    np.testing.assert_array_equal(decoded(written), decoded(export.segmented_png(seg)))
    return params


def coffee_bytes() -> bytes:
    return sample_path("coffee").read_bytes()


@pytest.mark.parametrize(
    "query",
    [
        {"init": "k-means++", "space": "RGB"},
        {"init": "k-means++", "space": "CIELAB"},
        {"init": "k-means++", "space": "HSV"},
        {"init": "random", "space": "RGB", "seed": "3"},
    ],
    ids=["kmeans++-rgb", "kmeans++-lab", "kmeans++-hsv", "random"],
)
def test_named_starts_come_again_from_the_command(query, shown, tmp_path, monkeypatch):
    at = app_support.start({"tab": "Downloads", **query})
    reproduce(at, shown, tmp_path, monkeypatch, photo=coffee_bytes())


@pytest.mark.parametrize("space", ["RGB", "CIELAB", "HSV"])
@pytest.mark.parametrize("fixed", [False, True], ids=["moving", "fixed"])
def test_custom_centres_come_again_from_the_run_parameters(
    space, fixed, shown, tmp_path, monkeypatch
):
    """Regression (issue 10): the command said --init PALETTE.json, and the page's only
    palette was the result's, in the order of size: with "Keep these colours fixed"
    pixels as near to two colours went to another cluster (about 95 pixels off)."""
    query = {"tab": "Downloads", "init": "custom", "space": space, "k": "5"}
    at = app_support.start(query)
    at.color_picker(key="c1").set_value("#202020")  # not in the order of size
    at.color_picker(key="c2").set_value("#ffffff")
    at.color_picker(key="c3").set_value("#a03a18")
    ok(at.checkbox(key="fixed").set_value(fixed).run())
    params = reproduce(at, shown, tmp_path, monkeypatch, photo=coffee_bytes())
    stem = shown[-1][2]
    assert f"--init {stem}-params.json" in params["cli"]
    assert params["params"]["init"][:3] == ["#202020", "#ffffff", "#a03a18"]
    assert params["params"]["max_iter"] == (0 if fixed else 20)
    assert any(f"save it as {stem}-params.json" in c.value for c in at.caption)


def test_regions_then_colours_come_again_from_the_command(shown, tmp_path, monkeypatch):
    at = app_support.start({"tab": "Superpixels", "sp_segments": "200", "sp_compactness": "15"})
    params = reproduce(at, shown, tmp_path, monkeypatch, prefix="sp_", photo=coffee_bytes())
    words = shlex.split(params["cli"])
    assert words[words.index("--regions") + 1] == "200"  # asked for, not the number found
    assert words[words.index("--region-compactness") + 1] == "15.0"


def test_a_photo_larger_than_the_tabs_working_size_comes_again(shown, tmp_path, monkeypatch):
    """The tab works on the photo scaled to 1600 px; --max-side does the same."""
    rng = np.random.default_rng(10)
    photo = np.repeat(np.repeat(rng.integers(0, 256, (9, 170, 3), dtype=np.uint8), 10, 0), 10, 1)
    photo = np.clip(photo + rng.normal(0, 6, photo.shape), 0, 255).astype(np.uint8)  # 1700 wide
    data = png_bytes(photo)
    at = app_support.start({"tab": "Superpixels"})
    ok(app_support.upload(at, data, "big.png"))
    assert shown[-1][1].shape == (85, 1600)
    params = reproduce(at, shown, tmp_path, monkeypatch, prefix="sp_", photo=data)
    assert "--max-side 1600" in params["cli"]
    full = kseg.load_image(data)
    assert full.shape == (90, 1700)  # the command's photo is the full-size upload
