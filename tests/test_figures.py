"""The page's charts (kseg.dashboard.charts) and the pictures the library draws
(kseg.downscale, kseg.isolate, kseg.export.segmented_png): known answers on tiny
synthetic images."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import PIL.Image
import plotly.graph_objects as go
import pytest
from images import QUAD_COLORS, quadrants

import kseg
from kseg import export
from kseg.dashboard import charts
from kseg.dashboard.text import big_number

# quadrants(60, 40): four flat colours of unequal size, so the palette order (by share)
# is known: COLORS[0] on [:, :30] (1200 pixels), [1] on [:24, 30:] (720), [2] on
# [24:, 30:50] (320), [3] on [24:, 50:] (160).
COLORS = np.array(QUAD_COLORS, np.uint8)


@pytest.fixture(scope="module")
def seg():
    return kseg.segment(quadrants(60, 40), 4, seed=0)


def spec(fig: go.Figure) -> dict:
    """The figure as the browser receives it (plotly's JSON)."""
    return json.loads(fig.to_json())


def values(array) -> np.ndarray:
    """A plotly JSON array: a list, or plotly's typed form {"dtype", "bdata"}."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array)


def painted(marker: dict, label: int) -> str:
    """The colour plotly gives `label` through the marker's colour scale (cmin..cmax)."""
    where = (label - marker["cmin"]) / (marker["cmax"] - marker["cmin"])
    stops = [(float(at), colour) for at, colour in marker["colorscale"]]
    return next(colour for at, colour in reversed(stops) if at <= where)


def hex_of(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb))


