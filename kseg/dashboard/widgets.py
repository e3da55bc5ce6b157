"""Parts of the page that more than one tab shows: figures, palette, 3D chart, isolate,
downloads. Tabs that repeat a part pass a ``key_prefix`` so its widgets keep apart."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import streamlit as st

import kseg
from kseg import export
from kseg.dashboard import charts, compute, links
from kseg.dashboard.state import (
    CLOUD_POINTS,
    ISOLATE_DIM_DEFAULT,
    ISOLATE_PAINTS,
    PREVIEW_SIDE,
    Keys,
)
from kseg.dashboard.text import percent, plain, transparent_share

Metric = tuple[str, str, str]  # label, value, help


def metrics_row(metrics: list[Metric], *, key: str) -> None:
    """Bordered figures in a row that wraps rather than squeezing them: each is as wide as
    its label and value, so neither is ever cut short."""
    with st.container(horizontal=True, wrap=True, key=key):
        for label, value, help_text in metrics:
            st.metric(label, value, help=help_text, border=True, width="content")


def warnings_ui(seg: kseg.Segmentation) -> None:
    """The result's notes on degenerate outcomes (fewer clusters than asked, ...)."""
    for warning in seg.warnings:
        st.warning(plain(warning), icon=":material/warning:")


def palette_ui(seg: kseg.Segmentation, *, key_prefix: str = "") -> None:
    """The palette as a table, largest cluster first, narrow enough for a phone (340 px).

    The RGB triple is left to the hex code (and the 3D chart's hover, and the palette
    files): with it the table no longer fits a phone's width.
    """
    entries = seg.palette()
    transparent = seg.histogram.n_opaque < seg.shape[0] * seg.shape[1]
    of_what = "of the opaque pixels" if transparent else "of the pixels"
    st.dataframe(
        {
            "Colour": [charts.swatch_url(e.hex) for e in entries],
            "Cluster": [e.index + 1 for e in entries],
            "Hex": [e.hex for e in entries],
            "Share": [round(e.share * 100, 1) for e in entries],
            "Pixels": [e.count for e in entries],
        },
        column_config={
            "Colour": st.column_config.ImageColumn("Colour", width=52),
            "Cluster": st.column_config.NumberColumn("Cluster", width=56),
            "Hex": st.column_config.TextColumn("Hex", width=70),
            "Share": st.column_config.ProgressColumn(
                "Share",
                format="%.1f %%",
                min_value=0.0,
                max_value=100.0,
                width=86,
                help=f"The cluster's share {of_what}.",
            ),
            "Pixels": st.column_config.NumberColumn(
                "Pixels", format="localized", width=76, help=f"Cluster size, {of_what}."
            ),
        },
        hide_index=True,
        height=35 * (min(len(entries), 12) + 1) + 3,  # up to 12 rows without scrolling
        key=key_prefix + Keys.PALETTE_TABLE,
    )
    if transparent:
        st.caption(
            "Shares and pixel counts are of the opaque pixels: transparent ones are not clustered."
        )


