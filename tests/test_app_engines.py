"""The OpenCV engine on the page: which engine made the image, the gate, the side-by-side panel.

AppTest runs of the page (see app_support.py) and known answers for the cost estimate.
"""

from __future__ import annotations

import numpy as np
import pytest
from app_support import metric, ok, png_bytes, quadrants, start, unescape, upload

import kseg
from kseg.dashboard import server, sidebar
from kseg.dashboard.state import Keys, Params
from kseg.dashboard.text import big_number, format_seconds, percent
from kseg.samples import sample_path

# The page's defaults (sidebar.controls_ui) but k and attempts, as kseg.segment reads them.
DEFAULTS = {
    "init": "k-means++",
    "max_iter": 20,
    "eps": 0.1,
    "criteria": "eps+max_iter",
    "color_space": "rgb",
    "seed": 0,
}


def captions(at) -> list[str]:
    return [unescape(c.value) for c in at.caption]


def made_by(at) -> str:
    return next(c for c in captions(at) if c.startswith("Made by"))


def has_run_button(at) -> bool:
    return Keys.RUN_OPENCV in [b.key for b in at.button]


def test_the_panel_shows_both_engines_and_the_pixels_that_differ():
    at = start(query={"sample": "chelsea", "k": "6", "attempts": "2"})
    assert made_by(at).startswith("Made by kseg's engine in")
    assert not any(m.label == "Pixels that differ" for m in at.metric)  # kseg alone: no panel
    ok(at.radio(key="engine").set_value("OpenCV").run())
    assert not at.warning and not has_run_button(at)  # small: runs without asking
    assert made_by(at).startswith("Made by cv2.kmeans in")

    # Both results again, outside the page, and the differing pixels counted here.
    image = kseg.load_image(sample_path("chelsea"))
    ours = kseg.segment(image, 6, attempts=2, **DEFAULTS)
    theirs = kseg.segment(image, 6, attempts=2, engine="opencv", **DEFAULTS)
    gaps = theirs.centers_rgb[:, None, :].astype(float) - ours.centers_rgb[None, :, :]
    match = (gaps**2).sum(axis=2).argmin(axis=1)  # each cv2 cluster -> nearest kseg centre
    differ = int(np.count_nonzero(match[theirs.labels] != ours.labels))
    n = image.width * image.height
    assert 0 < differ < n // 2  # the engines disagree near some boundaries, not everywhere
    assert metric(at, "Pixels that differ") == f"{differ:,}"
    assert metric(at, "Share that differs") == percent(differ / n)  # "12.2 %", as elsewhere
    assert metric(at, "kseg compactness") == big_number(ours.compactness)
    assert metric(at, "cv2.kmeans compactness") == big_number(theirs.compactness)
    ratio = metric(at, "Compactness ratio")  # 3 significant digits, not "0.98673"
    assert ratio == f"{ours.compactness / theirs.compactness:#.3g}"
    assert len(ratio.replace(".", "").lstrip("0")) == 3
    assert metric(at, "Time ratio").endswith("x")
    assert metric(at, "kseg time") and metric(at, "cv2.kmeans time")
    # kseg's and cv2's results side by side, each saying which engine made it.
    kseg_image, cv2_image = at.container(key="engines").image
    assert kseg_image.captions[0].startswith("Made by kseg's engine in")
    assert cv2_image.captions[0].startswith("Made by cv2.kmeans in")


def test_a_run_that_waits_shows_kseg_until_started_then_cv2(monkeypatch):
    monkeypatch.setattr(sidebar, "OPENCV_CONFIRM_SECONDS", 0.0)  # every run asks first
    at = start()
    ok(upload(at, png_bytes(quadrants(300, 200, noise=4.0, tweak=101))))
    ok(at.radio(key="engine").set_value("OpenCV").run())
    assert len(at.warning) == 1
    assert "The page shows kseg's result until you start it." in at.warning[0].value
    assert has_run_button(at)
    assert made_by(at).startswith("Made by kseg's engine in")
    assert metric(at, "Iterations") != "n/a"  # kseg's engine reports its updates
    assert not any(m.label == "Pixels that differ" for m in at.metric)  # no cv2 run yet

    ok(at.button(key=Keys.RUN_OPENCV).click().run())
    assert not at.warning and not has_run_button(at)  # gone in the run the click started
    assert made_by(at).startswith("Made by cv2.kmeans in")
    assert metric(at, "Iterations") == "n/a"
    assert len(at.container(key="engines").image) == 2
    ok(at.run())  # started once for these settings: it stays
    assert not has_run_button(at) and made_by(at).startswith("Made by cv2.kmeans")


