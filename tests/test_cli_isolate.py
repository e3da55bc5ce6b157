"""``kseg isolate`` and ``kseg segment --min-region``: files, pixels, exit codes.

Synthetic images with known objects: two discs of one colour on a background (one
with a hole), an RGBA image with a transparent area, a 1 x N image. The mask must be
exactly the disc under the point, the cut-out exactly the photo inside it.
"""

from __future__ import annotations

import json
import shlex

import cv2
import numpy as np
import PIL.Image
import pytest

import kseg
from kseg import cli, export

BACKGROUND, DISC, SPECK = (230, 230, 230), (200, 30, 30), (20, 40, 220)
LEFT, RIGHT, RADIUS, HOLE = (15, 20), (45, 20), 9, 3  # disc centres (x, y), radii


def disc(shape, centre, radius) -> np.ndarray:
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return np.hypot(cols - centre[0], rows - centre[1]) <= radius


@pytest.fixture(scope="module")
def discs(tmp_path_factory):
    """Two red discs on light grey, 60 x 40; the left one has a grey hole in its middle."""
    shape = (40, 60)
    rgb = np.zeros((*shape, 3), np.uint8)
    rgb[:] = BACKGROUND
    rgb[disc(shape, LEFT, RADIUS) | disc(shape, RIGHT, RADIUS)] = DISC
    rgb[disc(shape, LEFT, HOLE)] = BACKGROUND
    path = tmp_path_factory.mktemp("in") / "discs.png"
    path.write_bytes(export.encode_png(rgb))
    return path, rgb


def read_mask(path) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert pixels.dtype == np.uint8 and pixels.ndim == 2  # 8-bit grey
    assert set(np.unique(pixels).tolist()) <= {0, 255}
    return pixels == 255


def read_rgba(path) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert pixels.ndim == 3 and pixels.shape[2] == 4
    return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)


def read_labels(path) -> np.ndarray:
    """The cluster numbers of a label map PNG (a palette PNG: its raw values)."""
    return np.asarray(PIL.Image.open(path))


def at(x: int, y: int) -> str:
    return f"{x},{y}"


def isolate(source, out, *options: str) -> int:
    return cli.main(["isolate", str(source), "-k", "2", *options, "-o", str(out)])


def test_a_point_gives_exactly_its_disc_with_the_hole_filled(discs, tmp_path):
    source, rgb = discs
    out = tmp_path / "out"
    assert isolate(source, out, "--at", at(LEFT[0] + 6, LEFT[1])) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "discs.cutout.png",
        "discs.mask.png",
        "discs.regions.json",
    ]
    expected = disc(rgb.shape[:2], LEFT, RADIUS)
    np.testing.assert_array_equal(read_mask(out / "discs.mask.png"), expected)


def test_no_fill_holes_keeps_the_hole(discs, tmp_path):
    source, rgb = discs
    out = tmp_path / "out"
    assert isolate(source, out, "--at", at(LEFT[0] + 6, LEFT[1]), "--no-fill-holes") == 0
    ring = disc(rgb.shape[:2], LEFT, RADIUS) & ~disc(rgb.shape[:2], LEFT, HOLE)
    np.testing.assert_array_equal(read_mask(out / "discs.mask.png"), ring)


def test_the_cutout_is_the_photo_inside_the_mask_cropped_to_its_box(discs, tmp_path):
    source, rgb = discs
    out, full = tmp_path / "out", tmp_path / "full"
    point = at(*RIGHT)
    assert isolate(source, out, "--at", point) == 0
    assert isolate(source, full, "--at", point, "--full-size") == 0
    mask = read_mask(out / "discs.mask.png")
    np.testing.assert_array_equal(mask, disc(rgb.shape[:2], RIGHT, RADIUS))
    whole = read_rgba(full / "discs.cutout.png")
    assert whole.shape[:2] == rgb.shape[:2]
    np.testing.assert_array_equal(whole[..., 3], np.where(mask, 255, 0))
    np.testing.assert_array_equal(whole[mask, :3], rgb[mask])
    assert not whole[~mask].any()  # fully transparent (0, 0, 0, 0) outside
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    assert (cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1) == (2 * RADIUS + 1,) * 2
    np.testing.assert_array_equal(read_rgba(out / "discs.cutout.png"), whole[box])