CENTRES_HEIGHT = 400  # px: on a phone (844 px tall) half the screen stays free to scroll
CAMERA_REVISION_PREFIX = "kseg-camera:"
# Installed once per browser page, for charts whose layout.uirevision starts with the
# prefix. The page wraps Plotly.react (react-plotly draws every figure with it) as soon as
# Streamlit's plotly bundle sets window.Plotly, and
# - draws such a chart only once the run has finished and the pictures have loaded (at
#   most 3 s later): where WebGL is drawn in software a new 3D scene takes longer than the
#   rest of the page, and the new segmented image should not wait for it;
# - leaves the mouse wheel to the page (it scrolls past the chart, not into a trap);
# - records its camera whenever the visitor turns or zooms it (plotly_relayout), and draws
#   every chart of the same revision with that camera (Streamlit mounts a new chart on
#   every change of its figure, then draws it a second time in its theme).
CAMERA_JS = """<script>
(() => {
  if (window.__ksegCamera) return;
  const cameras = window.__ksegCamera = {};
  const PREFIX = "__PREFIX__";
  const ours = (layout) => layout && typeof layout.uirevision === "string"
    && layout.uirevision.startsWith(PREFIX);
  const settled = () => {
    const app = document.querySelector("[data-testid='stApp']");
    const pictures = document.querySelectorAll(
      "[data-testid='stMain'] [data-testid='stImage'] img");
    return !(app && app.getAttribute("data-test-script-state") === "running")
      && [...pictures].every((picture) => picture.complete);
  };
  const afterPictures = () => new Promise((resolve) => {
    const start = performance.now();
    const check = () => (settled() || performance.now() - start > 3000)
      ? requestAnimationFrame(() => setTimeout(resolve, 0)) : setTimeout(check, 25);
    check();
  });
  const keepCamera = (gd) => {
    if (gd.__ksegCamera || !gd.on) return;
    gd.__ksegCamera = true;
    // Without scrollZoom plotly's 3D scene still swallows the wheel: let the page have it.
    gd.addEventListener("wheel", (event) => event.stopPropagation(), {capture: true});
    gd.on("plotly_relayout", (change) => {
      const camera = change["scene.camera"] || (gd.layout.scene || {}).camera;
      if (camera && ours(gd.layout)) {
        cameras[gd.layout.uirevision] = structuredClone(camera);
      }
    });
  };
  const patch = (Plotly) => {
    if (!Plotly || Plotly.__ksegCamera) return;
    Plotly.__ksegCamera = true;
    const react = Plotly.react;
    Plotly.react = function (gd, figure, ...rest) {
      const layout = figure && figure.layout;
      if (!ours(layout)) return react.call(this, gd, figure, ...rest);
      return afterPictures().then(() => {
        if (!gd.isConnected) return gd;  // replaced by a newer chart meanwhile
        // In place, as plotly itself changes a figure's layout: react-plotly and Streamlit
        // compare layouts by identity, and a copy would make them draw again and again.
        const camera = cameras[layout.uirevision];
        if (camera) layout.scene = {...layout.scene, camera: structuredClone(camera)};
        return react.call(this, gd, figure, ...rest);
      }).then((result) => { keepCamera(gd); return result; });
    };
  };
  if (window.Plotly) {
    patch(window.Plotly);
    // A chart drawn before this script ran: follow its camera too.
    document.querySelectorAll(".js-plotly-plot").forEach((gd) => {
      if (ours(gd.layout)) keepCamera(gd);
    });
  } else {
    let value;
    Object.defineProperty(window, "Plotly", {
      configurable: true,
      get: () => value,
      set: (plotly) => { value = plotly; patch(plotly); },
    });
  }
})();
</script>""".replace("__PREFIX__", CAMERA_REVISION_PREFIX)


def centres_ui(
    seg: kseg.Segmentation, *, key_prefix: str = "", revision: str | None = None
) -> None:
    """The 3D chart of the centres behind an expander, drawn only while it is open.

    For tabs where the chart is extra (Superpixels); the Segment tab always shows it
    (`centres_chart_ui`, which explains ``revision``).
    """
    show_key = key_prefix + Keys.SHOW_3D
    # Not bound to the URL (see links): the expander starts from it through session state,
    # as `expanded` would make a new widget of it whenever it changed (it is part of the
    # expander's identity).
    if show_key not in st.session_state:
        st.session_state[show_key] = bool(links.url_bool(show_key))
    expander = st.expander(
        "Cluster centres in 3D (the RGB cube)",
        icon=":material/3d_rotation:",
        key=show_key,
        on_change="rerun",
    )
    links.keep(show_key, [bool(expander.open)], [False])
    if not expander.open:
        return  # the toggles' settings stay in the URL as they were
    with expander:
        centres_chart_ui(seg, key_prefix=key_prefix, revision=revision)


