"""Batches on this machine: --jobs, --summary, --skip-existing, ``kseg palette``, bad inputs."""

import csv
import json
import os
import time
from typing import NamedTuple

import cv2
import numpy as np
import pytest

import kseg
from kseg import cli
from kseg._histogram import add_counts


def _photo(seed: int, shape=(36, 48)) -> np.ndarray:
    """A small photo-like RGB image: smooth colour blobs plus noise (many distinct colours)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.empty((h, w, 3), np.float64)
    for c in range(3):
        fx, fy, phase = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3), rng.uniform(0, 6)
        rgb[..., c] = 128 + 100 * np.sin(fx * xx + fy * yy + phase)
    rgb += rng.normal(0, 6, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Five good photos of different sizes, a broken one among them."""
    root = tmp_path_factory.mktemp("batch")
    photos = root / "photos"
    photos.mkdir()
    for i, shape in enumerate([(36, 48), (40, 30), (24, 64), (30, 30), (50, 20)]):
        cv2.imwrite(str(photos / f"p{i}.png"), _photo(i, shape)[:, :, ::-1])
    (photos / "p2b.jpg").write_text("not really a photo")
    (root / "empty").mkdir()
    return root


def _good(folder):
    return [folder / "photos" / f"p{i}.png" for i in range(5)]


def _rows(path):
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    return [json.loads(line) for line in path.read_text().splitlines()]


