"""Pictures of a segmentation for people: plotly figures and display-size images.

Everything here takes kseg results and returns a plotly ``Figure``, an array or a
string; nothing here knows about Streamlit, so the page stays a thin layer and
these functions can be tested on their own.

- `centers_3d`: the cluster centres as spheres in the RGB cube, optionally over
  a faint cloud of sampled pixels coloured by their cluster.
- `elbow_chart`: compactness against k, with the current and the suggested k.
- `downscale`: an image at display size (area-averaged, so photos stay smooth).
- `isolate`: chosen clusters over a dimmed rest of the image.
- `swatch_url`: a small colour swatch as an SVG ``data:`` URL, for tables.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping

import cv2
import numpy as np
import plotly.graph_objects as go

from kseg.histogram import preview_grid
from kseg.segment import Segmentation

__all__ = ["centers_3d", "downscale", "elbow_chart", "isolate", "swatch_url"]

CLOUD_SIDE = 256
"""Pixels for the cloud are drawn from a nearest-neighbour preview this many pixels across."""

_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_AXIS = dict(range=[0, 255], showbackground=False, zeroline=False, tickvals=[0, 64, 128, 192, 255])


def centers_3d(seg: Segmentation, *, cloud: int = 0, seed: int = 0, height: int = 480) -> go.Figure:
    """The cluster centres as markers in the RGB cube.

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

    Returns
    -------
    plotly.graph_objects.Figure
        Trace "centres" has one marker per cluster (largest first): colour the
        centre's hex, size growing with the cluster's share of the pixels. With a
        cloud, traces "pixels of cluster i" (one per cluster, i from 1) come first,
        so the centres draw on top; the centres are always the last trace.

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
    traces = []
    if cloud:
        traces += _pixel_cloud(seg, int(cloud), seed)
    traces.append(
        go.Scatter3d(
            name="centres",
            x=[e.rgb[0] for e in palette],
            y=[e.rgb[1] for e in palette],
            z=[e.rgb[2] for e in palette],
            mode="markers",
            marker=dict(
                color=hexes,
                size=[_center_size(e.share) for e in palette],
                opacity=1.0,
                line=dict(color="#444444", width=2),
            ),
            customdata=[[e.index + 1, e.share * 100] for e in palette],
            text=hexes,
            hovertemplate=(
                "Cluster %{customdata[0]}<br>%{text}<br>RGB %{x}, %{y}, %{z}"
                "<br>%{customdata[1]:.1f}% of pixels<extra></extra>"
            ),
        )
    )
    fig = go.Figure(traces)
    fig.update_layout(
        height=height,
        margin=dict(l=0, r=0, t=10, b=0),
        showlegend=False,
        scene=dict(
            xaxis=dict(title=dict(text="R"), **_AXIS),
            yaxis=dict(title=dict(text="G"), **_AXIS),
            zaxis=dict(title=dict(text="B"), **_AXIS),
            aspectmode="cube",
        ),
    )
    return fig


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
        Marked with a larger hollow marker (trace "current k") when it is in `curve`.
    suggested_k : int, optional
        Marked with a dashed vertical line labelled "suggested k = ..." (e.g.
        :func:`kseg.suggest_k` of the same curve).
    height : int, optional
        Height of the figure in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        Trace "compactness" holds the curve in increasing k, on a log y axis.
    """
    if not curve:
        raise ValueError("curve is empty; pass {k: compactness} for at least one k.")
    ks = sorted(int(k) for k in curve)
    values = [float(curve[k]) for k in ks]
    fig = go.Figure(
        go.Scatter(
            name="compactness",
            x=ks,
            y=values,
            mode="lines+markers",
            line=dict(color="#4c78a8"),
            hovertemplate="k = %{x}<br>compactness %{y:.4g}<extra></extra>",
        )
    )
    if current_k is not None and int(current_k) in curve:
        fig.add_trace(
            go.Scatter(
                name="current k",
                x=[int(current_k)],
                y=[float(curve[int(current_k)])],
                mode="markers",
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
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        showlegend=False,
        xaxis=dict(title=dict(text="k (number of colours)"), dtick=1 if len(ks) <= 20 else 2),
        yaxis=dict(title=dict(text="compactness (log scale)"), type="log"),
    )
    return fig


def downscale(rgb: np.ndarray, alpha: np.ndarray | None = None, max_side: int = 1200) -> np.ndarray:
    """An image shrunk so its longer side is at most `max_side`, by area averaging.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 ndarray
        The pixels (e.g. ``Image.rgb``); never modified.
    alpha : (H, W) bool ndarray, optional
        Opaque pixels; when given the result is RGBA with alpha 255 where opaque.
        Colours stored under transparent pixels are not part of the picture: they
        come out black and fully transparent, and never blend into opaque
        neighbours (each area averages the colours of its opaque pixels only).
    max_side : int
        Largest width or height of the result. Images already that small are
        returned at their size (a copy, or an RGBA version).

    Returns
    -------
    (h, w, 3) or (h, w, 4) uint8 ndarray
    """
    if alpha is None:
        pixels = rgb
    else:
        opaque = alpha.astype(np.uint8)
        # Premultiplied: transparent pixels weigh nothing in the averages below.
        pixels = np.dstack([rgb * opaque[:, :, None], opaque * 255])
    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return np.array(pixels, copy=True)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(np.ascontiguousarray(pixels), size, interpolation=cv2.INTER_AREA)
    if alpha is not None:
        coverage = small[:, :, 3:].astype(np.float32)
        colour = small[:, :, :3] * (255 / np.maximum(coverage, 1))
        small[:, :, :3] = np.clip(np.rint(colour), 0, 255)
    return small


def isolate(
    seg: Segmentation,
    clusters: Iterable[int],
    *,
    max_side: int | None = 1200,
    dim: float = 0.2,
    paint: bool = False,
) -> np.ndarray:
    """The chosen clusters at full strength over a dimmed grey rest of the image.

    Parameters
    ----------
    seg : Segmentation
    clusters : iterable of int
        Cluster indices (palette order, 0 is the largest) to keep.
    max_side : int or None
        Nearest-neighbour preview size, as for ``Segmentation.mask``; None for
        full resolution.
    dim : float
        Brightness of the rest, 0 (black) to 1 (unchanged grey).
    paint : bool
        Paint kept pixels with their cluster's colour instead of their own.

    Returns
    -------
    (h, w, 3) uint8 ndarray
        Transparent pixels count as not chosen and are black: the colours stored
        under them are not part of the picture.
    """
    if not 0 <= dim <= 1:
        raise ValueError(f"dim must be within 0..1; got {dim}.")
    chosen = list(clusters)
    labels = seg.preview_labels(max_side)
    keep = seg.mask(chosen, max_side) if chosen else np.zeros(labels.shape, bool)
    if paint:
        table = np.zeros((seg.k + 1, 3), np.uint8)  # the extra row is label -1 (transparent)
        table[:-1] = seg.centers_rgb
        pixels = table[labels]
    elif max_side is None or max(seg.shape) <= max_side:
        pixels = np.array(seg.histogram.rgb, copy=True)
    else:
        rows, cols = preview_grid(seg.shape, max_side)
        pixels = seg.histogram.rgb[rows][:, cols]
    if seg.histogram.alpha is not None:
        pixels = np.where((labels < 0)[:, :, None], np.uint8(0), pixels)
    gray = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    rest = cv2.cvtColor(cv2.convertScaleAbs(gray, alpha=dim), cv2.COLOR_GRAY2RGB)
    return np.where(keep[:, :, None], pixels, rest)


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


def _pixel_cloud(seg: Segmentation, n: int, seed: int) -> list[go.Scatter3d]:
    """Up to `n` opaque pixels of a small preview at their RGB: one trace per cluster.

    One colour per trace, not one per point: plotly validates every string in a
    per-point colour list, which costs ~0.2 s for 3000 points.
    """
    rows, cols = preview_grid(seg.shape, CLOUD_SIDE)
    labels = seg.preview_labels(CLOUD_SIDE).reshape(-1)
    rgb = seg.histogram.rgb[rows][:, cols].reshape(-1, 3)
    opaque = np.flatnonzero(labels >= 0)
    rng = np.random.default_rng(seed)
    if opaque.size > n:
        opaque = np.sort(rng.choice(opaque, size=n, replace=False))
    points, point_labels = rgb[opaque], labels[opaque]
    traces = []
    for entry in seg.palette():
        mine = points[point_labels == entry.index]
        if mine.size:
            traces.append(
                go.Scatter3d(
                    name=f"pixels of cluster {entry.index + 1}",
                    x=mine[:, 0],
                    y=mine[:, 1],
                    z=mine[:, 2],
                    mode="markers",
                    marker=dict(size=2, color=entry.hex, opacity=0.3),
                    hoverinfo="skip",
                )
            )
    return traces
