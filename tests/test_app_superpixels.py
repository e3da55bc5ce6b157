"""The page's Superpixels tab, driven headless through Streamlit's AppTest.

SLIC superpixels of the photo (at most 1600 px on its longer side), and regions then
colours: k-means over the regions' mean colours with the sidebar's settings. Known
answers come from calling kseg directly on the same image. The page's caches live for
the whole test session; tests that need a cache miss upload bytes no other test uses.
"""

from __future__ import annotations

import json

import app_support
import numpy as np
import pytest
from app_support import QUAD_COLORS, metric, ok, png_bytes, quadrants
from streamlit.testing.v1 import AppTest

import kseg
from kseg.samples import sample_path

TAB = {"tab": "Superpixels"}
BOUNDARIES = "Boundaries over the original"
DOWNLOADS = {
    "sp_dl_segmented": "Segmented image (PNG)",
    "sp_dl_labels": "Label map (PNG)",
    "sp_dl_palette_json": "Palette (JSON)",
    "sp_dl_palette_csv": "Palette (CSV)",
    "sp_dl_params": "Run parameters (JSON)",
}


# ----------------------------------------------------------------------------- helpers
def start(query: dict[str, str] | None = None, **state) -> AppTest:
    """A fresh visitor on the Superpixels tab, with `query` in the URL and `state` preset."""
    return app_support.start({**TAB, **(query or {})}, **state)


def palette_hexes(at: AppTest) -> list[str]:
    (table,) = at.dataframe  # the tab's palette is the only table on the page
    return table.value["Hex"].tolist()


def shown(at: AppTest, container: str) -> tuple[str, str]:
    """Caption and media URL of the one image in a container of the tab."""
    (image,) = at.container(key=container).image
    return image.captions[0], image.value[0]


def upload(at: AppTest, pixels: np.ndarray) -> AppTest:
    return ok(app_support.upload(at, png_bytes(pixels), "p.png"))


@pytest.fixture(scope="module")
def coffee() -> kseg.Image:
    return kseg.load_image(sample_path("coffee"))


# ----------------------------------------------------------------------------- tests
def test_a_link_opens_the_tab_with_superpixels_regions_and_palette(coffee):
    at = start()
    regions = kseg.superpixels(coffee, 400)
    expected = kseg.segment(coffee, 4, regions=regions)
    assert shown(at, "sp_superpixels")[0] == f"{regions.n_regions} superpixels: mean colours"
    assert shown(at, "sp_segmented")[0] == "Regions then colours: 4 colours"
    assert metric(at, "Regions") == str(regions.n_regions)
    assert metric(at, "Size") == "600 x 400"
    assert metric(at, "Superpixel time").endswith(("ms", " s"))
    assert palette_hexes(at) == [e.hex for e in expected.palette()]
    assert not at.error and not at.warning and not at.info
    assert not any("scaled down" in c.value for c in at.caption)  # 600 x 400: used as it is


def test_the_number_of_superpixels_changes_the_region_count(coffee):
    at = start()
    before = metric(at, "Regions")
    ok(at.slider(key="sp_segments").set_value(100).run())
    after = metric(at, "Regions")
    assert after != before
    assert after == str(kseg.superpixels(coffee, 100).n_regions)
    assert shown(at, "sp_superpixels")[0].startswith(f"{after} superpixels")
    assert len(palette_hexes(at)) == 4


def test_a_link_sets_the_superpixel_controls(coffee):
    query = {
        "sp_segments": "200",
        "sp_compactness": "20.0",
        "sp_view": BOUNDARIES,
        "sp_show_3d": "true",
        "sp_cloud": "false",
        "sp_whole_cube": "true",
    }
    at = start(query)
    assert at.slider(key="sp_segments").value == 200
    assert at.slider(key="sp_compactness").value == 20.0
    assert at.radio(key="sp_view").value == BOUNDARIES
    assert at.session_state["sp_show_3d"] is True  # the 3D chart's expander is open
    assert at.toggle(key="sp_cloud").value is False
    assert at.toggle(key="sp_whole_cube").value is True
    spec = json.loads(at.get_by_key("sp_centers_3d").proto.spec)
    assert [t["name"] for t in spec["data"]] == ["centres"]  # no cloud
    assert spec["layout"]["scene"]["xaxis"]["range"] == [0, 255]  # the whole cube
    regions = kseg.superpixels(coffee, 200, compactness=20.0)
    assert metric(at, "Regions") == str(regions.n_regions)
    expected = kseg.segment(coffee, 4, regions=regions)
    assert palette_hexes(at) == [e.hex for e in expected.palette()]


