"""The Isolate tab: click the photo to pick regions and cut them out, or whole clusters.

A click on the picture (the segmented image or the photo) picks the connected region of
the colour under it, holes filled; a click inside a picked region drops it again. The
picks are full-resolution points, kept in the URL (``?pick=x,y``), so a link shows the
same cut-out. The clickable picture is streamlit-image-coordinates, a custom component
(an iframe): it shows the picture it is given and reports only where it was clicked.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import streamlit as st
from streamlit_image_coordinates import streamlit_image_coordinates

from kseg import export
from kseg.dashboard import charts, compute, links
from kseg.dashboard.state import (
    ISOLATE_DIM_DEFAULT,
    ISOLATE_MODES,
    ISOLATE_VIEWS,
    PICKS_MAX,
    PREVIEW_SIDE,
    Keys,
    Picked,
    View,
)
from kseg.dashboard.text import percent, plain
from kseg.dashboard.widgets import download_buttons, isolate_ui

Point = tuple[int, int]


def render(view: View) -> None:
    mode = mode_ui()
    if mode == ISOLATE_MODES[1]:
        hist = view.loaded.hist
        index = None
        if max(hist.shape) > PREVIEW_SIDE:
            index = compute.preview_index(view.source.digest, PREVIEW_SIDE, hist)
        isolate_ui(view.seg, view.stem, index=index)
    else:
        picks_ui(view)
    # Once the picks and clusters are in the URL: the mode a link without one opens on
    # depends on them.
    links.keep(Keys.ISOLATE_BY, [mode], [_mode_by_default()])


def _mode_by_default() -> str:
    """The mode a link without one opens on: whole clusters when it chooses clusters and
    picks nothing (the links from before regions could be picked), else regions."""
    if Keys.PICK not in st.query_params and Keys.ISOLATE in st.query_params:
        return ISOLATE_MODES[1]
    return ISOLATE_MODES[0]


def mode_ui() -> str:
    """Regions you click, or whole clusters as before; kept in the URL (by render)."""
    default = links.url_choice(Keys.ISOLATE_BY, ISOLATE_MODES) or _mode_by_default()
    # Started through session state, not `default`: the URL's mode changes with the
    # choice, and a new default would make a new widget of it in the middle of a visit.
    st.session_state.setdefault(Keys.ISOLATE_BY, default)
    mode = st.segmented_control(
        "Pick",
        ISOLATE_MODES,
        required=True,
        key=Keys.ISOLATE_BY,
        help="Regions: click the photo to pick the connected piece of colour under the "
        "cursor (the cat, a cell). Whole clusters: every pixel of the chosen colours, "
        "anywhere in the photo.",
    )
    return mode or default


def picks_ui(view: View) -> None:
    """The clickable picture with the picks drawn on it, their figures and their files.

    On a desktop the picture sits beside its controls, summary and files, so that the
    whole of it shows with them; on a phone they follow it.
    """
    seg = view.seg
    height, width = seg.shape
    points = _current_points()
    picked, points = _picked(view, points)
    st.session_state[Keys.PICKS] = points
    links.keep(Keys.PICK, links.point_texts(points), [])
    if st.session_state.pop(Keys.PICKS_FULL, False):
        st.info(f"At most {PICKS_MAX} picks at once: drop one (click it) to add another.")

    left, right = st.columns([3, 2], gap="medium")
    with right:
        st.session_state.setdefault(  # as the mode, for the same reason
            Keys.ISOLATE_VIEW,
            links.url_choice(Keys.ISOLATE_VIEW, ISOLATE_VIEWS) or ISOLATE_VIEWS[0],
        )
        shown = st.segmented_control(
            "Show",
            ISOLATE_VIEWS,
            required=True,
            key=Keys.ISOLATE_VIEW,
            help="Click either: the segmented image shows which pieces a click can pick.",
        )
        shown = shown or ISOLATE_VIEWS[0]
        dim = st.slider(
            "Brightness of the rest (%)",
            0,
            100,
            (links.url_ints(Keys.ISOLATE_DIM, 0, 100) or [ISOLATE_DIM_DEFAULT])[0],
            key=Keys.ISOLATE_DIM,
            disabled=picked is None,
        )
        links.keep(Keys.ISOLATE_VIEW, [shown], [ISOLATE_VIEWS[0]])
        links.keep(Keys.ISOLATE_DIM, [dim], [ISOLATE_DIM_DEFAULT])
        summary_ui(seg, picked)
        full = files_ui(view, picked) if picked is not None else False
    picture, picture_format = compute.picked_picture(
        view.source.digest,
        view.params,
        tuple(points),
        shown == ISOLATE_VIEWS[0],
        dim,
        seg,
        view.loaded,
    )
    with left.container(key="pick_picture"):
        streamlit_image_coordinates(
            _Encoded(picture),
            key=Keys.PICK_CLICK,
            width="stretch",
            image_format=picture_format,
            cursor="crosshair",
            on_click=functools.partial(_take_click, width, height),
        )
    if picked is not None:
        figures_ui(picked, seg.histogram.alpha is not None)
        command_ui(view, picked, full)


def summary_ui(seg, picked: Picked | None) -> None:
    """What a click does, or what is picked, and the button that clears the picks."""
    if picked is None:
        st.caption(
            "Click the photo to pick the region under the cursor: one connected piece of "
            "its colour, holes filled. Click again to add more; click a picked region to "
            "drop it."
        )
        return
    n, area = len(picked.points), picked.area
    st.caption(
        f"{n} region{'s' if n > 1 else ''} picked: {area:,} px, "
        f"{percent(area / max(seg.histogram.n_opaque, 1))} of the "
        f"{'opaque ' if seg.histogram.alpha is not None else ''}pixels. Click a picked "
        "region to drop it, or elsewhere to add one."
    )
    st.button(
        "Clear picks",
        key=Keys.CLEAR_PICKS,
        on_click=_clear_picks,
        icon=":material/clear_all:",
    )


def figures_ui(picked: Picked, transparent: bool) -> None:
    """One row per picked region, numbered as on the picture."""
    of_what = "of the opaque pixels" if transparent else "of the pixels"
    rows = list(enumerate(picked.figures, start=1))
    st.dataframe(
        {
            "Region": [number for number, _ in rows],
            "Colour": [charts.swatch_url(f.hex) for _, f in rows],
            "Area (px)": [f.area for _, f in rows],
            "Share": [round(f.share * 100, 2) for _, f in rows],
            "Box x, y": [f"{f.bbox[0]}, {f.bbox[1]}" for _, f in rows],
            "Box w x h": [f"{f.bbox[2]} x {f.bbox[3]}" for _, f in rows],
            "Centroid x, y": [f"{f.centroid[0]:.1f}, {f.centroid[1]:.1f}" for _, f in rows],
            "Mean colour": [f.hex for _, f in rows],
            "Perimeter (px)": [f.perimeter for _, f in rows],
        },
        column_config={
            "Region": st.column_config.NumberColumn("Region", width=60),
            "Colour": st.column_config.ImageColumn("Colour", width=52),
            "Area (px)": st.column_config.NumberColumn(
                "Area (px)", format="localized", help="Pixels in the region, at full size."
            ),
            "Share": st.column_config.NumberColumn(
                "Share", format="%.2f %%", help=f"The region's share {of_what}."
            ),
            "Box x, y": st.column_config.TextColumn(
                "Box x, y", help="The top left corner of the smallest rectangle around it."
            ),
            "Box w x h": st.column_config.TextColumn("Box w x h", help="That rectangle's size."),
            "Centroid x, y": st.column_config.TextColumn(
                "Centroid x, y", help="The mean position of its pixels."
            ),
            "Mean colour": st.column_config.TextColumn(
                "Mean colour", help="The mean of the photo's own colours over the region."
            ),
            "Perimeter (px)": st.column_config.NumberColumn(
                "Perimeter (px)",
                format="localized",
                help="Pixel edges between the region and the rest (the image border too).",
            ),
        },
        hide_index=True,
        key=Keys.PICK_TABLE,
    )


def files_ui(view: View, picked: Picked) -> bool:
    """The picks' mask, cut-out and figures as files; whether the cut-out is full size."""
    seg, stem = view.seg, view.stem
    height, width = seg.shape
    full = st.checkbox(
        "Cut-out at the photo's full size (not cropped)",
        value=bool(links.url_bool(Keys.CUTOUT_FULL)),
        key=Keys.CUTOUT_FULL,
    )
    links.keep(Keys.CUTOUT_FULL, [full], [False])
    points = picked.points
    figures = list(picked.figures)
    box = _union_box(picked)
    cut_size = f"{width:,} x {height:,}" if full else f"{box[2]:,} x {box[3]:,}"
    files = [
        (Keys.DL_REGION_MASK, "Mask (PNG)", f"{stem}-regions-mask.png", "image/png",
         lambda: export.mask_png(compute.picked_mask(seg, points)),
         f"{width:,} x {height:,} px: white inside the picked regions, black elsewhere."),
        (Keys.DL_CUTOUT, "Cut-out (PNG)", f"{stem}-cutout.png", "image/png",
         lambda: export.cutout_png(seg, compute.picked_mask(seg, points), crop=not full),
         f"{cut_size} px: the photo's own pixels inside the regions, transparent elsewhere."),
        (Keys.DL_REGIONS_CSV, "Figures (CSV)", f"{stem}-regions.csv", "text/csv",
         lambda: export.regions_csv(figures, points),
         "One row per region, numbered as in the table, with its pick point."),
        (Keys.DL_REGIONS_JSON, "Figures (JSON)", f"{stem}-regions.json", "application/json",
         lambda: export.regions_json(figures, points, params=seg.params),
         "The regions' figures and pick points, with the run's settings."),
    ]  # fmt: skip
    with st.container(horizontal=True, wrap=True, key="pick_files"):
        download_buttons(files)
    return full