def test_two_points_pick_both_discs_and_the_figures_name_each(discs, tmp_path):
    source, rgb = discs
    out = tmp_path / "out"
    points = [(LEFT[0] + 6, LEFT[1]), RIGHT]
    assert isolate(source, out, *[f"--at={x},{y}" for x, y in points]) == 0
    left, right = disc(rgb.shape[:2], LEFT, RADIUS), disc(rgb.shape[:2], RIGHT, RADIUS)
    np.testing.assert_array_equal(read_mask(out / "discs.mask.png"), left | right)
    doc = json.loads((out / "discs.regions.json").read_text())
    assert doc["params"]["k"] == 2
    assert [r["region"] for r in doc["regions"]] == [1, 2]
    assert [(r["point"]["x"], r["point"]["y"]) for r in doc["regions"]] == points
    seg = kseg.segment(kseg.load_image(source), 2)
    for entry, mask in zip(doc["regions"], (left, right), strict=True):
        figures = kseg.region_figures(seg, mask)
        assert {k: v for k, v in entry.items() if k not in ("region", "point")} == json.loads(
            json.dumps(figures.to_dict())
        )
        assert entry["area"] == int(mask.sum())  # the left disc's hole filled: grey in it
        assert entry["mean_rgb"] == np.round(rgb[mask].mean(axis=0)).astype(int).tolist()
        assert entry["bbox"]["width"] == entry["bbox"]["height"] == 2 * RADIUS + 1
    assert doc["regions"][1]["hex"] == "#c81e1e"
    whole = read_rgba(out / "discs.cutout.png")  # cropped to both discs together
    assert whole.shape[:2] == (2 * RADIUS + 1, RIGHT[0] - LEFT[0] + 2 * RADIUS + 1)


def test_a_second_point_in_a_picked_region_drops_it(discs, tmp_path, capsys):
    source, _ = discs
    out = tmp_path / "out"
    assert isolate(source, out, "--at", at(*RIGHT), "--at", at(RIGHT[0] + 3, 20)) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "pick no region" in err[0]
    assert not out.exists() or not any(out.iterdir())


def test_a_file_that_cannot_be_written_leaves_none_behind(discs, tmp_path, capsys):
    source, _ = discs
    out = tmp_path / "out"
    (out / "discs.cutout.png").mkdir(parents=True)  # written after the mask: it fails
    assert isolate(source, out, "--at", at(*RIGHT)) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"kseg: {source}: ")
    assert [p.name for p in out.iterdir()] == ["discs.cutout.png"]  # no mask left alone
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert isolate(source, blocked / "out", "--at", at(*RIGHT)) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "cannot create the output folder" in err[0]


@pytest.fixture(scope="module")
def glass(tmp_path_factory):
    """RGBA, 20 x 12: a red square on grey, a 2 x 2 transparent hole in the grey and the
    right quarter fully transparent (lime hidden under both)."""
    rgba = np.zeros((12, 20, 4), np.uint8)
    rgba[:] = (*BACKGROUND, 255)
    rgba[3:9, 3:9] = (*DISC, 255)
    rgba[5:7, 11:13] = rgba[:, 15:] = (0, 255, 0, 0)
    path = tmp_path_factory.mktemp("in") / "glass.png"
    path.write_bytes(export.encode_png(rgba))
    return path, rgba


@pytest.mark.parametrize(("point", "words"), [((17, 5), "transparent"), ((20, 5), "outside")])
def test_a_bad_point_is_one_clear_line_and_no_file(glass, tmp_path, capsys, point, words):
    source, _ = glass
    out = tmp_path / "out"
    assert isolate(source, out, "--at", "1,1", f"--at={point[0]},{point[1]}") == 1
    seg = kseg.segment(kseg.load_image(source), 2)
    with pytest.raises(ValueError, match=words) as info:
        seg.region_at(*point)
    assert capsys.readouterr().err.splitlines() == [f"kseg: {source}: {info.value}"]
    assert not out.exists() or not any(out.iterdir())