def _without_seconds(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_two_processes_give_the_files_and_summary_of_one(folder, tmp_path, capsys):
    photos = [str(p) for p in sorted((folder / "photos").iterdir())]
    runs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        summary = tmp_path / f"s{jobs}.csv"
        argv = ["segment", *photos, "-k", "4", "--color-space", "lab", "--labels", "--palette"]
        code = cli.main([*argv, "-j", jobs, "-q", "--summary", str(summary), "-o", str(out)])
        assert code == 1  # the broken file
        err = capsys.readouterr().err
        assert [line for line in err.splitlines() if "p2b.jpg" in line] == [
            f"kseg: {folder / 'photos' / 'p2b.jpg'}: This is not a recognised image. kseg "
            "reads JPEG, PNG, WebP, BMP, TIFF and GIF images."
        ]
        assert "1 of 6 files failed" in err and "Traceback" not in err
        runs[jobs] = ({p.name: p.read_bytes() for p in out.iterdir()}, _rows(summary))
    files1, rows1 = runs["1"]
    files2, rows2 = runs["2"]
    assert len(files1) == 15 and files1.keys() == files2.keys()
    for name in files1:
        assert files1[name] == files2[name], name
    assert _without_seconds(rows1) == _without_seconds(rows2)
    assert [row["file"] for row in rows1] == photos  # in the order given


def test_summary_rows_hold_each_photo_s_results(folder, tmp_path):
    out = tmp_path / "out"
    summary = tmp_path / "s.jsonl"
    files = [str(p) for p in _good(folder)[:2]] + [str(folder / "photos" / "p2b.jpg")]
    argv = ["segment", *files, "-k", "3", "--palette", "-q", "-j", "2"]
    assert cli.main([*argv, "--summary", str(summary), "-o", str(out)]) == 1
    rows = _rows(summary)
    assert [row["status"] for row in rows] == ["done", "done", "failed"]
    first = rows[0]
    assert (first["width"], first["height"], first["k"]) == (48, 36, 3)
    palette = json.loads((out / "p0.palette.json").read_text())
    assert first["palette"] == [c["hex"] for c in palette["clusters"]]
    assert first["shares"] == [c["share"] for c in palette["clusters"]]
    assert first["compactness"] == palette["compactness"]
    assert first["seconds"] > 0 and first["error"] is None
    assert "not a recognised image" in rows[2]["error"] and rows[2]["k"] is None

    csv_summary = tmp_path / "s.csv"
    argv = ["segment", files[0], "-k", "3", "-q", "--summary", str(csv_summary)]
    assert cli.main([*argv, "-o", str(tmp_path / "o2")]) == 0
    (row,) = _rows(csv_summary)
    assert row["palette"].split() == first["palette"]
    assert [float(s) for s in row["shares"].split()] == pytest.approx(first["shares"], abs=1e-6)
    assert float(row["compactness"]) == first["compactness"]  # written in full


def test_skip_existing_resumes_a_batch(folder, tmp_path, capsys):
    out = tmp_path / "out"
    files = [str(p) for p in _good(folder)[:3]]
    assert cli.main(["segment", *files, "--labels", "-q", "-j", "1", "-o", str(out)]) == 0
    (out / "p1.labels.png").unlink()  # p1 is not finished: one of its outputs is missing
    before = (out / "p0.segmented.png").stat().st_mtime_ns
    summary = tmp_path / "s.csv"
    argv = ["segment", *files, "--labels", "--skip-existing", "--summary", str(summary)]
    assert cli.main([*argv, "-o", str(out)]) == 0
    assert [row["status"] for row in _rows(summary)] == ["skipped", "done", "skipped"]
    assert (out / "p1.labels.png").exists()
    assert (out / "p0.segmented.png").stat().st_mtime_ns == before
    err = capsys.readouterr().err
    assert f"kseg: {files[0]}: skipped, its outputs exist already." in err
    assert not list(out.glob(".*partial"))  # outputs are written whole, then renamed


def test_collection_palette_is_the_segmentation_of_all_pixels_together(folder, tmp_path):
    """k-means over the summed histograms is k-means over one image holding every pixel."""
    photos = _good(folder)
    pixels = [cv2.imread(str(p))[:, :, ::-1].reshape(-1, 3) for p in photos]
    together = tmp_path / "together.png"
    cv2.imwrite(str(together), np.concatenate(pixels)[None, :, ::-1])
    options = ["-k", "5", "--color-space", "lab", "--seed", "3", "--attempts", "4", "-q"]
    one = tmp_path / "one"
    assert cli.main(["segment", str(together), *options, "--palette", "-o", str(one)]) == 0
    expected = json.loads((one / "together.palette.json").read_text())
    for jobs in ("1", "2"):
        output = tmp_path / f"collection{jobs}.json"
        argv = ["palette", *map(str, photos), *options, "-j", jobs, "-o", str(output)]
        assert cli.main(argv) == 0
        assert json.loads(output.read_text()) == expected

    # The palette paints other photos unchanged.
    out = tmp_path / "painted"
    argv = ["segment", str(photos[0]), "--init", str(output), "--max-iter", "0"]
    assert cli.main([*argv, "--color-space", "lab", "--palette", "-q", "-o", str(out)]) == 0
    used = {c["hex"] for c in json.loads((out / "p0.palette.json").read_text())["clusters"]}
    assert used <= {c["hex"] for c in expected["clusters"]}


def test_collection_histogram_in_the_library():
    images = [_photo(i, shape) for i, shape in enumerate([(20, 30), (25, 10), (8, 40)])]
    hists = [kseg.ColorHistogram(rgb) for rgb in images]
    keys, counts = add_counts([(h.keys.astype(np.uint32), h.counts) for h in hists])
    assert keys.dtype == np.uint32 and counts.dtype == np.int64
    collection = kseg.ColorHistogram.from_counts(keys, counts)
    together = kseg.ColorHistogram(np.concatenate([rgb.reshape(1, -1, 3) for rgb in images], 1))
    np.testing.assert_array_equal(collection.keys, together.keys)
    np.testing.assert_array_equal(collection.counts, together.counts)
    a = kseg.segment(collection, 4, color_space="lab", seed=2)
    b = kseg.segment(together, 4, color_space="lab", seed=2)
    np.testing.assert_array_equal(a.centers, b.centers)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.compactness == b.compactness and a.n_iter == b.n_iter
    with pytest.raises(ValueError, match="no pixels: there are no labels"):
        a.labels  # noqa: B018
    with pytest.raises(ValueError, match="no pixels"):
        a.segmented_image()
    with pytest.raises(ValueError, match="no pixels"):
        kseg.segment(collection, 4, max_side=10)


@pytest.mark.parametrize(
    ("keys", "counts", "message"),
    [
        ([1, 2], [1], "one length"),
        ([1 << 24], [1], "0..2"),
        ([-1], [1], "0..2"),
        ([1.5], [1], "whole numbers"),
        ([3], [0], "at least 1"),
    ],
)
def test_from_counts_rejects_what_is_not_a_histogram(keys, counts, message):
    with pytest.raises(ValueError, match=message):
        kseg.ColorHistogram.from_counts(np.array(keys), np.array(counts))


def test_bad_inputs_one_line_each_the_rest_done(folder, tmp_path, capsys):
    out = tmp_path / "out"
    missing = tmp_path / "nope.jpg"
    argv = ["segment", str(missing), str(folder / "empty"), str(folder / "photos"), "-q"]
    assert cli.main([*argv, "-j", "2", "-o", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "nope.jpg" in line] == [
        f"kseg: {missing}: No file at {missing}. Check the path and try again."
    ]
    assert [line for line in err if "empty" in line] == [
        f"kseg: {folder / 'empty'}: a folder with no images in it "
        "(JPEG, PNG, WEBP, BMP, TIFF, GIF files)."
    ]
    assert err[-1] == "kseg: 3 of 8 files failed."  # the folder gave its six files
    assert sorted(p.name for p in out.iterdir()) == [f"p{i}.segmented.png" for i in range(5)]


def test_palette_of_bad_inputs(folder, tmp_path, capsys):
    output = tmp_path / "p.json"
    broken = str(folder / "photos" / "p2b.jpg")
    assert cli.main(["palette", broken, str(tmp_path / "nope.png"), "-o", str(output)]) == 1
    err = capsys.readouterr().err
    assert "no photo could be read, so there is no palette" in err and not output.exists()
    good = str(_good(folder)[0])
    summary = tmp_path / "s.jsonl"
    argv = ["palette", good, broken, "-k", "3", "--summary", str(summary), "-o", str(output)]
    assert cli.main(argv) == 1  # one failed, the palette is made of the others
    rows = _rows(summary)
    assert [row["status"] for row in rows] == ["done", "failed", "done"]
    assert rows[-1]["file"] == str(output) and len(rows[-1]["palette"]) == 3
    assert cli.main([*argv, "--skip-existing"]) == 0
    assert _rows(summary) == [_rows(summary)[0]] and _rows(summary)[0]["status"] == "skipped"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--regions", "50"], "--regions: a collection palette"),
        (["--min-region", "9"], "--min-region: it merges regions"),
        (["--engine", "opencv"], "--engine: a collection palette needs the histogram"),
        (["--summary", "s.txt"], "--summary: the file's name must end in .csv or .jsonl"),
        (["--scheduler", "nowhere"], "--scheduler: expected an address like tcp://HOST:PORT"),
        (["--jobs", "0"], "must be at least 1"),
    ],
)
def test_palette_usage_errors(folder, tmp_path, capsys, extra, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["palette", str(_good(folder)[0]), *extra, "-o", str(tmp_path / "p.json")]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


class _FakeJob(NamedTuple):
    path: str
    parent: int


def _dies_in_a_worker(job: _FakeJob) -> str:
    if job.path == "dies" and os.getpid() != job.parent:
        os._exit(1)  # as the kernel's out-of-memory killer would end it
    time.sleep(0.3)  # the pool's worker starts (a second or two) before this process is done
    return f"done {job.path}"


def test_a_worker_that_dies_fails_its_file_and_the_rest_are_done():
    """A pool worker killed mid-file: that file is one failure, this process does the rest."""
    from kseg import _runners

    names = ["a", "dies", *"bcdefghijklmnopqrstu"]
    todo = [(i, _FakeJob(name, os.getpid())) for i, name in enumerate(names)]
    failed = lambda path, error, _: error  # noqa: E731
    results = dict(_runners._pool_results(_dies_in_a_worker, todo, 2, failed))
    assert sorted(results) == list(range(len(names)))
    assert results[1] == "the worker process died (out of memory?)."
    done = [i for i, result in results.items() if result.startswith("done")]
    assert len(done) >= len(names) - 2  # at most one innocent file beside it