def command_ui(view: View, picked: Picked, full: bool) -> None:
    """The ``kseg isolate`` command that cuts out the same regions (`full`: uncropped)."""
    seg, stem = view.seg, view.stem
    params_name = f"{stem}-params.json"
    st.subheader("The same on the command line")
    command = export.isolate_command(
        seg.params, picked.points, source_name=view.source.cli_name, params_name=params_name
    )
    if full:
        command = command.removesuffix(" -o OUTDIR") + " --full-size -o OUTDIR"
    st.code(command, language="bash", wrap_lines=True)
    if not isinstance(seg.params["init"], str):
        st.caption(
            f"The starting colours come from the Run parameters file (Downloads tab): save "
            f"it as {params_name} beside the photo, then run this command."
        )


def _union_box(picked: Picked) -> tuple[int, int, int, int]:
    """The bounding box (x, y, width, height) of every picked region together."""
    boxes = [f.bbox for f in picked.figures]
    left = min(x for x, _, _, _ in boxes)
    top = min(y for _, y, _, _ in boxes)
    right = max(x + w for x, _, w, _ in boxes)
    bottom = max(y + h for _, y, _, h in boxes)
    return left, top, right - left, bottom - top


def _current_points() -> list[Point]:
    """The picks: from session state, or from the URL when the tab is first drawn."""
    state = st.session_state
    if Keys.PICKS not in state:
        points, malformed = links.url_points(Keys.PICK, PICKS_MAX)
        if malformed:
            st.warning(
                f"{malformed} pick{'s' if malformed > 1 else ''} in the link "
                f"{'are' if malformed > 1 else 'is'} not two whole numbers x,y and "
                f"{'were' if malformed > 1 else 'was'} left out.",
                icon=":material/warning:",
            )
        state[Keys.PICKS] = points
    return [tuple(p) for p in state[Keys.PICKS]]


