"""Hostile and awkward input through the command line: ``kseg segment``, ``isolate``,
``superpixels``.

Every file of tests/hostile_corpus.py, under its own name, gives correct files or
kseg's `ImageError` message and exit status 1 (no traceback, nothing written). Nothing
the file held comes back verbatim (outputs are re-encoded from pixels), and a colour
under fully transparent pixels is in no palette or picture. What load_image and segment
make of the same files: test_hostile_library.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from hostile_corpus import CANARY, CASES, Case, contains_payload, hexes, ids, quadrants

import kseg
from kseg import export
from kseg.cli import main as cli_main


@pytest.mark.parametrize("c", CASES, ids=ids())
def test_cli_writes_correct_files_or_reports_the_error(c: Case, tmp_path: Path, capsys):
    source = tmp_path / "in" / c.filename
    source.parent.mkdir()
    source.write_bytes(c.data)
    out = tmp_path / "out"
    argv = ["segment", str(source), "-k", str(c.k), "-o", str(out), "--labels", "--palette", "-q"]
    status = cli_main(argv)
    err = capsys.readouterr().err
    try:
        image = kseg.load_image(c.data)
    except kseg.ImageError as error:
        assert status == 1
        assert str(error) in err
        assert list(out.iterdir()) == []
        return
    assert status == 0, err
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    stem = Path(c.filename).stem
    assert set(written) == {f"{stem}.segmented.png", f"{stem}.labels.png", f"{stem}.palette.json"}
    segmented = np.asarray(PIL.Image.open(io.BytesIO(written[f"{stem}.segmented.png"])))
    assert segmented.shape[:2] == image.shape
    labels = np.asarray(PIL.Image.open(io.BytesIO(written[f"{stem}.labels.png"])))
    assert labels.shape == image.shape
    palette = json.loads(written[f"{stem}.palette.json"])
    for hidden in hexes(c.hidden):
        assert hidden not in {entry["hex"] for entry in palette["clusters"]}
    for data in written.values():
        assert not contains_payload(c, data)
        assert CANARY.encode() not in data


@pytest.mark.parametrize("c", CASES, ids=ids())
def test_cli_superpixels_writes_correct_files_or_reports_the_error(c: Case, tmp_path, capsys):
    source = tmp_path / "in" / c.filename
    source.parent.mkdir()
    source.write_bytes(c.data)
    out = tmp_path / "out"
    argv = ["superpixels", str(source), "-n", "30", "-o", str(out), "--boundaries", "-q"]
    status = cli_main([*argv, "--labels"])
    err = capsys.readouterr().err
    try:
        image = kseg.load_image(c.data)
    except kseg.ImageError as error:
        assert status == 1 and str(error) in err
        return
    assert status == 0, err
    for path in out.iterdir():
        data = path.read_bytes()
        assert not contains_payload(c, data) and CANARY.encode() not in data
        pixels = np.asarray(PIL.Image.open(io.BytesIO(data)))
        assert pixels.shape[:2] == image.shape
        if pixels.ndim == 3 and c.hidden:
            colours = {tuple(int(v) for v in p[:3]) for p in pixels.reshape(-1, pixels.shape[2])}
            assert not colours & set(c.hidden), path.name


@pytest.mark.parametrize("c", CASES, ids=ids())
def test_cli_isolate_cuts_out_the_library_s_region_or_reports_the_error(c: Case, tmp_path, capsys):
    source = tmp_path / "in" / c.filename
    source.parent.mkdir()
    source.write_bytes(c.data)
    try:
        seg = kseg.segment(kseg.load_image(c.data), c.k)
    except kseg.ImageError as error:
        expected, point = error, (0, 0)
    else:
        expected = None
        rows, cols = np.nonzero(seg.labels >= 0)  # the first opaque pixel
        point = int(cols[0]), int(rows[0])
    out = tmp_path / "out"
    argv = ["isolate", str(source), "-k", str(c.k), "--at", f"{point[0]},{point[1]}", "-q"]
    status = cli_main([*argv, "--full-size", "-o", str(out)])
    err = capsys.readouterr().err
    if expected is not None:
        assert status == 1 and err.splitlines() == [f"kseg: {source}: {expected}"]
        assert not out.exists()
        return
    assert status == 0, err
    stem = Path(c.filename).stem
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(written) == {f"{stem}.mask.png", f"{stem}.cutout.png", f"{stem}.regions.json"}
    mask = np.asarray(PIL.Image.open(io.BytesIO(written[f"{stem}.mask.png"]))) == 255
    np.testing.assert_array_equal(mask, seg.region_at(*point))
    cutout = np.asarray(PIL.Image.open(io.BytesIO(written[f"{stem}.cutout.png"])))
    np.testing.assert_array_equal(cutout[..., 3], np.where(mask, 255, 0))
    colours = {tuple(int(v) for v in p[:3]) for p in cutout[mask]}
    assert not colours & set(c.hidden)
    for data in written.values():
        assert not contains_payload(c, data) and CANARY.encode() not in data


def test_opencv_engine_with_more_centres_than_pixels_is_reported(tmp_path, capsys):
    """Regression: custom centres with the opencv engine on an image with fewer opaque
    pixels than centres raised cv2.error: the page broke (Streamlit's generic error, for
    as long as the link kept those settings) and the CLI crashed with a traceback. The
    command line reports it and goes on (the library's and the page's side:
    test_hostile_library.py and test_hostile_page.py)."""
    two = np.array([[[10, 20, 30], [200, 100, 0]]], np.uint8)
    (tmp_path / "two.png").write_bytes(export.encode_png(two))
    saved = export.palette_json(kseg.segment(quadrants(), 3))
    (tmp_path / "palette.json").write_text(saved)
    argv = ["segment", str(tmp_path / "two.png"), "--init", str(tmp_path / "palette.json")]
    status = cli_main([*argv, "--engine", "opencv", "-o", str(tmp_path / "out"), "-q"])
    assert status == 1
    err = capsys.readouterr().err
    assert "at least as many opaque pixels" in err
    assert "Traceback" not in err
