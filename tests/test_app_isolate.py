"""The Isolate tab's picks, driven headless through AppTest: regions from the link, their
figures and files, the click's arithmetic, "Smallest region (px)", a new image, bad picks.

The click itself (the component in its iframe) is tested in a real browser:
test_browser_isolate.py.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import PIL.Image
import pytest
import streamlit.testing.v1.app_test as app_test_module
from app_support import (
    DISC_BACKGROUND,
    DISC_SIZE,
    DISCS,
    disc_mask,
    metric,
    ok,
    png_bytes,
    start,
    two_discs,
    unescape,
    upload,
)
from streamlit.testing.v1 import AppTest

import kseg
from kseg import export
from kseg.dashboard.tabs.isolate import click_point
from kseg.samples import sample_path

COFFEE_PICKS = [(300, 200), (50, 50)]


@pytest.fixture
def served(monkeypatch):
    """The download buttons' files of every run from now on, by file name."""
    managers = []
    real = app_test_module.MediaFileManager

    class Recording(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            managers.append(self)

    monkeypatch.setattr(app_test_module, "MediaFileManager", Recording)

    def files() -> dict[str, bytes]:
        found = {}
        for manager in managers:
            for entry in manager._deferred_callables.values():
                data = entry["callable"]()
                found[entry["filename"]] = data.encode() if isinstance(data, str) else data
        return found

    return files


def picture(at: AppTest) -> np.ndarray:
    """The pixels of the clickable picture, as the component receives them."""
    (component,) = at.get("component_instance")
    args = json.loads(component.proto.json_args)
    assert args["width"] == "stretch" and args["cursor"] == "crosshair"
    head, data = args["src"].split(",", 1)
    assert head in ("data:image/png;base64", "data:image/jpeg;base64")
    return np.asarray(PIL.Image.open(io.BytesIO(base64.b64decode(data))))


def table(at: AppTest) -> list[dict]:
    (frame,) = at.dataframe  # the figures' table: the tab's only one
    return frame.value.to_dict("records")


def discs_page(**query) -> AppTest:
    """The two discs uploaded at k = 2, on the Isolate tab, with `query` added to the URL
    afterwards (the upload drops the picks of the image before)."""
    at = start({"k": "2"})
    ok(upload(at, png_bytes(two_discs()), "discs.png"))
    for key, value in query.items():
        at.query_params[key] = value
    at.session_state["tab"] = "Isolate"
    return ok(at.run())


def has(at: AppTest, key: str) -> bool:
    return any(getattr(e, "key", None) == key for e in at)


def point_text(x: int, y: int) -> str:
    return f"{x},{y}"


# ----------------------------------------------------------------------------- the link
def test_picks_in_the_link_give_their_regions_figures_and_files(served):
    query = {"tab": "Isolate", "pick": [point_text(*p) for p in COFFEE_PICKS]}
    at = start(query)
    assert not at.warning and not at.error
    seg = kseg.segment(kseg.load_image(sample_path("coffee")), 4)
    regions = kseg.pick_regions(seg, COFFEE_PICKS)
    figures = [kseg.region_figures(seg, r.mask) for r in regions]
    union = np.logical_or.reduce([r.mask for r in regions])
    rows = table(at)
    assert [r["Region"] for r in rows] == [1, 2]
    assert [r["Area (px)"] for r in rows] == [f.area for f in figures]
    assert [r["Mean colour"] for r in rows] == [f.hex for f in figures]
    assert [r["Perimeter (px)"] for r in rows] == [f.perimeter for f in figures]
    x, y, w, h = figures[0].bbox
    assert rows[0]["Box x, y"] == f"{x}, {y}" and rows[0]["Box w x h"] == f"{w} x {h}"
    files = served()
    stem = "kseg-coffee-k4"
    assert files[f"{stem}-regions-mask.png"] == export.mask_png(union)
    assert files[f"{stem}-cutout.png"] == export.cutout_png(seg, union)
    assert files[f"{stem}-regions.csv"].decode() == export.regions_csv(figures, COFFEE_PICKS)
    assert files[f"{stem}-regions.json"].decode() == export.regions_json(
        figures, COFFEE_PICKS, params=seg.params
    )
    assert at.code[0].value == export.isolate_command(
        seg.params, COFFEE_PICKS, source_name="coffee.jpg", params_name=f"{stem}-params.json"
    )
    # The picks stay in the link as they came, and the picture shows them.
    assert at.query_params["pick"] == ["300,200", "50,50"]
    shown = picture(at)
    assert shown.shape[:2] == (800, 1200)  # enlarged twice: crisp outlines, no blur


def test_the_full_size_cut_out_and_its_command(served):
    query = {"tab": "Isolate", "pick": "300,200", "cutout_full": "true"}
    at = start(query)
    assert at.checkbox(key="cutout_full").value is True
    seg = kseg.segment(kseg.load_image(sample_path("coffee")), 4)
    (region,) = kseg.pick_regions(seg, [(300, 200)])
    cutout = PIL.Image.open(io.BytesIO(served()["kseg-coffee-k4-cutout.png"]))
    assert cutout.size == (600, 400) and cutout.mode == "RGBA"
    assert "--full-size -o OUTDIR" in at.code[0].value
    ok(at.checkbox(key="cutout_full").uncheck().run())
    assert "cutout_full" not in at.query_params and "--full-size" not in at.code[0].value
    assert region.mask.sum() == table(at)[0]["Area (px)"]


def test_a_pick_on_a_disc_gives_that_disc_alone_with_its_hole_filled(served):
    (cx0, cy0, _), (cx1, cy1, _) = DISCS
    at = discs_page(pick=point_text(cx1 - 20, cy1))
    (row,) = table(at)
    expected = disc_mask(1)
    assert row["Area (px)"] == int(expected.sum())
    mask = np.asarray(PIL.Image.open(io.BytesIO(served()["kseg-discs-k2-regions-mask.png"])))
    assert mask.shape == (DISC_SIZE[1], DISC_SIZE[0])
    assert np.array_equal(mask == 255, expected)
    # On the picture: the disc at full strength, the background dimmed to grey.
    shown = picture(at)
    assert shown.shape[:2] == (800, 1200)  # the 240 x 160 px picture enlarged 5 times

    def at(x: int, y: int) -> tuple[int, ...]:
        return tuple(shown[5 * y + 2, 5 * x + 2])

    assert at(cx1, cy1 + 20) == (230, 180, 40)
    assert at(cx1 + 8, cy1) == DISC_BACKGROUND  # the hole, filled: kept, not dimmed
    background = at(5, 5)
    assert max(background) < 60 and background[0] == background[2]  # grey, dimmed
    assert at(cx0, cy0) != (230, 180, 40)  # the other disc is dimmed


def test_clicks_add_regions_and_a_click_inside_one_drops_it():
    """What the picture's on_click does (the browser test clicks for real): the points
    of the regions still picked stay, in the link too."""
    (cx0, cy0, _), (cx1, cy1, _) = DISCS
    at = discs_page()
    assert not at.dataframe
    at.session_state["_picks"] = [(cx0, cy0), (cx1, cy1), (cx0 + 5, cy0 + 5)]
    at.session_state["_picked"] = True  # as after a click
    ok(at.run())
    (row,) = table(at)
    assert row["Area (px)"] == int(disc_mask(1).sum())
    assert at.query_params["pick"] == point_text(cx1, cy1)
    assert at.session_state["_picks"] == [(cx1, cy1)]
    ok(at.button(key="clear_picks").click().run())
    assert "pick" not in at.query_params and not at.get("download_button")
    assert at.session_state["_picks"] == []


@pytest.mark.parametrize(
    ("value", "point"),
    [
        ({"x": 0, "y": 0, "width": 300, "height": 200}, (0, 0)),
        ({"x": 150, "y": 100, "width": 300, "height": 200}, (300, 200)),  # half size shown
        ({"x": 299.5, "y": 199, "width": 300, "height": 200}, (599, 398)),
        ({"x": 300.4, "y": -2, "width": 300, "height": 200}, (599, 0)),  # clamped into range
        ({"x": 75, "y": 10, "width": 1200, "height": 800}, (37, 5)),  # shown larger
        ({"x": 1, "y": 1, "width": 0, "height": 0}, None),
        ({"x": 1}, None),
        (None, None),
    ],
)
def test_a_click_becomes_a_full_resolution_pixel(value, point):
    assert click_point(value, 600, 400) == point


# ----------------------------------------------------------------------------- settings
def test_smallest_region_reaches_the_segmentation_the_link_and_the_commands():
    at = start()
    assert at.number_input(key="min_region").value == 0
    ok(at.number_input(key="min_region").set_value(200).run())
    seg = kseg.segment(kseg.load_image(sample_path("coffee")), 4, min_region=200)
    assert seg.params["min_region"] == 200
    assert metric(at, "Mean colour error") == f"{seg.mean_error:.1f}"
    at.session_state["tab"] = "Downloads"
    ok(at.run())
    assert "--min-region 200" in at.code[0].value
    at.query_params["pick"] = "300,200"
    at.session_state["tab"] = "Isolate"
    ok(at.run())
    (region,) = kseg.pick_regions(seg, [(300, 200)])
    assert table(at)[0]["Area (px)"] == int(region.mask.sum())
    assert "--min-region 200" in at.code[0].value
    # Superpixels are whole regions already: their result and command go without it.
    at.session_state["tab"] = "Superpixels"
    ok(at.run())
    assert "--min-region" not in at.code[0].value
    # And a link brings it back (a bound widget: the browser writes it into the URL).
    assert start({"min_region": "200"}).number_input(key="min_region").value == 200


def test_smallest_region_removes_the_specks_a_pick_would_give():
    rgb = two_discs()
    rgb[10:12, 10:12] = (230, 180, 40)  # a 4-pixel speck of the discs' colour
    at = start({"k": "2"})
    ok(upload(at, png_bytes(rgb), "specks.png"))
    at.query_params["pick"] = "10,10"
    at.session_state["tab"] = "Isolate"
    ok(at.run())
    assert table(at)[0]["Area (px)"] == 4
    ok(at.number_input(key="min_region").set_value(10).run())
    # The speck joined the background, which is the region under the point now: all of
    # the picture, as the discs are holes in it (filled).
    assert table(at)[0]["Area (px)"] == DISC_SIZE[0] * DISC_SIZE[1]


# ----------------------------------------------------------------------------- images
def test_a_new_image_drops_the_picks_in_the_page_and_the_link():
    at = start({"tab": "Isolate", "pick": "300,200"})
    assert len(table(at)) == 1
    ok(at.selectbox(key="sample").set_value("retina").run())
    assert "pick" not in at.query_params
    assert not at.dataframe and at.session_state["_picks"] == []
    assert not at.warning
    # A pick on the new image, then an upload: dropped again.
    at.session_state["_picks"] = [(100, 100)]
    ok(at.run())
    assert at.query_params["pick"] == "100,100"
    ok(upload(at, png_bytes(two_discs()), "discs.png"))
    assert "pick" not in at.query_params and at.session_state["_picks"] == []


def test_bad_picks_in_the_link_are_said_and_the_page_goes_on():
    at = start({"tab": "Isolate", "pick": ["5000,10", "300,200", "abc", "1;2"]})
    warnings = [unescape(w.value) for w in at.warning]
    assert len(warnings) == 2
    assert warnings[0] == "3 picks in the link are not two whole numbers x,y and were left out."
    assert warnings[1].startswith("The point (5000, 10) is outside the image, which is 600 x 400")
    assert warnings[1].endswith("That pick was left out.")
    assert len(table(at)) == 1  # the good pick still counts
    assert at.query_params["pick"] == "300,200"  # and the link is mended
    ok(at.run())
    assert not at.warning


def test_a_pick_on_a_transparent_pixel_is_said_and_the_page_goes_on():
    rgba = np.dstack([two_discs(), np.full(two_discs().shape[:2], 255, np.uint8)])
    rgba[:20, :20, 3] = 0
    at = start({"k": "2"})
    ok(upload(at, png_bytes(rgba), "clear.png"))
    at.query_params["pick"] = ["5,5", point_text(*DISCS[0][:2])]
    at.session_state["tab"] = "Isolate"
    ok(at.run())
    (warning,) = at.warning
    assert unescape(warning.value) == (
        "The point (5, 5) is on a transparent pixel; pick a point on the picture. "
        "That pick was left out."
    )
    assert table(at)[0]["Area (px)"] == int(disc_mask(0).sum())
    assert at.query_params["pick"] == point_text(*DISCS[0][:2])
    # Transparent pixels show the page's checkerboard, drawn into the picture (the page's
    # CSS cannot reach into the component's iframe).
    shown = picture(at)
    assert shown.shape[2] == 3
    assert {tuple(shown[0, 0]), tuple(shown[0, 20])} == {(255, 255, 255), (212, 212, 212)}


def test_an_old_link_with_clusters_opens_on_whole_clusters():
    at = start({"tab": "Isolate", "isolate": ["2", "3"]})
    assert at.get_by_key("isolate_by").value == "Whole clusters"
    assert "Clusters 2, 3" in at.container(key="isolated").image[0].captions[0]
    assert "isolate_by" not in at.query_params  # the link says it already
    ok(at.get_by_key("isolate_by").set_value("Regions you click").run())
    assert at.query_params["isolate_by"] == "Regions you click"
    assert at.get("component_instance")
    # A fresh link with neither opens on regions.
    assert start({"tab": "Isolate"}).get_by_key("isolate_by").value == "Regions you click"
