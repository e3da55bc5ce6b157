"""The page's charts: plotly figures of kseg results (no Streamlit here).

- `centers_3d`: the cluster centres as spheres in the RGB cube, optionally over
  a faint cloud of sampled pixels coloured by their cluster.
- `elbow_chart`: compactness against k, with the current and the suggested k.
- `swatch_url`: a small colour swatch as an SVG ``data:`` URL, for tables.
"""

from __future__ import annotations

import base64
import re
import weakref
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from kseg import ColorHistogram, Segmentation
from kseg.dashboard.text import big_number, tick_number

__all__ = ["centers_3d", "elbow_chart", "swatch_url"]

CLOUD_SIDE = 256
"""Pixels for the cloud are drawn from a nearest-neighbour preview this many pixels across."""

# Each photo's cloud sample, for as long as its histogram lives (cached results hold it).
_CLOUD_SAMPLES: weakref.WeakKeyDictionary[ColorHistogram, tuple] = weakref.WeakKeyDictionary()
_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_CUBE_TICKS = [0, 64, 128, 192, 255]
_SPACE_NAMES = {"rgb": "RGB", "lab": "CIELAB", "hsv": "HSV"}


def centers_3d(
    seg: Segmentation,
    *,
    cloud: int = 0,
    seed: int = 0,
    height: int = 480,
    whole_cube: bool = False,
    revision: str | None = None,
) -> go.Figure:
    """The cluster centres as markers in the RGB cube, the axes fitted to what is drawn.

    Parameters
    ----------
    seg : Segmentation
        The result to draw. Centres are drawn at their RGB colour
        (``seg.centers_rgb``) whatever colour space the clustering used.
    cloud : int, optional
        Also draw up to this many pixels, sampled at random, each at its own RGB
        colour and painted with its cluster's colour. 0 (default) draws none.
    seed : int, optional
        Seeds the sampling of the cloud, so the same call draws the same pixels.
    height : int, optional
        Height of the figure in pixels.
    whole_cube : bool, optional
        Axes over the whole cube, 0..255 each. By default each axis spans every
        centre and the middle 98 % of the cloud (plotly leaves out points beyond
        the axes), with a margin, so close centres stand apart.
    revision : str, optional
        The layout's ``uirevision``: while it stays the same (e.g. the photo's
        digest), plotly keeps the visitor's camera when the figure is drawn again.

    Returns
    -------
    plotly.graph_objects.Figure
        Trace "centres" has one marker per cluster (largest first): colour the
        centre's hex, size growing with the cluster's share of the pixels, hover
        text "Cluster i" with i from 1. With a cloud, one trace "pixels" comes
        first, so the centres draw on top: its points as uint8 RGB, its
        ``marker.color`` each point's cluster (0-based) through a stepped colour
        scale of the clusters' colours, no hover. The centres are always the last
        trace. The axes are always R, G and B, whatever space the clustering used;
        the title says so (and "0-255" with the whole cube). The hover says "of the
        opaque pixels" only when the photo has transparent ones.

    Examples
    --------
    >>> import numpy as np, kseg
    >>> rgb = np.zeros((4, 4, 3), np.uint8); rgb[:, 3:] = 255
    >>> fig = centers_3d(kseg.segment(rgb, 2))
    >>> fig.data[-1].marker.color
    ('#000000', '#ffffff')
    """
    if isinstance(cloud, bool) or not isinstance(cloud, int | np.integer) or cloud < 0:
        raise ValueError(f"cloud must be a whole number of pixels >= 0; got {cloud!r}.")
    palette = seg.palette()
    hexes = [entry.hex for entry in palette]
    traces: list[dict] = []
    drawn = [np.asarray(seg.centers_rgb, np.float64)]
    if cloud:
        points, labels = _pixel_cloud(seg, int(cloud), seed)
        if labels.size:
            traces.append(_cloud_trace(points, labels, hexes))
            # The cloud's bulk, not its few outliers, which would bring the blob back.
            drawn.append(np.percentile(points, [1, 99], axis=0))
    ranges = _axis_ranges(np.concatenate(drawn), whole_cube)
    rows, cols = seg.shape
    transparent = seg.histogram.n_opaque < rows * cols
    of_what = "of the opaque pixels" if transparent else "of the pixels"
    traces.append(
        dict(
            type="scatter3d",
            name="centres",
            x=[e.rgb[0] for e in palette],
            y=[e.rgb[1] for e in palette],
            z=[e.rgb[2] for e in palette],
            mode="markers",
            marker=dict(
                color=hexes,
                size=[round(_center_size(e.share), 1) for e in palette],
                opacity=1.0,
                line=dict(color="#444444", width=2),
            ),
            customdata=[[e.index + 1, round(e.share * 100, 2)] for e in palette],
            text=hexes,
            hovertemplate=(
                "Cluster %{customdata[0]}<br>%{text}<br>RGB %{x}, %{y}, %{z}"
                f"<br>%{{customdata[1]:.1f}} % {of_what}<extra></extra>"
            ),
        )
    )
    space = _SPACE_NAMES.get(seg.color_space, seg.color_space)
    title = "Axes: red, green, blue" + (" (0-255)" if whole_cube else "")  # else: zoomed in
    if space != "RGB":  # a second line: one line this long does not fit a phone
        title += f"<br>The clusters were found in {space}"
    layout = dict(
        height=height,
        margin=dict(l=10, r=10, t=56 if space != "RGB" else 36, b=10),
        showlegend=False,
        title=dict(  # just above the scene, in the top margin: room for two lines
            text=title,
            font=dict(size=13),
            x=0,
            xanchor="left",
            yref="paper",
            y=1,
            yanchor="bottom",
            pad=dict(b=4),
        ),
        # Plotly's toolbar stands up the right edge, off the title (on a phone it sat on it).
        modebar=dict(orientation="v"),
        scene=dict(
            xaxis=_axis("R", ranges[0], whole_cube),
            yaxis=_axis("G", ranges[1], whole_cube),
            zaxis=_axis("B", ranges[2], whole_cube),
            aspectmode="cube",
            # Two steps back: at 390 px the B axis's labels reached past the scene's edge.
            camera=dict(eye=dict(x=1.75, y=1.75, z=1.15)),
        ),
    )
    if revision is not None:
        layout["uirevision"] = revision
    # Plotly's objects check every property as it is set: one Figure built from plain
    # dicts checks them all in a tenth of the time update_layout takes.
    return go.Figure(dict(data=traces, layout=layout))


