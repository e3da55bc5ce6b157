"""Colour spaces k-means can work in: RGB, CIELAB and HSV.

Transforms apply to tables of colours, (N, 3) arrays, never to images: kseg
converts the distinct colours of an image, not its pixels.

- ``"rgb"``: R, G, B in 0..255.
- ``"lab"``: CIELAB (D65), L in 0..100, a and b in about -128..127. Euclidean
  distance here is close to perceived colour difference.
- ``"hsv"``: hue is an angle, so it is clustered in HSV's cylindrical form
  ``(S cos H, S sin H, V)`` with S and V in 0..100: hue 359 and hue 1 are
  neighbours and the hue of a grey (S = 0) does not matter. Centres are reported
  as (H in degrees, S, V).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["COLOR_SPACES", "to_features", "features_to_centers", "centers_to_rgb"]

COLOR_SPACES = ("rgb", "lab", "hsv")


def check_space(color_space: str) -> str:
    space = str(color_space).lower()
    if space not in COLOR_SPACES:
        raise ValueError(
            f"color_space must be one of {', '.join(COLOR_SPACES)}; got {color_space!r}."
        )
    return space


def to_features(colors: np.ndarray, color_space: str) -> np.ndarray:
    """(N, 3) uint8 RGB colours -> (N, 3) float64 points in which distances are measured."""
    space = check_space(color_space)
    colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
    if space == "rgb":
        return colors.astype(np.float64)
    unit = colors.reshape(-1, 1, 3).astype(np.float32) / np.float32(255.0)
    if space == "lab":
        return cv2.cvtColor(unit, cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(np.float64)
    hsv = cv2.cvtColor(unit, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.float64)
    angle = np.deg2rad(hsv[:, 0])
    sat = hsv[:, 1] * 100.0
    out = np.empty_like(hsv)
    out[:, 0] = sat * np.cos(angle)
    out[:, 1] = sat * np.sin(angle)
    out[:, 2] = hsv[:, 2] * 100.0
    return out


def features_to_centers(features: np.ndarray, color_space: str) -> np.ndarray:
    """Cluster centres as people read them in ``color_space`` (HSV: H in degrees, S, V)."""
    space = check_space(color_space)
    features = np.asarray(features, dtype=np.float64).reshape(-1, 3)
    if space != "hsv":
        return features.copy()
    out = np.empty_like(features)
    out[:, 0] = np.rad2deg(np.arctan2(features[:, 1], features[:, 0])) % 360.0
    out[:, 1] = np.hypot(features[:, 0], features[:, 1])
    out[:, 2] = features[:, 2]
    return out


def centers_to_rgb(features: np.ndarray, color_space: str) -> np.ndarray:
    """Cluster centres (as features) -> (k, 3) uint8 RGB, rounded and clipped to the gamut."""
    space = check_space(color_space)
    features = np.asarray(features, dtype=np.float64).reshape(-1, 3)
    if space == "rgb":
        rgb = features
    elif space == "lab":
        lab = features.reshape(-1, 1, 3).astype(np.float32)
        rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB).reshape(-1, 3).astype(np.float64) * 255.0
    else:
        hsv = features_to_centers(features, "hsv")
        hsv[:, 1:] /= 100.0
        hsv = np.clip(hsv, [0.0, 0.0, 0.0], [360.0, 1.0, 1.0])
        unit = cv2.cvtColor(hsv.reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_HSV2RGB)
        rgb = unit.reshape(-1, 3).astype(np.float64) * 255.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