def test_a_fallback_says_kseg_made_the_image(monkeypatch):
    """The View's engine is the one that made the image: no slot means kseg's, no panel."""
    monkeypatch.setattr(server, "OPENCV_SLOTS", 0)
    at = start(query={"sample": "chelsea", "k": "7"})  # settings no other test ran
    ok(at.radio(key="engine").set_value("OpenCV").run())
    assert "turned off on this server" in at.warning[0].value
    assert made_by(at).startswith("Made by kseg's engine in")
    assert not any(m.label == "Pixels that differ" for m in at.metric)


def test_the_gate_says_its_estimate_once_and_for_an_idle_server():
    """Regression (issue 10): the box said the estimate three times (twice in its text,
    once on its button), too big for a phone, and a busy server took twice as long."""
    at = start(query={"k": "16", "engine": "OpenCV"})  # coffee: 240,000 pixels
    params = Params(16, "k-means++", 10, 20, 0.1, "eps+max_iter", "rgb", 0, "opencv")
    seconds = sidebar.opencv_estimate(240_000, params)
    assert sidebar.OPENCV_CONFIRM_SECONDS < seconds < sidebar.OPENCV_MAX_SECONDS
    assert len(at.warning) == 1
    text = at.warning[0].value
    assert text == (
        f"cv2.kmeans on all 240,000 pixels: 200 passes of 16 distances, about "
        f"{format_seconds(seconds)} on an idle server (longer while it is busy, less if "
        "eps stops it sooner). The page shows kseg's result until you start it."
    )
    assert at.button(key=Keys.RUN_OPENCV).label == "Run cv2.kmeans"
    assert made_by(at).startswith("Made by kseg's engine in")


def test_a_refused_opencv_run_says_its_cost_once():
    query = {"sample": "retina", "engine": "OpenCV", "k": "32", "attempts": "50"}
    at = start(query={**query, "criteria": "max_iter", "max_iter": "100"})
    text = at.warning[0].value
    assert text.startswith("cv2.kmeans on all ")
    assert text.count(" s ") + text.count(" min ") == 1 and "idle server" in text
    assert "(longer while it is busy)." in text  # no eps: nothing may stop it sooner
    assert "Too long for this shared server: the page shows kseg's result." in text
    assert not has_run_button(at)


PARAMS = Params(4, "k-means++", 10, 20, 0.1, "eps+max_iter", "rgb", 0, "opencv")


def test_the_estimate_grows_with_pixels_centres_attempts_and_updates():
    base = sidebar.opencv_estimate(1_000_000, PARAMS)
    assert sidebar.opencv_estimate(2_000_000, PARAMS) == pytest.approx(2 * base)
    for change in ({"k": 8}, {"attempts": 20}, {"max_iter": 40}):
        bigger = sidebar.opencv_estimate(1_000_000, PARAMS._replace(**change))
        assert base < bigger < 2 * base  # the once-per-run work does not double
    assert sidebar.opencv_estimate(1_000_000, PARAMS._replace(init="random")) < base


def test_the_estimate_counts_updates_as_cv2_kmeans_does():
    """cv2.kmeans runs 2..100 updates whatever max_iter says, and 100 for eps alone."""
    steps = [
        sidebar.k_steps(PARAMS._replace(criteria=c, max_iter=m, attempts=1))
        for c, m in [("max_iter", 1), ("max_iter", 300), ("eps", 20), ("eps+max_iter", 7)]
    ]
    assert steps == [2, 100, 100, 7]
    custom = PARAMS._replace(init=("#000000",) * 4)
    assert sidebar.k_steps(custom) == 20  # custom centres start once, whatever attempts say
    assert sidebar.k_steps(custom._replace(max_iter=0)) == 1  # fixed: one labelling pass