def _cloud_trace(points: np.ndarray, labels: np.ndarray, hexes: list[str]) -> dict:
    """The cloud as one trace: each point's cluster number through a stepped colour scale.

    One trace rather than one per cluster: each trace is a WebGL object of its own in
    the browser, and a list of one colour string per point costs plotly ~0.2 s to check.
    """
    k = len(hexes)
    scale = [[bound / k, hexes[i]] for i in range(k) for bound in (i, i + 1)]
    return dict(
        type="scatter3d",
        name="pixels",
        x=points[:, 0],
        y=points[:, 1],
        z=points[:, 2],
        mode="markers",
        marker=dict(
            size=2,
            color=labels.astype(np.uint8 if k <= 255 else np.int16),
            colorscale=scale,
            cmin=-0.5,
            cmax=k - 0.5,  # cluster i in the middle of its step
            showscale=False,
            opacity=0.3,
        ),
        hoverinfo="skip",
    )


def _axis(name: str, span: tuple[float, float], whole_cube: bool) -> dict:
    axis = dict(
        title=dict(text=name), range=list(span), showbackground=False, zeroline=False, nticks=5
    )
    if whole_cube:
        axis["tickvals"] = _CUBE_TICKS
    return axis


def _axis_ranges(points: np.ndarray, whole_cube: bool) -> list[tuple[float, float]]:
    """Each axis over the drawn points with a margin (at least 24 levels wide), in 0..255."""
    if whole_cube:
        return [(0.0, 255.0)] * 3
    ranges = []
    for low, high in zip(points.min(axis=0), points.max(axis=0), strict=True):
        margin = max(0.08 * (high - low), (24 - (high - low)) / 2, 4.0)
        ranges.append((float(max(0.0, low - margin)), float(min(255.0, high + margin))))
    return ranges


