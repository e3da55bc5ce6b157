"""The command line: outputs, one clear line per bad file, exit codes."""

import io
import json
import shlex
import subprocess
import sys
import warnings

import cv2
import numpy as np
import PIL.Image
import pytest

import kseg
from kseg import cli, export
from kseg.samples import sample_path


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[:, 20:] = (250, 10, 10)
    rgb[10:20] = (10, 10, 250)
    cv2.imwrite(str(folder / "flags.png"), rgb[:, :, ::-1])
    (folder / "coffee.jpg").write_bytes(sample_path("coffee").read_bytes())
    (folder / "notes.jpg").write_text("not really a photo")
    return folder


def test_segment_writes_outputs(photos, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(
        ["segment", str(photos / "flags.png"), "-k", "3", "--labels", "--palette", "-o", str(out)]
    )
    assert code == 0
    seg = cv2.imread(str(out / "flags.segmented.png"))
    assert seg.shape == (30, 40, 3)
    assert len(np.unique(seg.reshape(-1, 3), axis=0)) == 3
    labels = PIL.Image.open(out / "flags.labels.png")
    assert labels.mode == "P"  # values are the cluster numbers, shown in their colours
    assert set(np.unique(np.asarray(labels)).tolist()) == {1, 2, 3}
    np.testing.assert_array_equal(np.asarray(labels.convert("RGB"))[:, :, ::-1], seg)
    palette = json.loads((out / "flags.palette.json").read_text())
    assert {c["hex"] for c in palette["clusters"]} == {"#000000", "#fa0a0a", "#0a0afa"}
    assert [c["cluster"] for c in palette["clusters"]] == [1, 2, 3]
    assert sum(c["share"] for c in palette["clusters"]) == pytest.approx(1.0, abs=1e-5)


def test_bad_file_reported_others_done(photos, tmp_path, capsys):
    out = tmp_path / "out"
    files = [str(photos / n) for n in ("flags.png", "notes.jpg", "coffee.jpg")]
    code = cli.main(["segment", *files, "-k", "4", "-q", "-o", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    bad_lines = [line for line in err.splitlines() if "notes.jpg" in line]
    assert len(bad_lines) == 1 and "not a recognised image" in bad_lines[0]
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["coffee.segmented.png", "flags.segmented.png"]


def test_missing_file_fails_cleanly(tmp_path, capsys):
    code = cli.main(["segment", str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "o")])
    assert code == 1
    assert "nope.jpg" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["segment", "x.jpg"],  # no -o
        ["segment", "x.jpg", "-k", "0", "-o", "o"],
        ["segment", "x.jpg", "-k", "four", "-o", "o"],
        ["segment", "x.jpg", "--color-space", "cmyk", "-o", "o"],
        ["segment", "x.jpg", "--eps", "-1", "-o", "o"],
        ["elbow", "x.jpg", "--ks", "5-2"],
        ["frobnicate"],
    ],
)
def test_bad_usage_exits_2(argv, capsys):
    assert cli.main(argv) == 2
    assert capsys.readouterr().err


def test_palette_roundtrip_applies_to_new_image(photos, tmp_path):
    out = tmp_path / "out"
    assert (
        cli.main(["segment", str(photos / "coffee.jpg"), "-k", "5", "--palette", "-o", str(out)])
        == 0
    )
    palette = out / "coffee.palette.json"
    out2 = tmp_path / "out2"
    argv = ["segment", str(photos / "flags.png"), "--init", str(palette), "--max-iter", "0"]
    assert cli.main([*argv, "--palette", "-o", str(out2)]) == 0
    saved = {c["hex"] for c in json.loads(palette.read_text())["clusters"]}
    applied = {c["hex"] for c in json.loads((out2 / "flags.palette.json").read_text())["clusters"]}
    assert applied <= saved