def test_transparent_pixels_stay_out_of_the_mask_and_the_cutout(glass, tmp_path):
    source, rgba = glass
    opaque = rgba[..., 3] == 255
    grey = opaque.copy()
    grey[3:9, 3:9] = False
    # filled: the red square is a hole in the grey, the transparent hole is not
    for extra, expected in (([], opaque), (["--no-fill-holes"], grey)):
        out = tmp_path / f"out{len(extra)}"
        assert isolate(source, out, "--at", "0,0", "--full-size", *extra) == 0
        np.testing.assert_array_equal(read_mask(out / "glass.mask.png"), expected)
        cut = read_rgba(out / "glass.cutout.png")
        np.testing.assert_array_equal(cut[expected], rgba[expected])
        assert not cut[~expected].any()  # (0, 0, 0, 0): no hidden lime


def test_a_one_pixel_high_image(tmp_path):
    row = np.array([[BACKGROUND] * 3 + [DISC] * 2 + [BACKGROUND] * 4], np.uint8)
    source = tmp_path / "row.png"
    source.write_bytes(export.encode_png(row))
    out = tmp_path / "out"
    assert isolate(source, out, "--at", "8,0") == 0
    np.testing.assert_array_equal(read_mask(out / "row.mask.png")[0], [0] * 5 + [1] * 4)
    np.testing.assert_array_equal(read_rgba(out / "row.cutout.png")[0, :, :3], row[0, 5:])


def test_connectivity_4_does_not_cross_a_corner(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:] = BACKGROUND
    rgb[1:4, 1:4] = rgb[4:7, 4:7] = DISC  # two squares touching at one corner
    source = tmp_path / "corner.png"
    source.write_bytes(export.encode_png(rgb))
    squares = (rgb == DISC).all(axis=2)
    for connectivity, expected in (("8", squares), ("4", squares & (np.arange(8) < 4))):
        out = tmp_path / connectivity
        assert isolate(source, out, "--at", "2,2", "--connectivity", connectivity) == 0
        np.testing.assert_array_equal(read_mask(out / "corner.mask.png"), expected)


@pytest.mark.parametrize(
    "bad", ["37", "a,b", "1.5,2", "1,2,3", "", "<b>x</b>", "<b>1</b>,2", "9" * 40 + ",1"]
)
def test_a_malformed_point_is_a_usage_error_not_echoed(discs, tmp_path, capsys, bad):
    source, _ = discs
    assert isolate(source, tmp_path / "out", f"--at={bad}") == 2
    err = capsys.readouterr().err
    assert "argument --at: expected X,Y" in err and "Traceback" not in err
    assert not bad or bad not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "option", [["--connectivity", "<b>6</b>"], ["--min-region", "<b>x</b>"], ["-k", "<i>"]]
)
def test_a_bad_option_value_is_not_echoed(discs, tmp_path, capsys, option):
    source, _ = discs
    assert isolate(source, tmp_path / "out", "--at", "1,1", *option) == 2
    err = capsys.readouterr().err
    assert f"argument {option[0]}" in err and option[1] not in err


def test_the_point_is_required(discs, tmp_path, capsys):
    source, _ = discs
    assert cli.main(["isolate", str(source), "-o", str(tmp_path)]) == 2
    assert "--at" in capsys.readouterr().err


@pytest.fixture(scope="module")
def specks(tmp_path_factory):
    """48 x 32: a red disc on grey, with blue specks of 1-4 pixels inside and outside it."""
    shape = (32, 48)
    rgb = np.zeros((*shape, 3), np.uint8)
    rgb[:] = BACKGROUND
    rgb[disc(shape, (16, 16), 12)] = DISC
    for x, y, size in ((12, 14, 1), (18, 20, 2), (38, 6, 1), (40, 25, 2), (30, 12, 1)):
        rgb[y : y + size, x : x + size] = SPECK
    path = tmp_path_factory.mktemp("in") / "specks.png"
    path.write_bytes(export.encode_png(rgb))
    return path, rgb


def test_segment_min_region_gives_the_library_result(specks, tmp_path):
    source, _ = specks
    out = tmp_path / "out"
    argv = ["segment", str(source), "-k", "3", "--min-region", "5", "--labels", "-q"]
    assert cli.main([*argv, "-o", str(out)]) == 0
    image = kseg.load_image(source)
    expected = kseg.segment(image, 3, min_region=5)
    assert expected.params["min_region"] == 5
    labels = read_labels(out / "specks.labels.png")
    np.testing.assert_array_equal(labels, expected.labels + 1)
    # the option reached kseg: without it the specks keep a cluster of their own
    assert len(np.unique(kseg.segment(image, 3).labels)) == 3
    assert len(np.unique(labels)) == 2