def elbow_chart(
    curve: Mapping[int, float],
    current_k: int | None = None,
    suggested_k: int | None = None,
    *,
    height: int = 360,
) -> go.Figure:
    """Compactness against k: the data for choosing k by its elbow.

    Parameters
    ----------
    curve : mapping of int to float
        ``{k: compactness}``, as returned by :func:`kseg.elbow`.
    current_k : int, optional
        Marked with a larger hollow marker labelled "current k = ..." (trace
        "current k") when it is in `curve`.
    suggested_k : int, optional
        Marked with a dashed vertical line labelled "suggested k = ..." (e.g.
        :func:`kseg.suggest_k` of the same curve).
    height : int, optional
        Height of the figure in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        Trace "compactness" holds the curve in increasing k, on a log y axis whose
        ticks are 1, 2 and 5 times powers of ten written as the page writes every
        compactness (``"2×10⁸"``, ``"5×10⁷"``, ``"5,000"``: ``text.big_number``):
        plotly's own log ticks label the values between powers of ten with a bare
        digit ("2", "100M", "9", "8"). The hover gives each value as the captions do
        and as a share of the first k's.
    """
    if not curve:
        raise ValueError("curve is empty; pass {k: compactness} for at least one k.")
    ks = sorted(int(k) for k in curve)
    values = [float(curve[k]) for k in ks]
    first = values[0]
    fig = go.Figure(
        go.Scatter(
            name="compactness",
            x=ks,
            y=values,
            mode="lines+markers",
            line=dict(color="#4c78a8"),
            text=[big_number(v) for v in values],
            customdata=[100 * v / first if first > 0 else 100.0 for v in values],
            hovertemplate=f"k = %{{x}}<br>compactness %{{text}}<br>"
            f"%{{customdata:.0f}}% of k = {ks[0]}'s<extra></extra>",
        )
    )
    if current_k is not None and int(current_k) in curve:
        fig.add_trace(
            go.Scatter(
                name="current k",
                x=[int(current_k)],
                y=[float(curve[int(current_k)])],
                mode="markers+text",
                text=[f"current k = {int(current_k)}"],
                textposition="top right",
                textfont=dict(color="#e45756"),
                marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color="#e45756", width=3)),
                hovertemplate="current k = %{x}<extra></extra>",
            )
        )
    if suggested_k is not None:
        fig.add_vline(
            x=int(suggested_k),
            line=dict(color="#54a24b", dash="dash"),
            annotation=dict(text=f"suggested k = {int(suggested_k)}", font=dict(color="#54a24b")),
        )
    # A log axis cannot show 0 (a perfect fit): the ticks cover the positive values.
    ticks = _log_ticks(min((v for v in values if v > 0), default=0.0), max(values))
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        showlegend=False,
        xaxis=dict(title=dict(text="k (number of colours)"), dtick=1 if len(ks) <= 20 else 2),
        yaxis=dict(
            title=dict(text="compactness (log scale; lower is closer)"),
            type="log",
            tickmode="array",
            tickvals=ticks,
            ticktext=[tick_number(v) for v in ticks],
            # From the tick below the curve to the one above it, so that every tick shows.
            range=[float(np.log10(ticks[0])), float(np.log10(ticks[-1]))] if ticks else None,
        ),
    )
    return fig


def _log_ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 times powers of ten from just below `low` to just above `high`.

    Every value in the range when it spans less than a decade gets at least three
    ticks (1 to 9 times powers of ten then); non-positive values get none.
    """
    if not high > 0:
        return []
    low = low if low > 0 else high
    for steps in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        start, stop = int(np.floor(np.log10(low))), int(np.floor(np.log10(high)))
        candidates = [m * 10.0**e for e in range(start, stop + 2) for m in steps]
        below = max([v for v in candidates if v <= low], default=candidates[0])
        above = min([v for v in candidates if v >= high], default=candidates[-1])
        ticks = [v for v in candidates if below <= v <= above]
        if len(ticks) >= 3:
            break
    return ticks


def swatch_url(hex_color: str, *, size: int = 24) -> str:
    """A square of `hex_color` as an SVG ``data:`` URL (for an image column in a table).

    Raises ValueError unless `hex_color` is ``#rrggbb``, so no other text can
    reach the SVG.
    """
    if not isinstance(hex_color, str) or not _HEX.fullmatch(hex_color):
        raise ValueError(f"Expected a colour as #rrggbb; got {hex_color!r}.")
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}">'
        f'<rect width="{size}" height="{size}" rx="3" fill="{hex_color}" '
        f'stroke="#888888" stroke-width="1"/></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("ascii")).decode("ascii")


def _center_size(share: float) -> float:
    # Area grows with the share; a tiny cluster stays visible.
    return 8.0 + 40.0 * float(np.sqrt(share))


def _pixel_cloud(seg: Segmentation, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to `n` opaque pixels of a small preview: their (m, 3) uint8 RGB and (m,) labels.

    Which pixels depends only on the photo, `n` and `seed`, so the sample is made once
    per histogram (its preview index costs ~40 ms at 12 MP) and each new result only
    looks its labels up.
    """
    hist = seg.histogram
    index, chosen = _cloud_sample(hist, n, seed)
    labels = seg.preview_labels(CLOUD_SIDE, index=index).reshape(-1)[chosen]
    return hist.colors[index.reshape(-1)[chosen]], labels


def _cloud_sample(hist: ColorHistogram, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The histogram's preview index at CLOUD_SIDE and up to `n` of its opaque pixels."""
    key = (n, seed)
    kept = _CLOUD_SAMPLES.get(hist)
    if kept is None or kept[0] != key:  # the page asks for one sample per photo
        index = hist.preview_index(CLOUD_SIDE)
        opaque = np.flatnonzero(index.reshape(-1) >= 0)
        if opaque.size > n:
            opaque = np.sort(np.random.default_rng(seed).choice(opaque, size=n, replace=False))
        kept = _CLOUD_SAMPLES[hist] = (key, index, opaque)
    return kept[1], kept[2]