class TestCenters3D:
    def test_one_marker_per_centre_in_palette_order(self, seg):
        data = spec(charts.centers_3d(seg))["data"]
        assert len(data) == 1
        centres = data[0]
        assert centres["type"] == "scatter3d" and centres["name"] == "centres"
        assert centres["marker"]["color"] == [hex_of(c) for c in COLORS]
        np.testing.assert_array_equal(values(centres["x"]), COLORS[:, 0])
        np.testing.assert_array_equal(values(centres["y"]), COLORS[:, 1])
        np.testing.assert_array_equal(values(centres["z"]), COLORS[:, 2])

    def test_axes_fit_the_centres_unless_the_whole_cube_is_asked(self):
        """Regression: the axes always spanned 0..255, so close centres were one blob."""
        rgb = quadrants(60, 40, colours=[(100, 100, 100), (110, 100, 100), (100, 120, 100),
                                         (100, 100, 130)])  # fmt: skip
        near = kseg.segment(rgb, 4)
        scene = spec(charts.centers_3d(near))["layout"]["scene"]
        for axis, (low, high) in zip("xyz", [(100, 110), (100, 120), (100, 130)], strict=True):
            start, stop = scene[f"{axis}axis"]["range"]
            assert start < low and stop > high  # every centre inside, with a margin
            assert stop - start < 64  # and not the whole cube
        cube = spec(charts.centers_3d(near, whole_cube=True))["layout"]["scene"]
        assert all(cube[f"{a}axis"]["range"] == [0, 255] for a in "xyz")
        assert cube["xaxis"]["tickvals"] == [0, 64, 128, 192, 255]

    def test_axes_fit_the_cloud_too_and_stay_in_the_cube(self, seg):
        fig = charts.centers_3d(seg, cloud=500)
        scene = spec(fig)["layout"]["scene"]
        for axis in "xyz":
            drawn = np.concatenate([values(t[axis]) for t in spec(fig)["data"]])
            start, stop = scene[f"{axis}axis"]["range"]
            assert 0 <= start <= drawn.min() and drawn.max() <= stop <= 255

    def test_a_few_outlying_pixels_do_not_widen_the_axes(self):
        rgb = np.full((50, 50, 3), 120, np.uint8)
        rgb[:25] = (130, 120, 120)
        rgb[0, 0] = (250, 250, 250)  # one pixel far away, in the cloud but not a cluster
        near = kseg.segment(rgb, 2)
        scene = spec(charts.centers_3d(near, cloud=2500))["layout"]["scene"]
        start, stop = scene["xaxis"]["range"]
        assert start < 120 and 130 < stop < 160

    @pytest.mark.parametrize("space, named", [("rgb", None), ("lab", "CIELAB"), ("hsv", "HSV")])
    def test_the_title_says_the_axes_are_rgb_whatever_the_space(self, space, named):
        seg = kseg.segment(quadrants(60, 40), 4, color_space=space)
        title = spec(charts.centers_3d(seg))["layout"]["title"]["text"]
        assert "red, green, blue" in title
        assert (named in title) if named else ("found in" not in title)

    def test_the_title_gives_0_255_only_for_the_whole_cube(self, seg):
        """Regression: "(0-255)" while the axes ran only to 150-200."""
        assert "0-255" not in spec(charts.centers_3d(seg))["layout"]["title"]["text"]
        whole = spec(charts.centers_3d(seg, whole_cube=True))["layout"]["title"]["text"]
        assert whole.startswith("Axes: red, green, blue (0-255)")

    @pytest.mark.parametrize("space", ["rgb", "lab"])
    def test_the_toolbar_keeps_off_the_title(self, space):
        """Regression: on a phone plotly's toolbar covered "blue (0-255)": it now stands
        up the right edge, and a long title takes two short lines, each with room."""
        seg = kseg.segment(quadrants(60, 40), 4, color_space=space)
        layout = spec(charts.centers_3d(seg, whole_cube=True))["layout"]
        assert layout["modebar"]["orientation"] == "v"
        lines = layout["title"]["text"].split("<br>")
        assert all(len(line) <= 34 for line in lines)  # about 250 px at 13 px: fits 390
        assert layout["margin"]["t"] >= 16 + 20 * len(lines)

    def test_hover_numbers_clusters_from_one(self, seg):
        centres = spec(charts.centers_3d(seg))["data"][-1]
        assert [row[0] for row in centres["customdata"]] == [1, 2, 3, 4]
        assert "Cluster %{customdata[0]}" in centres["hovertemplate"]
        # Regression: "of the opaque pixels" for photos without any transparent pixel.
        assert " % of the pixels<" in centres["hovertemplate"]

    def test_marker_size_grows_with_share(self, seg):
        sizes = values(spec(charts.centers_3d(seg))["data"][0]["marker"]["size"])
        assert np.all(np.diff(sizes) < 0)  # shares are 1200, 720, 320, 160 pixels
        assert sizes.min() >= 8

    def test_axes_are_r_g_b_and_the_whole_cube_on_request(self, seg):
        scene = spec(charts.centers_3d(seg, whole_cube=True))["layout"]["scene"]
        for axis, title in zip(("xaxis", "yaxis", "zaxis"), "RGB", strict=True):
            assert scene[axis]["range"] == [0, 255]
            assert scene[axis]["title"]["text"] == title

    def test_cloud_points_sit_at_pixel_colours_painted_by_cluster(self, seg):
        data = spec(charts.centers_3d(seg, cloud=500, seed=1))["data"]
        assert [t["name"] for t in data] == ["pixels", "centres"]  # one cloud trace
        cloud = data[0]
        points = np.stack([values(cloud[a]) for a in "xyz"], axis=1)
        assert points.dtype == np.uint8 and len(points) == 500
        labels = values(cloud["marker"]["color"]).astype(int)
        # Flat quadrants: every pixel of cluster i has exactly colour i.
        np.testing.assert_array_equal(points, COLORS[labels])
        assert set(labels) == {0, 1, 2, 3}
        assert cloud["hoverinfo"] == "skip"
        # The stepped scale paints label i with cluster i's colour.
        for i in range(4):
            assert painted(cloud["marker"], i) == hex_of(COLORS[i])

    def test_cloud_is_capped_by_the_pixels_there_are(self):
        small = kseg.segment(quadrants(6, 4, split=(24, 30, 50)), 2)  # all COLORS[0]
        data = spec(charts.centers_3d(small, cloud=1000))["data"]
        assert sum(len(values(t["x"])) for t in data[:-1]) == 24

    def test_a_new_k_paints_the_same_sampled_pixels_anew(self):
        """The sample is made once per photo; each result only looks its labels up."""
        rgb = quadrants(60, 40)
        hist = kseg.ColorHistogram.from_image(rgb)
        two, four = (spec(charts.centers_3d(kseg.segment(hist, k), cloud=300))["data"][0]
                     for k in (2, 4))  # fmt: skip
        for axis in "xyz":
            np.testing.assert_array_equal(values(two[axis]), values(four[axis]))
        assert set(values(two["marker"]["color"])) == {0, 1}
        assert set(values(four["marker"]["color"])) == {0, 1, 2, 3}

    def test_revision_keeps_the_camera_while_it_stays_the_same(self, seg):
        assert "uirevision" not in spec(charts.centers_3d(seg))["layout"]
        assert spec(charts.centers_3d(seg, revision="abc"))["layout"]["uirevision"] == "abc"

    def test_cloud_is_reproducible_with_a_seed(self, seg):
        a = spec(charts.centers_3d(seg, cloud=100, seed=3))
        b = spec(charts.centers_3d(seg, cloud=100, seed=3))
        assert a == b

    def test_transparent_pixels_stay_out_of_the_cloud(self):
        rgb = quadrants(60, 40)
        alpha = np.ones(rgb.shape[:2], bool)
        alpha[:, :30] = False  # the red half is transparent
        image = kseg.Image.from_array(rgb, alpha)
        seg = kseg.segment(image, 3)
        data = spec(charts.centers_3d(seg, cloud=10_000))["data"]
        assert hex_of(COLORS[0]) not in data[-1]["marker"]["color"]
        assert len(values(data[0]["x"])) == 1200
        points = np.stack([values(data[0][a]) for a in "xyz"], axis=1)
        assert not (points == COLORS[0]).all(axis=1).any()
        assert " % of the opaque pixels<" in data[-1]["hovertemplate"]

    def test_lab_segmentation_is_drawn_in_rgb(self):
        seg = kseg.segment(quadrants(60, 40), 4, color_space="lab")
        colors = spec(charts.centers_3d(seg))["data"][0]["marker"]["color"]
        assert colors == [hex_of(c) for c in seg.centers_rgb]

    @pytest.mark.parametrize("cloud", [-1, 2.5, True, "100"])
    def test_bad_cloud_is_refused(self, seg, cloud):
        with pytest.raises(ValueError, match="cloud"):
            charts.centers_3d(seg, cloud=cloud)


