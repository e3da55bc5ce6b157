"""Bundled sample photos, all public domain or CC0, from scikit-image's data set.

Each was downscaled to at most 1024 px and saved as JPEG (quality 90).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SAMPLES", "Sample", "sample_path"]

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Sample:
    name: str
    title: str
    credit: str
    licence: str

    @property
    def path(self) -> Path:
        return _HERE / f"{self.name}.jpg"


SAMPLES: tuple[Sample, ...] = (
    Sample("coffee", "Coffee cup", "Rachel Michetti", "CC0 1.0"),
    Sample("chelsea", "Chelsea the cat", "Stefan van der Walt", "CC0 1.0"),
    Sample("astronaut", "Astronaut Eileen Collins", "NASA", "Public domain"),
    Sample("retina", "Fundus photograph of a retina", "Mikael Häggström (Wikimedia)", "CC0 1.0"),
)


def sample_path(name: str) -> Path:
    """Path of the bundled sample called ``name`` (see ``SAMPLES``)."""
    for sample in SAMPLES:
        if sample.name == name:
            return sample.path
    names = ", ".join(s.name for s in SAMPLES)
    raise KeyError(f"No sample called {name!r}; the samples are: {names}.")
