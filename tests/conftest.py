"""Fixtures shared by the test files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def app_module():
    """app.py imported as a module, for its constants and helpers (main() does not run)."""
    sys.path.insert(0, str(ROOT))
    try:
        import app

        yield app
    finally:
        sys.path.remove(str(ROOT))
