"""Files made from a segmentation: label maps, palettes and run parameters."""

from __future__ import annotations

import csv
import io
import json

import cv2
import numpy as np
import PIL.Image
import pytest

import kseg
from kseg import export


@pytest.fixture(scope="module")
def quads() -> np.ndarray:
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, 10:] = (250, 10, 10)
    rgb[:5] = (10, 10, 250)
    rgb[15:, 20:] = (10, 250, 10)
    return rgb


def test_the_label_map_holds_cluster_numbers_and_shows_their_colours(quads):
    alpha = np.ones(quads.shape[:2], bool)
    alpha[0, 0] = False
    seg = kseg.segment(kseg.ColorHistogram(quads, alpha), 4)
    picture = PIL.Image.open(io.BytesIO(export.label_map_png(seg)))
    assert picture.mode == "P"
    values = np.asarray(picture)
    np.testing.assert_array_equal(values, seg.labels + 1)  # label i is cluster i + 1
    assert values[0, 0] == 0  # transparent: in no cluster
    shown = np.asarray(picture.convert("RGBA"))
    np.testing.assert_array_equal(shown, seg.segmented_image())
    assert shown[0, 0, 3] == 0


def test_more_than_255_clusters_give_a_16_bit_label_map():
    rgb = np.arange(300 * 3, dtype=np.uint16).reshape(15, 20, 3).astype(np.uint8)
    rgb[..., 0] = np.arange(300).reshape(15, 20) % 256
    rgb[..., 1] = np.arange(300).reshape(15, 20) // 256
    seg = kseg.segment(rgb, 256, attempts=1)
    values = cv2.imdecode(np.frombuffer(export.label_map_png(seg), np.uint8), -1)
    assert values.dtype == np.uint16
    np.testing.assert_array_equal(values, seg.labels + 1)


def test_palettes_number_clusters_from_1(quads):
    seg = kseg.segment(quads, 4)
    doc = json.loads(export.palette_json(seg))
    assert [c["cluster"] for c in doc["clusters"]] == [1, 2, 3, 4]
    rows = list(csv.DictReader(io.StringIO(export.palette_csv(seg))))
    assert [row["cluster"] for row in rows] == ["1", "2", "3", "4"]
    assert [row["hex"] for row in rows] == [c["hex"] for c in doc["clusters"]]


def test_an_older_palette_numbered_by_index_still_loads(quads):
    seg = kseg.segment(quads, 4)
    doc = json.loads(export.palette_json(seg))
    for i, entry in enumerate(doc["clusters"]):
        entry["index"] = i
        del entry["cluster"]
    doc["clusters"].reverse()  # read back in the order of their numbers
    centres = export.load_palette(json.dumps(doc), "rgb")
    np.testing.assert_allclose(centres, seg.centers, atol=1e-4)


def test_run_parameters_carry_the_starting_colours_for_init(quads):
    hexes = ["#0a0afa", "#fa0a0a", "#000000", "#0afa0a"]
    seg = kseg.segment(quads, 4, init=hexes, max_iter=0, color_space="hsv")
    doc = json.loads(export.params_json(seg, source_name="q.png", params_name="q-params.json"))
    assert doc["params"]["init"] == hexes
    assert "--init q-params.json" in doc["cli"]
    assert export.load_init(doc, "hsv") == hexes
    # A palette goes through load_palette: its centres, as before.
    palette = export.palette_json(seg)
    np.testing.assert_allclose(export.load_init(palette, "hsv"), seg.centers, atol=1e-4)


def test_the_command_asks_for_the_superpixels_it_was_made_from(quads):
    regions = kseg.superpixels(quads, 12, compactness=5.0)
    seg = kseg.segment(quads, 3, regions=regions, max_side=1600)
    command = export.cli_command(seg.params, source_name="q.png")
    assert "--max-side 1600 --regions 12 --region-compactness 5.0" in command
    assert "--region-max-iter 10 --region-color-space lab" in command


@pytest.mark.parametrize("bad", [["#12g456"] * 4, ["red"] * 4])
def test_hex_centres_are_checked_without_echoing_them(quads, bad):
    with pytest.raises(ValueError, match="#rrggbb") as info:
        kseg.segment(quads, 4, init=bad)
    assert bad[0] not in str(info.value)


def test_centres_given_as_numbers_are_kept_as_given(quads):
    """Regression: HSV centres were kept in params as HSV's cylinder coordinates, so
    starting again from them began somewhere else."""
    given = [[240.0, 96.0, 98.0], [0.0, 96.0, 98.0], [0.0, 0.0, 0.0], [120.0, 96.0, 98.0]]
    seg = kseg.segment(quads, 4, init=given, max_iter=0, color_space="hsv")
    assert seg.params["init"] == given
    again = export.load_init(json.loads(export.params_json(seg)), "hsv")
    redone = kseg.segment(quads, 4, init=again, max_iter=0, color_space="hsv")
    np.testing.assert_array_equal(redone.labels, seg.labels)


@pytest.fixture(scope="module")
def square():
    """A red 4 x 3 block on black in a 12 x 10 image; pixel (0, 0) transparent, hiding lime."""
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[2:5, 3:7] = (200, 10, 10)
    rgb[0, 0] = (0, 255, 0)
    alpha = np.ones((10, 12), bool)
    alpha[0, 0] = False
    seg = kseg.segment(kseg.ColorHistogram(rgb, alpha), 2)
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:7] = True
    return seg, rgb, mask