def centres_chart_ui(
    seg: kseg.Segmentation,
    *,
    key_prefix: str = "",
    revision: str | None = None,
    height: int = CENTRES_HEIGHT,
) -> None:
    """The 3D chart of the centres (over a sampled pixel cloud), its switches and caption.

    ``revision`` (e.g. the photo's digest) keeps the visitor's camera while it stays the
    same: Streamlit mounts a new chart whenever the figure changes (its element id
    hashes the figure), so plotly's ``uirevision`` alone would not outlive a new k;
    `CAMERA_JS` gives the new chart the camera the last one of the same revision had.
    """
    cloud_key = key_prefix + Keys.CLOUD
    cube_key = key_prefix + Keys.WHOLE_CUBE
    chart = st.container()  # above its switches: the chart first, where the eye goes
    left, right = st.columns(2)
    cloud = left.toggle(
        f"Show {CLOUD_POINTS:,} sampled pixels",
        value=links.url_bool(cloud_key) is not False,
        key=cloud_key,
    )
    cube = right.toggle(
        "Show the whole cube",
        value=bool(links.url_bool(cube_key)),
        key=cube_key,
        help="Axes from 0 to 255. Off, they span the colours drawn, so close centres stand apart.",
    )
    links.keep(cloud_key, [cloud], [True])
    links.keep(cube_key, [cube], [False])
    figure = charts.centers_3d(
        seg,
        cloud=CLOUD_POINTS if cloud else 0,
        seed=0,
        height=height,
        whole_cube=cube,
        revision=None if revision is None else CAMERA_REVISION_PREFIX + revision,
    )
    with chart:
        if revision is not None:
            st.html(CAMERA_JS, unsafe_allow_javascript=True)
        st.plotly_chart(
            figure,
            key=key_prefix + Keys.CENTERS_3D,
            # The wheel scrolls the page over the chart too (CAMERA_JS); the toolbar zooms.
            config={"displaylogo": False, "scrollZoom": False},
        )
    space = {"lab": "CIELAB", "hsv": "HSV"}.get(seg.color_space)
    where = f" The clusters were found in {space}; the" if space else " The"
    pixels = "opaque pixels" if transparent_share(seg.histogram) > 0 else "pixels"
    span = "0 to 255" if cube else "fitted to the colours drawn"
    st.caption(
        "Each sphere is a cluster's colour (hover for its number, 1 to "
        f"{seg.k}), sized by its share of the {pixels}.{where} axes are always red, "
        f"green and blue, {span}. Drag to turn the cube."
    )


def isolate_ui(
    seg: kseg.Segmentation, stem: str, *, key_prefix: str = "", index: np.ndarray | None = None
) -> None:
    """Chosen clusters over a dimmed rest, and their mask as a file.

    ``index`` is the histogram's kept ``preview_index(PREVIEW_SIDE)``, if any.
    """
    st.subheader("Show only some clusters")
    chosen, paint, dim = isolate_controls_ui(seg, key_prefix=key_prefix)
    if not chosen:
        st.info("Pick one or more clusters above.")
        return
    flat = paint == ISOLATE_PAINTS[1]
    pixels = kseg.isolate(
        seg, chosen, max_side=PREVIEW_SIDE, dim=dim / 100, paint=flat, index=index
    )
    share = float(seg.shares[chosen].sum())
    transparent = pixels.shape[2] == 4  # kept transparent: the page's checkerboard shows
    with st.container(key=f"{key_prefix}isolated"):
        st.image(
            export.encode_png(pixels, compression=1)
            if flat or transparent
            else export.encode_jpeg(pixels),
            caption=f"Cluster{'s' if len(chosen) > 1 else ''} "
            f"{', '.join(str(i + 1) for i in sorted(chosen))}: "
            f"{percent(share)} of the {'opaque ' if transparent else ''}pixels",
        )
    st.download_button(
        "Download this mask (PNG)",
        data=lambda: compute.mask_png(seg, chosen),
        file_name=f"{stem}-mask.png",
        mime="image/png",
        key=key_prefix + Keys.DL_MASK,
        on_click="ignore",
        icon=":material/download:",
        help=f"{seg.shape[1]:,} x {seg.shape[0]:,} px: white where the chosen clusters are, "
        "black elsewhere.",
    )