@pytest.mark.parametrize(
    "query", [{"sp_segments": "abc"}, {"sp_segments": "99999"}, {"sp_compactness": "-1"},
              {"sp_compactness": "nan"}, {"sp_view": "nope"}, {"sp_show_3d": "yes"}],
    ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()),
)  # fmt: skip
def test_bad_superpixel_query_values_fall_back_to_defaults(query):
    at = start(query)
    assert at.slider(key="sp_segments").value == 400
    assert at.slider(key="sp_compactness").value == 10.0
    assert at.radio(key="sp_view").value == "Mean-colour fill"
    assert not at.session_state["sp_show_3d"]
    assert not at.error


def test_superpixel_settings_stay_in_the_link_on_other_tabs():
    """Only the open tab is drawn: its settings must outlive a visit to another tab,
    in the link and on the way back; a default setting leaves the link."""
    at = start()
    at.slider(key="sp_segments").set_value(200)
    at.slider(key="sp_compactness").set_value(12.5)
    ok(at.radio(key="sp_view").set_value(BOUNDARIES).run())
    at.session_state["sp_show_3d"] = True  # the visitor opens the 3D chart
    ok(at.run())
    at.toggle(key="sp_cloud").set_value(False)
    ok(at.toggle(key="sp_whole_cube").set_value(True).run())
    settings = {
        "sp_segments": "200",
        "sp_compactness": "12.5",
        "sp_view": BOUNDARIES,
        "sp_show_3d": "true",
        "sp_cloud": "false",
        "sp_whole_cube": "true",
    }
    assert {key: at.query_params.get(key) for key in settings} == settings
    at.session_state["tab"] = "Segment"
    ok(at.run())
    assert {key: at.query_params.get(key) for key in settings} == settings
    at.session_state["tab"] = "Superpixels"
    ok(at.run())
    assert at.slider(key="sp_segments").value == 200
    assert at.slider(key="sp_compactness").value == 12.5
    assert at.radio(key="sp_view").value == BOUNDARIES
    assert at.toggle(key="sp_cloud").value is False
    assert at.toggle(key="sp_whole_cube").value is True
    at.slider(key="sp_segments").set_value(400)
    at.slider(key="sp_compactness").set_value(10.0)
    ok(at.radio(key="sp_view").set_value("Mean-colour fill").run())
    at.toggle(key="sp_cloud").set_value(True)
    ok(at.toggle(key="sp_whole_cube").set_value(False).run())
    at.session_state["sp_show_3d"] = False
    ok(at.run())
    assert not any(key in at.query_params for key in settings), at.query_params


def test_the_view_switches_between_mean_colours_and_boundaries():
    at = start()
    fill_caption, fill_url = shown(at, "sp_superpixels")
    assert fill_caption.endswith("mean colours") and fill_url.endswith(".png")
    ok(at.radio(key="sp_view").set_value(BOUNDARIES).run())
    caption, url = shown(at, "sp_superpixels")
    assert caption.endswith("boundaries over the original")
    assert url.endswith(".jpg")  # a photo: JPEG
    assert caption.split()[0] == fill_caption.split()[0]  # the same superpixels
    ok(at.radio(key="sp_view").set_value("Mean-colour fill").run())
    assert shown(at, "sp_superpixels") == (fill_caption, fill_url)


def test_k_and_settings_come_from_the_sidebar_and_keep_the_superpixels(monkeypatch):
    calls = []
    real = kseg.superpixels

    def counting(image, *args, **kwargs):
        calls.append(image.shape)  # the page's one-time warm-up uses a 48 x 48 image
        return real(image, *args, **kwargs)

    monkeypatch.setattr(kseg, "superpixels", counting)
    at = start()
    pixels = np.random.default_rng(1).integers(0, 256, (90, 140, 3), dtype=np.uint8)
    upload(at, pixels)
    assert calls.count((90, 140)) == 1
    at.slider(key="k").set_value(6)
    at.radio(key="space").set_value("CIELAB")
    ok(at.number_input(key="seed").set_value(5).run())
    assert calls.count((90, 140)) == 1  # a new k or colour space reclusters the regions only
    regions = real(pixels, 400)
    expected = kseg.segment(pixels, 6, regions=regions, color_space="lab", seed=5)
    assert palette_hexes(at) == [e.hex for e in expected.palette()]
    assert shown(at, "sp_segmented")[0] == "Regions then colours: 6 colours"


