"""Compile kseg's kernels into numba's on-disk cache: ``python -m kseg._warmup``.

Started by :mod:`kseg._jit` in a process of its own, at low priority, so that the
process that asked goes on with the numpy twins meanwhile. One warm-up at a time per
cache folder (a lock file); each group leaves its marker once compiled.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import sys
import traceback

from kseg import _jit


def main() -> int:
    try:
        os.nice(10)
    except OSError:
        pass
    folder = _jit.marker_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "kseg-warmup.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another warm-up is compiling into this cache
        failed = 0
        for group, (compiled_name, _twin) in _jit.GROUPS.items():
            if _jit._marker(group).exists():
                continue
            try:
                importlib.import_module(compiled_name).warm()
            except Exception:  # noqa: BLE001 - that group stays on its twin; go on
                traceback.print_exc()
                failed += 1
                continue
            _jit.write_marker(group)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