class TestElbowChart:
    CURVE = {2: 1000.0, 3: 400.0, 4: 150.0, 5: 120.0, 6: 110.0}

    def test_curve_in_increasing_k_on_a_log_axis(self):
        # Keys out of order must come out sorted.
        shuffled = {k: self.CURVE[k] for k in (5, 2, 6, 3, 4)}
        out = spec(charts.elbow_chart(shuffled))
        curve = out["data"][0]
        assert curve["name"] == "compactness"
        assert values(curve["x"]).tolist() == [2, 3, 4, 5, 6]
        assert values(curve["y"]).tolist() == [1000.0, 400.0, 150.0, 120.0, 110.0]
        assert out["layout"]["yaxis"]["type"] == "log"

    def test_current_k_is_marked(self):
        data = spec(charts.elbow_chart(self.CURVE, current_k=5))["data"]
        current = [t for t in data if t["name"] == "current k"]
        assert len(current) == 1
        assert values(current[0]["x"]).tolist() == [5]
        assert values(current[0]["y"]).tolist() == [120.0]

    def test_current_k_outside_the_curve_is_not_marked(self):
        data = spec(charts.elbow_chart(self.CURVE, current_k=12))["data"]
        assert [t["name"] for t in data] == ["compactness"]

    def test_suggested_k_is_a_labelled_line(self):
        layout = spec(charts.elbow_chart(self.CURVE, suggested_k=4))["layout"]
        assert [s["x0"] for s in layout["shapes"]] == [4]
        assert [a["text"] for a in layout["annotations"]] == ["suggested k = 4"]

    def test_with_kseg_elbow_and_suggest_k(self):
        curve = kseg.elbow(quadrants(60, 40), range(2, 7), attempts=2)
        out = spec(charts.elbow_chart(curve, 4, kseg.suggest_k(curve)))
        assert len(values(out["data"][0]["x"])) == 5

    def test_ticks_and_hover_write_compactness_as_the_captions_do(self):
        """Regression: ticks "50M ... 1G" (an odd unit for a sum of squares) where the
        captions write "2.79×10⁸"."""
        curve = {2: 9.1e8, 3: 4.2e8, 4: 2.789e8, 5: 1.1e8, 6: 6.3e7}
        out = spec(charts.elbow_chart(curve))
        ticks = out["layout"]["yaxis"]["ticktext"]
        assert ticks == ["5\u00d710\u2077", "1\u00d710\u2078", "2\u00d710\u2078",
                         "5\u00d710\u2078", "1\u00d710\u2079"]  # fmt: skip
        assert out["data"][0]["text"][2] == big_number(2.789e8) == "2.79\u00d710\u2078"

    def test_empty_curve_is_refused(self):
        with pytest.raises(ValueError, match="empty"):
            charts.elbow_chart({})