def isolate_controls_ui(
    seg: kseg.Segmentation, *, key_prefix: str = ""
) -> tuple[list[int], str, int]:
    """The clusters to isolate (0-based), how to paint them and the rest's brightness (%).

    All three are kept in the URL, the clusters as the numbers people read (1..k).
    """
    entries = seg.palette()
    key = key_prefix + Keys.ISOLATE
    paint_key = key_prefix + Keys.ISOLATE_PAINT
    dim_key = key_prefix + Keys.ISOLATE_DIM
    numbers = links.url_ints(key, 1, seg.k)
    labels = [f"{e.index + 1}: {e.hex} ({percent(e.share)})" for e in entries]
    # Streamlit keeps a multiselect's choice as its option labels, and these labels change
    # with every new result: a widget of its own per set of labels starts afresh from the
    # URL's cluster numbers instead of showing (or silently dropping) stale labels.
    tag = hashlib.blake2s("|".join(labels).encode(), digest_size=4).hexdigest()
    with st.container(key=key):
        chosen = st.multiselect(
            "Clusters to isolate",
            [e.index for e in entries],
            default=[0] if numbers is None else [n - 1 for n in numbers],
            format_func=labels.__getitem__,
            key=f"{key}-{tag}",
            help="For a region of interest, e.g. the vessels of the retina sample.",
        )
    left, right = st.columns(2)
    paint = left.radio(
        "Show the chosen clusters in",
        ISOLATE_PAINTS,
        index=ISOLATE_PAINTS.index(
            links.url_choice(paint_key, ISOLATE_PAINTS) or ISOLATE_PAINTS[0]
        ),
        key=paint_key,
        horizontal=True,
    )
    dim = right.slider(
        "Brightness of the rest (%)",
        0,
        100,
        (links.url_ints(dim_key, 0, 100) or [ISOLATE_DIM_DEFAULT])[0],
        key=dim_key,
    )
    links.keep(key, [i + 1 for i in sorted(chosen)], [1])
    links.keep(paint_key, [paint], [ISOLATE_PAINTS[0]])
    links.keep(dim_key, [dim], [ISOLATE_DIM_DEFAULT])
    return chosen, paint, dim


def downloads_ui(
    seg: kseg.Segmentation, stem: str, source_name: str, *, key_prefix: str = ""
) -> None:
    """One lazy download button per file of `seg`, made from its pixels when clicked;
    then the command line that makes the same result again."""
    params_name = f"{stem}-params.json"
    files: list[tuple[str, str, str, str, Callable[[], bytes | str], str]] = [
        (Keys.DL_SEGMENTED, "Segmented image (PNG)", f"{stem}.png", "image/png",
         lambda: export.segmented_png(seg),
         "Every pixel painted with its cluster's colour."),
        (Keys.DL_LABELS, "Label map (PNG)", f"{stem}-labels.png", "image/png",
         lambda: export.label_map_png(seg),
         f"Each pixel's value is its cluster's number, 1 to {seg.k} (largest first), 0 "
         "where the photo is transparent; viewers show it in the clusters' colours."),
        (Keys.DL_PALETTE_JSON, "Palette (JSON)", f"{stem}-palette.json", "application/json",
         lambda: export.palette_json(seg),
         f"Clusters 1 to {seg.k}: colours, shares and centres; reusable as starting "
         "centres on the command line."),
        (Keys.DL_PALETTE_CSV, "Palette (CSV)", f"{stem}-palette.csv", "text/csv",
         lambda: export.palette_csv(seg),
         f"One row per cluster, numbered 1 to {seg.k}, for a spreadsheet."),
        (Keys.DL_PARAMS, "Run parameters (JSON)", params_name, "application/json",
         lambda: export.params_json(seg, source_name=source_name, params_name=params_name),
         "Everything needed to reproduce this result, with the command line."),
    ]  # fmt: skip
    download_buttons(files, key_prefix)
    st.subheader("The same on the command line")
    command = export.cli_command(seg.params, source_name=source_name, params_name=params_name)
    st.code(command, language="bash", wrap_lines=True)
    if not isinstance(seg.params["init"], str):
        st.caption(
            f"The starting colours come from the Run parameters file: save it as "
            f"{params_name} beside the photo, then run this command."
        )


def download_buttons(files, key_prefix: str = "") -> None:
    """One download button per (key, label, file name, mime, data, help) row; ``data``
    may be a callable, made only on the click (no rerun: ``on_click="ignore"``)."""
    for key, label, file_name, mime, data, help_text in files:
        st.download_button(
            label,
            data=data,
            file_name=file_name,
            mime=mime,
            key=key_prefix + key,
            on_click="ignore",
            icon=":material/download:",
            help=help_text,
        )