def test_min_region_reaches_isolate(specks, tmp_path):
    source, rgb = specks
    full = disc(rgb.shape[:2], (16, 16), 12)
    for extra, expected in (
        ([], full & ~(rgb == SPECK).all(axis=2)),  # the specks are holes left open
        (["--min-region", "5"], full),  # the specks joined the disc's cluster
    ):
        out = tmp_path / f"out{len(extra)}"
        assert isolate(source, out, "-k", "3", "--at", "16,16", "--no-fill-holes", *extra) == 0
        np.testing.assert_array_equal(read_mask(out / "specks.mask.png"), expected)


def test_the_run_parameters_file_carries_min_region_to_the_command(specks, tmp_path):
    source, _ = specks
    seg = kseg.segment(kseg.load_image(source), 3, seed=4, min_region=5)
    params = tmp_path / "params.json"
    params.write_text(export.params_json(seg, source_name=str(source), params_name=str(params)))
    doc = json.loads(params.read_text())
    assert doc["params"]["min_region"] == 5 and "--min-region 5" in doc["cli"]
    for argv in (
        shlex.split(doc["cli"])[1:],  # the command written in the file ...
        ["segment", str(source), "--params", str(params), "-o", "OUTDIR"],  # ... and the file
    ):
        out = tmp_path / str(len(argv))
        assert cli.main([str(out) if w == "OUTDIR" else w for w in [*argv, "--labels"]]) == 0
        labels = read_labels(out / "specks.labels.png")
        np.testing.assert_array_equal(labels, seg.labels + 1)


def test_options_given_beside_params_win(specks, tmp_path):
    source, _ = specks
    params = tmp_path / "params.json"
    params.write_text(export.params_json(kseg.segment(kseg.load_image(source), 3, min_region=5)))
    out = tmp_path / "out"
    argv = ["segment", str(source), "--params", str(params), "--min-region", "0", "--labels"]
    assert cli.main([*argv, "-o", str(out)]) == 0
    labels = read_labels(out / "specks.labels.png")
    assert len(np.unique(labels)) == 3  # the specks are back: --min-region 0 won


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"color_space": "<b>cmyk</b>"}, "color_space is not one of rgb, lab, hsv"),
        ({"max_iter": -1}, "max_iter: must be 0 or more"),
        ({"min_region": "<b>5</b>"}, "min_region: expected a whole number"),
        ({"init": "<b>x</b>"}, "init is not one of k-means++, random"),
    ],
)
def test_bad_run_parameters_are_a_usage_error(discs, tmp_path, capsys, params, message):
    source, _ = discs
    bad = tmp_path / "params.json"
    bad.write_text(json.dumps({"params": params}))
    argv = ["isolate", str(source), "--at", "1,1", "--params", str(bad), "-o", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert last.startswith("kseg isolate: error: --params: the file's ") and message in last
    assert "<b>" not in err


def test_the_written_isolate_command_gives_the_page_s_cutout(discs, tmp_path):
    """isolate_command writes every setting; run as it is, it gives the library's picks."""
    source, _ = discs
    image = kseg.load_image(source)
    regions = kseg.superpixels(image, 40, compactness=5.0)
    seg = kseg.segment(image, 2, seed=3, regions=regions, min_region=4)
    points = [RIGHT, (LEFT[0], LEFT[1] + 7)]
    command = export.isolate_command(seg.params, points, source_name=str(source), fill_holes=False)
    assert "--min-region 4" in command and "--regions 40" in command
    out = tmp_path / "out"
    argv = [str(out) if w == "OUTDIR" else w for w in shlex.split(command)[1:]]
    assert cli.main(argv) == 0
    picked = kseg.pick_regions(seg, points, fill_holes=False)
    expected = np.logical_or.reduce([region.mask for region in picked])
    np.testing.assert_array_equal(read_mask(out / "discs.mask.png"), expected)
