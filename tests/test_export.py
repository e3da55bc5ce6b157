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