def test_opencv_in_the_sidebar_says_the_regions_use_kseg_engine():
    at = start({"sample": "chelsea", "engine": "OpenCV"})
    assert len(at.info) == 1 and "kseg's engine" in at.info[0].value
    image = kseg.load_image(sample_path("chelsea"))
    expected = kseg.segment(image, 4, regions=kseg.superpixels(image, 400))
    assert palette_hexes(at) == [e.hex for e in expected.palette()]
    assert not at.error
    ok(at.radio(key="engine").set_value("kseg").run())
    assert not at.info


def test_the_downloads_are_offered_lazily():
    at = start()
    for key, label in DOWNLOADS.items():
        button = at.download_button(key=key)
        assert button.label == label
        assert button.proto.ignore_rerun  # on_click="ignore": made when clicked
    assert at.download_button(key="sp_dl_mask")


def test_isolate_and_the_lazy_3d_chart_show_the_regions_clusters():
    at = start({"sample": "retina"})
    assert at.container(key="sp_isolate").multiselect[0].value == [0]
    assert len(at.container(key="sp_isolated").image) == 1
    ok(at.container(key="sp_isolate").multiselect[0].set_value([1, 2]).run())
    assert "Clusters 2, 3" in shown(at, "sp_isolated")[0]
    assert not at.get("plotly_chart")  # drawn only once its expander is opened
    at.session_state["sp_show_3d"] = True
    ok(at.run())
    spec = json.loads(at.get_by_key("sp_centers_3d").proto.spec)
    assert spec["data"][-1]["marker"]["color"] == palette_hexes(at)


def test_an_upload_then_the_tab():
    at = app_support.start()  # opens on the Segment tab
    upload(at, quadrants(tweak=21))
    at.session_state["tab"] = "Superpixels"
    ok(at.run())
    assert metric(at, "Size") == "120 x 80"
    assert int(metric(at, "Regions")) > 4
    hexes = palette_hexes(at)
    assert len(hexes) == 4
    colours = sorted(tuple(int(h[i : i + 2], 16) for i in (1, 3, 5)) for h in hexes)
    # Every region lies inside one flat quadrant: the clusters are the quadrants' colours
    # (the one tweaked pixel moves its region's mean by at most a level).
    np.testing.assert_allclose(colours, sorted(QUAD_COLORS), atol=1)
    assert not at.error and not at.warning


def test_a_big_upload_works_on_a_1600_px_copy():
    at = start()
    rng = np.random.default_rng(2)
    pixels = np.repeat(np.repeat(quadrants(240, 120, tweak=22), 10, axis=0), 10, axis=1)
    pixels = np.clip(pixels + rng.normal(0, 4, pixels.shape), 0, 255).astype(np.uint8)
    upload(at, pixels)  # 2400 x 1200
    assert metric(at, "Size") == "1,600 x 800"
    assert any("scaled down" in c.value and "2,400 x 1,200" in c.value for c in at.caption)
    assert any("1,600 x 800 px" in c.value for c in at.caption)  # the files' size
    assert len(palette_hexes(at)) == 4


def test_a_transparent_upload_keeps_its_transparency():
    at = start()
    rgba = np.dstack([quadrants(tweak=23), np.full((80, 120), 255, np.uint8)])
    rgba[:20, :30, 3] = 0
    upload(at, rgba)
    assert shown(at, "sp_superpixels")[1].endswith(".png")
    ok(at.radio(key="sp_view").set_value(BOUNDARIES).run())
    assert shown(at, "sp_superpixels")[1].endswith(".png")  # PNG keeps the alpha
    counts = at.dataframe[0].value["Pixels"].tolist()
    assert sum(counts) == 80 * 120 - 20 * 30  # transparent pixels join no cluster
    assert not at.error
    # Regression: nothing on the tab said what the figures are of.
    notes = [c.value for c in at.caption if "of this photo is transparent" in c.value]
    assert len(notes) == 1 and "6.2 %" in notes[0] and "opaque pixels" in notes[0]
    assert "opaque pixels" in next(m.help for m in at.metric if m.label == "Mean colour error")


def test_the_figures_give_the_mean_colour_error_as_the_segment_tab_does():
    """Regression: "k-means compactness 4.95×10⁸" where the Segment tab says Mean colour
    error; compactness is in its help now, and the command line's engine is explained."""
    at = start()
    (error,) = [m for m in at.metric if m.label == "Mean colour error"]
    assert not any("compactness" in m.label for m in at.metric)
    value = float(error.value)
    assert 0 < value < 441 and error.value == f"{value:.1f}"
    assert "RGB distance (0 to 441)" in error.help and "compactness" in error.help
    assert not any("of this photo is transparent" in c.value for c in at.caption)
    assert any("kseg's engine is called `histogram`" in c.value for c in at.caption)