def test_bad_palette_is_usage_error(photos, tmp_path, capsys):
    bad = tmp_path / "p.json"
    bad.write_text("{nope")
    argv = ["segment", str(photos / "flags.png"), "--init", str(bad), "-o", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_same_stem_does_not_overwrite(photos, tmp_path):
    (photos / "flags.jpg").write_bytes(sample_path("chelsea").read_bytes())
    out = tmp_path / "out"
    files = [str(photos / "flags.png"), str(photos / "flags.jpg")]
    assert cli.main(["segment", *files, "-q", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["flags-2.segmented.png", "flags.segmented.png"]


def test_progress_bar_on_a_terminal(photos, tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    files = [str(photos / "flags.png"), str(photos / "coffee.jpg")]
    assert cli.main(["segment", *files, "-o", str(tmp_path / "out")]) == 0
    assert "] 2/2" in term.getvalue() and "] 1/2" in term.getvalue()


def test_elbow_prints_table(capsys):
    assert cli.main(["elbow", str(sample_path("chelsea")), "--ks", "2-5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["k", "compactness", "vs", "previous"]
    assert [line.split()[0] for line in lines[1:5]] == ["2", "3", "4", "5"]
    values = [float(line.split()[1]) for line in lines[1:5]]
    assert values == sorted(values, reverse=True)
    assert sum("suggested" in line for line in lines) == 1


def test_python_dash_m(tmp_path):
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "kseg",
        "segment",
        str(sample_path("chelsea")),
        "-k",
        "3",
        "-o",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (out / "chelsea.segmented.png").exists()


def test_superpixels_command(photos, tmp_path):
    out = tmp_path / "out"
    files = [str(photos / "coffee.jpg"), str(photos / "notes.jpg")]
    code = cli.main(
        ["superpixels", *files, "-n", "200", "--boundaries", "--labels", "-q", "-o", str(out)]
    )
    assert code == 1  # notes.jpg is not an image; coffee is still done
    mean = cv2.imread(str(out / "coffee.superpixels.png"))
    regions = cv2.imread(str(out / "coffee.regions.png"), cv2.IMREAD_UNCHANGED)
    assert mean.shape == (400, 600, 3) and regions.dtype == np.uint16
    n_regions = len(np.unique(regions))
    assert 0.85 * 200 <= n_regions <= 1.15 * 200
    # each region is painted one flat colour
    flat = mean.reshape(-1, 3)[regions.ravel() == regions[200, 300]]
    assert (flat == flat[0]).all()
    boundaries = cv2.imread(str(out / "coffee.boundaries.png"))[:, :, ::-1]
    assert ((boundaries == (255, 255, 0)).all(axis=2)).mean() > 0.02


def test_superpixels_notes_come_as_messages_not_python_warnings(tmp_path, capsys):
    """Regression: asking for more superpixels than a tiny image has pixels printed a
    Python warning (with kseg's source path and line) instead of a plain note."""
    source = tmp_path / "tiny.png"
    cv2.imwrite(str(source), np.full((2, 3, 3), 90, np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping the CLI fails the test
        code = cli.main(["superpixels", str(source), "-n", "30", "-o", str(tmp_path / "o")])
    assert code == 0
    err = capsys.readouterr().err
    assert "n_segments=30 is more than the image's 6 pixels" in err
    assert "KSegWarning" not in err and "cli.py" not in err


def test_segment_regions_then_colours(photos, tmp_path):
    out = tmp_path / "out"
    argv = ["segment", str(photos / "coffee.jpg"), "-k", "4", "--regions", "150", "--labels"]
    assert cli.main([*argv, "-o", str(out)]) == 0
    labels = np.asarray(PIL.Image.open(out / "coffee.labels.png"))
    assert set(np.unique(labels).tolist()) == {1, 2, 3, 4}
    # regions, not speckle: far fewer label changes between neighbours than colour clustering
    assert (
        cli.main(
            [
                "segment",
                str(photos / "coffee.jpg"),
                "-k",
                "4",
                "--labels",
                "-o",
                str(tmp_path / "p"),
            ]
        )
        == 0
    )
    speckled = np.asarray(PIL.Image.open(tmp_path / "p" / "coffee.labels.png"))

    def edges(a):
        return int((a[:, 1:] != a[:, :-1]).sum() + (a[1:] != a[:-1]).sum())

    assert edges(labels) < edges(speckled)


def test_fixed_centres_from_the_run_parameters_break_ties_as_the_page(tmp_path):
    """Regression (issue 10): "Keep these colours fixed" on the page and the command gave
    labels ~95 pixels apart. A pixel as near to two centres goes to the one listed first;
    the page lists its pickers' colours, the palette lists clusters by size, so the
    palette's command gave those pixels to the other cluster. The command now starts
    from the run parameters, which keep the pickers' colours in their order."""
    rgb = np.zeros((6, 10, 3), np.uint8)
    rgb[:] = (112, 100, 100)  # nearer #6e6464 (110): the larger cluster
    rgb[:1] = (100, 100, 100)  # as near to #5a6464 (90) as to #6e6464: a tie
    rgb[1:2, :3] = (88, 100, 100)
    source = tmp_path / "ties.png"
    cv2.imwrite(str(source), rgb[:, :, ::-1])
    page = kseg.segment(rgb, 2, init=["#5a6464", "#6e6464"], max_iter=0)
    assert page.centers_rgb[0].tolist() == [110, 100, 100]  # the first picker is cluster 2
    params = tmp_path / "params.json"
    params.write_text(export.params_json(page, source_name=str(source), params_name=str(params)))
    argv = shlex.split(json.loads(params.read_text())["cli"])[1:]
    out = tmp_path / "out"
    assert cli.main([str(out) if w == "OUTDIR" else w for w in argv]) == 0
    written = cv2.imread(str(out / "ties.segmented.png"))[:, :, ::-1]
    np.testing.assert_array_equal(written, page.segmented_image())
    assert (written[0] == (90, 100, 100)).all()  # the ties went to the first picker's colour


def test_max_side_and_region_options_reach_kseg(tmp_path):
    source = tmp_path / "wide.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(source), rng.integers(0, 256, (40, 300, 3), dtype=np.uint8))
    out = tmp_path / "out"
    argv = ["segment", str(source), "-k", "3", "--max-side", "150", "--regions", "30"]
    argv += ["--region-compactness", "20", "--region-color-space", "rgb", "--labels"]
    assert cli.main([*argv, "-q", "-o", str(out)]) == 0
    image = kseg.shrink(kseg.load_image(source), 150)
    assert image.shape == (20, 150)
    regions = kseg.superpixels(image, 30, compactness=20.0, color_space="rgb")
    expected = kseg.segment(image, 3, regions=regions)
    labels = np.asarray(PIL.Image.open(out / "wide.labels.png"))
    np.testing.assert_array_equal(labels, expected.labels + 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"params": {"init": "k-means++"}}', "named initialisation"),
        ('{"params": {"init": ["#12345"]}}', "#rrggbb"),
        ('{"params": {"init": [[1, 2]]}}', "no starting centres"),
        ('{"params": {"init": [[1, 2, 3]], "color_space": "lab"}}', "another colour space"),
    ],
)
def test_bad_run_parameters_for_init_are_one_clear_line(tmp_path, capsys, content, message):
    bad = tmp_path / "p.json"
    bad.write_text(content)
    argv = ["segment", "x.png", "--init", str(bad), "-o", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "#12345" not in err[-1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--regions", "20", "--engine", "opencv"], "histogram engine only"),
        (["--init", "CLUSTERS"], "holds no clusters"),
        (["--init", "DEEP"], "nested too deeply"),
    ],
)
def test_impossible_requests_are_usage_errors_not_tracebacks(tmp_path, capsys, extra, message):
    (tmp_path / "CLUSTERS").write_text('{"clusters": [1, 2]}')
    (tmp_path / "DEEP").write_text("[" * 100_000 + "]" * 100_000)
    extra = [str(tmp_path / w) if w in ("CLUSTERS", "DEEP") else w for w in extra]
    argv = ["segment", str(sample_path("coffee")), *extra, "-o", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "option", [["-k", "<b>x</b>"], ["--eps", "<b>x</b>"], ["--max-side", "<b>x</b>"]]
)
def test_a_bad_value_is_not_echoed_back(tmp_path, capsys, option):
    assert cli.main(["segment", "x.png", *option, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "<b>x</b>" not in err and f"argument {option[0]}" in err