def _picked(view: View, points: list[Point]) -> tuple[Picked | None, list[Point]]:
    """The regions `points` pick, and the points to keep.

    After a click only the points of the regions picked stay (a click that dropped a
    region goes with it); otherwise the points stay as they are, so that a region
    dropped by a new k comes back with the old one. A point off the image or on a
    transparent pixel is said in a warning and left out.
    """
    clicked = st.session_state.pop(Keys.PICKED, False)
    if not points:
        return None, []
    digest, params, seg = view.source.digest, view.params, view.seg
    try:
        picked = compute.picks(digest, params, tuple(points), seg)
    except ValueError as err:
        labels = seg.labels
        height, width = labels.shape
        usable = [(x, y) for x, y in points if 0 <= x < width and 0 <= y < height]
        usable = [(x, y) for x, y in usable if labels[y, x] >= 0]
        left_out = len(points) - len(usable)
        dropped = "That pick was left out." if left_out <= 1 else f"{left_out} picks were left out."
        st.warning(f"{plain(str(err))} {dropped}", icon=":material/warning:")
        if len(usable) == len(points):  # not a bad point after all: show no picks
            return None, []
        points = usable
        if not points:
            return None, []
        picked = compute.picks(digest, params, tuple(points), seg)
    if clicked:
        points = list(picked.points)
    if not picked.points:
        return None, points
    return picked, points


def click_point(value: Mapping | None, width: int, height: int) -> Point | None:
    """The full-resolution pixel under a click on the picture, or None.

    `value` is what the component reports: the click's position in the picture as
    displayed (x, y from its top left corner) and the displayed size (width, height);
    the picture shows the whole photo, so the position scales by the photo's size over
    the displayed one, and lands on a pixel of the photo (clamped into it).
    """
    try:
        x, y = float(value["x"]), float(value["y"])
        shown_w, shown_h = float(value["width"]), float(value["height"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (shown_w > 0 and shown_h > 0):
        return None
    column = int(x * width / shown_w)
    row = int(y * height / shown_h)
    return min(max(column, 0), width - 1), min(max(row, 0), height - 1)


def _take_click(width: int, height: int) -> None:
    """The picture's on_click: the click becomes a pick (or drops the region under it)."""
    state = st.session_state
    point = click_point(state.get(Keys.PICK_CLICK), width, height)
    if point is None:
        return
    points = list(state.get(Keys.PICKS, []))
    if len(points) >= PICKS_MAX:
        state[Keys.PICKS_FULL] = True
        return
    state[Keys.PICKS] = [*points, point]
    state[Keys.PICKED] = True


def _clear_picks() -> None:
    st.session_state[Keys.PICKS] = []


class _Encoded:
    """An encoded picture, for streamlit_image_coordinates: it takes "an object with a
    save method" and calls ``save(buffer, format=...)``, so the picture, kept encoded in
    the cache, is not encoded again on every run."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def save(self, buffer, **_) -> None:
        buffer.write(self.data)