class TestSegmentedPng:
    def test_same_pixels_as_segmented_image_in_palette_mode(self, seg):
        picture = PIL.Image.open(io.BytesIO(export.segmented_png(seg)))
        assert picture.mode == "P" and picture.size == (60, 40)
        np.testing.assert_array_equal(np.asarray(picture.convert("RGB")), seg.segmented_image())

    def test_preview_size(self):
        big = np.repeat(np.repeat(quadrants(60, 40), 10, 0), 10, 1)
        seg = kseg.segment(big, 4)
        picture = PIL.Image.open(io.BytesIO(export.segmented_png(seg, 120)))
        assert picture.size == (120, 80)
        np.testing.assert_array_equal(np.asarray(picture.convert("RGB")), seg.segmented_image(120))

    def test_transparent_pixels_stay_transparent(self):
        rgb = quadrants(60, 40)
        alpha = np.ones(rgb.shape[:2], bool)
        alpha[:5, :7] = False
        seg = kseg.segment(kseg.Image.from_array(rgb, alpha), 4)
        picture = PIL.Image.open(io.BytesIO(export.segmented_png(seg)))
        rgba = np.asarray(picture.convert("RGBA"))
        np.testing.assert_array_equal(rgba, seg.segmented_image())
        assert (rgba[:5, :7, 3] == 0).all() and (rgba[5:, :, 3] == 255).all()

    def test_opaque_pictures_have_no_transparency(self, seg):
        picture = PIL.Image.open(io.BytesIO(export.segmented_png(seg)))
        assert "transparency" not in picture.info

    def test_k_of_255_fits_and_uses_every_palette_entry(self):
        rng = np.random.default_rng(0)
        keys = rng.choice(1 << 24, size=255, replace=False)
        colours = np.stack([keys >> 16, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)
        rgb = colours[np.arange(255 * 4) % 255].reshape(30, 34, 3)
        seg = kseg.segment(rgb, 255, init=colours.astype(float), max_iter=0)
        picture = PIL.Image.open(io.BytesIO(export.segmented_png(seg)))
        np.testing.assert_array_equal(np.asarray(picture.convert("RGB")), seg.segmented_image())


class TestDownscale:
    def test_longer_side_is_capped_and_colours_kept(self):
        rgb = np.full((300, 500, 3), (10, 20, 30), np.uint8)
        out = kseg.downscale(rgb, max_side=100)
        assert out.shape == (60, 100, 3) and out.dtype == np.uint8
        assert (out == (10, 20, 30)).all()

    def test_small_images_are_copied_not_shared(self):
        rgb = quadrants(60, 40)
        out = kseg.downscale(rgb, max_side=1000)
        np.testing.assert_array_equal(out, rgb)
        out[:] = 0
        assert rgb.any()

    def test_alpha_becomes_a_fourth_channel(self):
        rgb = quadrants(60, 40)
        alpha = np.zeros(rgb.shape[:2], bool)
        alpha[:, :30] = True
        out = kseg.downscale(rgb, alpha, max_side=30)
        assert out.shape == (20, 30, 4)
        assert (out[:, :14, 3] == 255).all() and (out[:, 16:, 3] == 0).all()

    def test_read_only_input_is_fine(self):
        image = kseg.Image.from_array(quadrants(60, 40))
        assert kseg.downscale(image.rgb, max_side=12).shape == (8, 12, 3)


class TestIsolate:
    def test_chosen_clusters_keep_their_pixels_and_the_rest_is_dimmed(self, seg):
        rgb = quadrants(60, 40)
        out = kseg.isolate(seg, [1, 3], dim=0.2)
        keep = np.zeros(rgb.shape[:2], bool)
        keep[:24, 30:] = True  # cluster 1 (green)
        keep[24:, 50:] = True  # cluster 3 (white)
        np.testing.assert_array_equal(out[keep], rgb[keep])
        rest = out[~keep]
        assert (rest[:, 0] == rest[:, 1]).all() and (rest[:, 1] == rest[:, 2]).all()  # grey
        assert rest.max() <= 0.2 * 255 + 1

    def test_paint_uses_cluster_colours(self):
        rgb = quadrants(60, 40)
        rgb[0, 0] = (210, 30, 30)  # a slightly different red, still cluster 0
        seg = kseg.segment(rgb, 4)
        out = kseg.isolate(seg, [0], paint=True, dim=0)
        assert (out[:, :30] == seg.centers_rgb[0]).all()
        assert (out[:, 30:] == 0).all()

    def test_nothing_chosen_dims_everything(self, seg):
        out = kseg.isolate(seg, [], dim=1.0)
        assert (out[..., 0] == out[..., 1]).all()

    def test_preview_size(self):
        seg = kseg.segment(np.repeat(np.repeat(quadrants(60, 40), 10, 0), 10, 1), 4)
        assert kseg.isolate(seg, [0], max_side=120).shape == (80, 120, 3)
        assert kseg.isolate(seg, [0], max_side=None).shape == (400, 600, 3)

    def test_transparent_pixels_stay_transparent_rgba(self):
        """Regression: kseg.isolate painted transparent pixels black, so the Isolate tab
        showed half a transparent photo as a black area instead of as transparency."""
        rgb = quadrants(60, 40)
        alpha = np.ones(rgb.shape[:2], bool)
        alpha[:, :10] = False
        seg = kseg.segment(kseg.Image.from_array(rgb, alpha), 4)
        for paint in (False, True):
            out = kseg.isolate(seg, [0], dim=0.5, paint=paint)
            assert out.shape == (40, 60, 4)
            assert (out[~alpha] == 0).all()  # alpha 0, and no stored colour shows
            assert (out[alpha][:, 3] == 255).all()
        out = kseg.isolate(seg, [0], dim=0.5)
        np.testing.assert_array_equal(out[:, 10:30, :3], rgb[:, 10:30])  # cluster 0 as it is

    def test_bad_cluster_and_dim_are_refused(self, seg):
        with pytest.raises(ValueError, match="does not exist"):
            kseg.isolate(seg, [4])
        with pytest.raises(ValueError, match="dim"):
            kseg.isolate(seg, [0], dim=1.5)


class TestSwatchUrl:
    def test_svg_data_url_of_the_colour(self):
        url = charts.swatch_url("#1a2B3c")
        prefix = "data:image/svg+xml;base64,"
        assert url.startswith(prefix)
        svg = base64.b64decode(url[len(prefix) :]).decode("ascii")
        assert svg.startswith("<svg") and 'fill="#1a2B3c"' in svg

    @pytest.mark.parametrize(
        "text", ["red", "#12345", "#1234567", '#123456"/><script>', "123456", None]
    )
    def test_anything_but_a_hex_colour_is_refused(self, text):
        with pytest.raises(ValueError, match="#rrggbb"):
            charts.swatch_url(text)