def decode(data: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(data)))


def test_the_mask_png_is_8_bit_grey_at_full_resolution(square):
    _, _, mask = square
    picture = PIL.Image.open(io.BytesIO(export.mask_png(mask)))
    assert picture.mode == "L" and picture.size == (12, 10)
    np.testing.assert_array_equal(np.asarray(picture), np.where(mask, 255, 0))
    with pytest.raises(ValueError, match="an \\(H, W\\) array"):
        export.mask_png(np.zeros((2, 2, 3), bool))


def test_the_cutout_is_the_original_inside_and_transparent_outside(square):
    seg, rgb, mask = square
    cut = decode(export.cutout_png(seg, mask))
    assert cut.shape == (3, 4, 4)  # cropped to the block's bounding box
    np.testing.assert_array_equal(cut[..., :3], rgb[2:5, 3:7])
    assert (cut[..., 3] == 255).all()
    whole = decode(export.cutout_png(seg, mask, crop=False))
    assert whole.shape == (10, 12, 4)
    np.testing.assert_array_equal(whole[2:5, 3:7], cut)
    outside = np.ones((10, 12), bool)
    outside[2:5, 3:7] = False
    assert not whole[outside].any()  # (0, 0, 0, 0) everywhere else


def test_a_transparent_pixel_stays_out_of_a_cutout_even_in_the_mask(square):
    seg, rgb, _ = square
    everything = np.ones((10, 12), bool)
    whole = decode(export.cutout_png(seg, everything))
    assert whole.shape == (10, 12, 4)
    assert whole[0, 0].tolist() == [0, 0, 0, 0]  # the hidden lime is gone
    np.testing.assert_array_equal(whole[1:, :, :3], rgb[1:])


@pytest.mark.parametrize(
    ("mask", "message"),
    [(np.zeros((10, 12), bool), "The mask is empty"), (np.ones((5, 5), bool), "5 x 5 pixels")],
)
def test_a_cutout_of_no_pixel_or_of_another_size_is_refused(square, mask, message):
    seg, _, _ = square
    with pytest.raises(ValueError, match=message):
        export.cutout_png(seg, mask)


def test_regions_as_json_and_csv_are_numbered_with_their_points(square):
    seg, _, mask = square
    other = np.zeros_like(mask)
    other[8:, :2] = True
    figures = [kseg.region_figures(seg, m) for m in (mask, other)]
    doc = json.loads(export.regions_json(figures, [(4, 3), (0, 9)], params=seg.params))
    assert doc["format"] == "kseg-regions/1" and doc["params"] == seg.params
    assert [r["region"] for r in doc["regions"]] == [1, 2]
    assert doc["regions"][0]["point"] == {"x": 4, "y": 3}
    first = doc["regions"][0]
    assert first["area"] == 12 and first["bbox"] == {"x": 3, "y": 2, "width": 4, "height": 3}
    assert first["hex"] == "#c80a0a" and first["perimeter"] == 14
    assert "point" not in json.loads(export.regions_json(figures))["regions"][0]
    rows = list(csv.DictReader(io.StringIO(export.regions_csv(figures, [(4, 3), (0, 9)]))))
    assert [row["region"] for row in rows] == ["1", "2"]
    assert (rows[1]["point_x"], rows[1]["point_y"]) == ("0", "9")
    assert rows[0]["area"] == "12" and rows[0]["bbox_width"] == "4" and rows[0]["r"] == "200"
    assert float(rows[0]["centroid_x"]) == pytest.approx(4.5)
    assert float(rows[0]["share"]) == pytest.approx(12 / 119, abs=1e-6)
    assert "point_x" not in export.regions_csv(figures).splitlines()[0]
    with pytest.raises(ValueError, match="one point per region"):
        export.regions_csv(figures, [(4, 3)])


def test_min_region_is_in_the_command_only_when_set(quads):
    plain = kseg.segment(quads, 4)
    assert "--min-region" not in export.cli_command(plain.params)
    cleaned = kseg.segment(quads, 4, min_region=3)
    assert "--min-region 3 -o OUTDIR" in export.cli_command(cleaned.params)
    doc = json.loads(export.params_json(cleaned))
    assert export.load_params(doc)["min_region"] == 3 and "--min-region 3" in doc["cli"]


def test_the_isolate_command_lists_the_points_in_order(quads):
    seg = kseg.segment(quads, 4, min_region=3)
    command = export.isolate_command(seg.params, [(12, 3), (0, 19)], source_name="q.png")
    assert command.startswith("kseg isolate q.png --at 12,3 --at 0,19 -k 4 --init k-means++")
    assert command.endswith("--min-region 3 -o OUTDIR")
    assert "--no-fill-holes" not in command and "--connectivity" not in command
    other = export.isolate_command(seg.params, [(1, 2)], fill_holes=False, connectivity=4)
    assert other.endswith("--no-fill-holes --connectivity 4 -o OUTDIR")
    for bad in ([], [(1.5, 2)], [(1, 2, 3)], ["ab"]):
        with pytest.raises(ValueError):
            export.isolate_command(seg.params, bad)
