"""Hostile and awkward input through the page (AppTest), its server's limits and config.

Every file of tests/hostile_corpus.py goes through the page as one visitor uploading
file after file would: each gives the right result or a clear message, and the page
stays usable with the visitor's settings. Nothing the visitor sent comes back verbatim
(every image and download is re-encoded from pixels), neither the file's name nor its
text reaches the page, nothing is written to disk, no stack trace shows. Then the
server's limits and configuration, how its memory stays bounded (the results cache,
decode slots, freed memory given back), and one browser test for what only a browser
shows (the uploader's own checks, XSRF, the upload size limit). What the library and
the command line make of the same files: test_hostile_library.py, test_hostile_cli.py.

The page tests share one visitor session (module scope), as a person uploading file
after file would: each test compares the page with what it showed just before.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import gc
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import streamlit.config
import streamlit.testing.v1.app_test as app_test_module
from app_support import APP, ROOT, TIMEOUT, metric, ok, palette_hexes, start, unescape, upload
from hostile_corpus import (
    CANARY,
    CASES,
    Case,
    case,
    contains_payload,
    hexes,
    ids,
    png_claiming,
    quadrants,
)
from streamlit.testing.v1 import AppTest

import kseg
from kseg import _jit, export
from kseg.dashboard import compute, page, server, sidebar, widgets
from kseg.dashboard.cache import MemoryCache, nbytes
from kseg.dashboard.state import MAX_PIXELS, Params, Source, SuperpixelParams

PAGE_K = 5  # the visitor's k, kept through every upload
PAGE_SPACE = "CIELAB"
DASHBOARD = ROOT / "kseg" / "dashboard"
# The page's code: its entry point and its package.
PAGE_SOURCES = [ROOT / "app.py", *sorted(DASHBOARD.rglob("*.py"))]


def read_config() -> dict:
    return tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())


# ----------------------------------------------------------------------------- the page
def page_text(at: AppTest) -> str:
    """Every element the page sent, as protobuf text: what a browser would receive."""
    parts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and getattr(proto, "body", None) != widgets.CAMERA_JS:
            parts.append(str(proto))  # the camera script, a constant, is checked apart
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


@pytest.fixture(scope="module")
def visitor() -> AppTest:
    """One visitor with their own k and colour space, uploading every file in turn."""
    at = start()
    ok(at.slider(key="k").set_value(PAGE_K).run())
    ok(at.radio(key="space").set_value(PAGE_SPACE).run())
    return at


@pytest.mark.parametrize("c", CASES, ids=ids())
def test_page_shows_the_result_or_a_clear_error_and_stays_usable(c: Case, visitor: AppTest):
    at = visitor
    before = (metric(at, "Image size"), metric(at, "Distinct colours"), palette_hexes(at))
    name = f"visitor-{c.key}-{c.upload_name}"
    ok(upload(at, c.data, name, c.mime))
    # The visitor's parameters survive any upload, good or bad.
    assert at.slider(key="k").value == PAGE_K
    assert at.radio(key="space").value == PAGE_SPACE
    text = page_text(at)
    # The file's name appears only made safe ("On show: your photo, ...", an error), if at all.
    safe = Source.upload(name, "", b"").cli_name
    assert name == safe or name not in text
    assert CANARY not in text
    try:
        image = kseg.load_image(c.data, max_pixels=MAX_PIXELS)
    except kseg.ImageError as error:
        assert len(at.error) == 1
        shown = unescape(at.error[0].value)
        on_show = "_source" in at.session_state and at.session_state["_source"] is not None
        still = "still shows your photo" if on_show else "still shows the coffee sample"
        assert str(error) in shown and still in shown
        # The file is named, made safe with its own extension, and only in this run.
        assert shown.startswith(f"{sidebar.safe_file_name(name)} could not be used: ")
        assert (
            metric(at, "Image size"),
            metric(at, "Distinct colours"),
            palette_hexes(at),
        ) == before
        # Still usable: a new k works on the previous image, and back.
        ok(at.slider(key="k").set_value(PAGE_K + 1).run())
        assert not at.error
        assert len(palette_hexes(at)) == min(PAGE_K + 1, int(before[1].replace(",", "")))
        ok(at.slider(key="k").set_value(PAGE_K).run())
        assert palette_hexes(at) == before[2]
        return
    assert not at.error, [e.value for e in at.error]
    assert metric(at, "Image size") == f"{image.width:,} x {image.height:,}"
    n_colours = kseg.ColorHistogram.from_image(image).n_colors
    assert metric(at, "Distinct colours") == f"{n_colours:,}"
    exact = c.distinct_opaque_colours()
    if exact is not None:
        assert n_colours == len(exact)
    shown = palette_hexes(at)
    assert len(shown) == min(PAGE_K, n_colours)
    assert not hexes(c.hidden) & set(shown)


def test_a_file_of_any_name_gets_kseg_message_from_its_content():
    """The uploader takes any name (type=None), so that its drop zone lists no kinds it
    would then refuse (issue 10); kseg decides the format from the content, as it did for
    files renamed to an image's name (the corpus's ``app_filename``), and says what a file
    it cannot read is. The page stays as it was."""
    at = start()
    ok(upload(at, b"%PDF-1.7\n" * 8, "report.pdf", "application/pdf"))
    assert len(at.error) == 1
    assert unescape(at.error[0].value).startswith(
        "report.pdf could not be used: This is a PDF document"
    )
    assert metric(at, "Image size") == "600 x 400"
    ok(upload(at, b"MZ\x90\x00" + bytes(60), "setup.exe", "application/octet-stream"))
    assert unescape(at.error[0].value).startswith("setup.exe could not be used: ")
    assert metric(at, "Image size") == "600 x 400"


# ----------------------------------------------------------------------------- echoes
@pytest.fixture
def served(monkeypatch):
    """Every MediaFileManager AppTest makes (one per run): the files the page serves."""
    managers = []
    real = app_test_module.MediaFileManager

    class Recording(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            managers.append(self)

    monkeypatch.setattr(app_test_module, "MediaFileManager", Recording)
    return managers


def served_files(managers) -> dict[str, bytes]:
    """Images and media of every run, and every download button's file (made on click)."""
    files: dict[str, bytes] = {}
    for i, manager in enumerate(managers):
        for file_id, stored in manager._storage._files_by_id.items():
            files[f"run{i}/media/{file_id}"] = bytes(stored.content)
        for entry in manager._deferred_callables.values():
            data = entry["callable"]()
            files[f"run{i}/download/{entry['filename']}"] = (
                data.encode() if isinstance(data, str) else bytes(data)
            )
    return files


def test_nothing_uploaded_is_echoed_back(served):
    """The PNG with a script and a ZIP after IEND: every image, preview and download the
    page serves is made from pixels, so the appended bytes are never in any of them."""
    c = case("png-with-zip")
    at = start()
    ok(upload(at, c.data, c.filename))
    assert metric(at, "Image size") == "40 x 30"
    for tab in ("Segment", "Compare", "Isolate", "Downloads"):
        at.session_state["tab"] = tab
        ok(at.run())
    at.session_state["tab"] = "Isolate"  # a pick, and whole clusters
    at.session_state["_picks"] = [(20, 15)]
    ok(at.run())
    # The clickable picture goes to its iframe as a data: URL, made from pixels too.
    (component,) = at.get("component_instance")
    src = json.loads(component.proto.json_args)["src"]
    picture = base64.b64decode(src.split(",", 1)[1])
    assert picture != c.data and not contains_payload(c, picture)
    assert CANARY.encode() not in picture
    at.session_state["isolate_by"] = "Whole clusters"
    ok(at.run())
    files = served_files(served)
    downloads = [name for name in files if "/download/" in name]
    # The cluster mask, the picks' mask, cut-out, CSV and JSON, the Downloads tab's five.
    assert len(downloads) >= 10
    assert any(name.endswith("-cutout.png") for name in downloads)
    for name, data in files.items():
        assert data != c.data, name
        assert not contains_payload(c, data), name
        assert CANARY.encode() not in data, name
    # And the library's own outputs.
    seg = kseg.segment(kseg.load_image(c.data), 4)
    for data in (
        export.segmented_png(seg),
        export.label_map_png(seg),
        export.palette_json(seg).encode(),
        export.palette_csv(seg).encode(),
        export.params_json(seg).encode(),
    ):
        assert not contains_payload(c, data)


def test_a_script_in_the_file_name_never_reaches_the_page_or_the_downloads(served):
    names = [
        "<script>alert(1)</script>.png",
        "../../etc/passwd.png",
        '"><img src=x onerror=alert(1)>.png',
    ]
    at = start()
    good = export.encode_png(quadrants(30, 20))
    for name in names:
        ok(upload(at, good, name))
        assert not at.error
        ok(upload(at, b"<script>alert(1)</script>", name))  # and as an error
        assert len(at.error) == 1
        text = page_text(at) + "".join(e.value for e in at.error)
        # The name appears only made safe: letters, digits, "-" and "_".
        for needle in ("alert(1)", "<script", "../", "etc/passwd", "onerror=", "<img", '">'):
            assert needle not in text, (name, needle)
    at.session_state["tab"] = "Downloads"
    ok(at.run())
    # Downloads and the command line are named after the last good file, made safe.
    assert "kseg segment img-src-x-onerror-alert-1.png " in at.code[0].value
    names_served = [n.split("/download/")[1] for n in served_files(served) if "/download/" in n]
    assert names_served and all(
        re.fullmatch(r"kseg-img-src-x-onerror-alert-1-k\d+[\w.-]*", n) for n in names_served
    )


@pytest.mark.parametrize(
    ("name", "stem", "cli_name"),
    [
        ("Holiday 2024 (1).JPG", "Holiday-2024-1", "Holiday-2024-1.jpg"),
        ("../../etc/passwd.png", "passwd", "passwd.png"),
        ("..\\..\\Windows\\win.ini.png", "win-ini", "win-ini.png"),
        ("../", "photo", "photo.jpg"),
        ("", "photo", "photo.jpg"),
        ("\x00\x07\x1b[31mred\r\n.png", "31mred", "31mred.png"),
        ("photo\u202egnp.exe.jpg", "photognp-exe", "photognp-exe.jpg"),  # RTL override
        ("Été à Paris.jpeg", "Ete-a-Paris", "Ete-a-Paris.jpeg"),
        ("写真.png", "photo", "photo.png"),
        ("CON.png", "photo-CON", "photo-CON.png"),
        ("x" * 300 + ".png", "x" * 40, "x" * 40 + ".png"),
        ("a.b.c.tiff", "a-b-c", "a-b-c.tiff"),
        ("no extension", "no-extension", "no-extension.jpg"),
        ("shell.php", "shell", "shell.jpg"),  # only the uploader's types keep their extension
    ],
)
def test_hostile_file_names_come_out_safe(name, stem, cli_name):
    source = Source.upload(name, "digest", b"")
    assert (source.name, source.cli_name) == (stem, cli_name)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", source.name)
    assert not source.name.startswith(("-", "_"))  # never read as a command-line option


_WRITES: list[str] | None = None


def _record_writes(event: str, args: tuple) -> None:
    if _WRITES is None or event != "open":
        return
    path, mode, flags = args
    writing = (isinstance(mode, str) and any(ch in mode for ch in "wax+")) or (
        isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
    )
    if writing:
        _WRITES.append(str(path))


def test_uploads_never_touch_the_disk():
    """Nothing is opened for writing while the page reads an upload and segments it, and
    no file appears in the temporary folder or the working directory."""
    global _WRITES
    at = start()
    data = export.encode_png(quadrants(50, 40)) + b"UNIQUE-UPLOAD-MARKER"
    folders = [Path(tempfile.gettempdir()), Path.cwd(), ROOT]
    listings = [set(folder.iterdir()) for folder in folders]
    if not getattr(sys, "_kseg_write_hook", False):
        sys.addaudithook(_record_writes)  # hooks cannot be removed: it records only on demand
        sys._kseg_write_hook = True
    _WRITES = []
    try:
        ok(upload(at, data, "photo.png"))
        ok(at.slider(key="k").set_value(3).run())
        writes, _WRITES = _WRITES, None
    finally:
        _WRITES = None
    assert metric(at, "Image size") == "50 x 40"
    # numba may update its on-disk cache of compiled kernels, and kseg._jit its markers and
    # lock file beside it; nothing else is written.
    kernels = str(_jit.marker_dir())
    writes = [
        w
        for w in writes
        if "__pycache__" not in w and not w.endswith((".nbi", ".nbc")) and kernels not in w
    ]
    assert writes == []
    # Other processes share the temporary folder: only a new file holding the upload counts.
    new = [p for f, old in zip(folders, listings, strict=True) for p in set(f.iterdir()) - old]
    assert not [p for p in new if p.is_file() and b"UNIQUE-UPLOAD-MARKER" in _head(p)]


def _head(path: Path, size: int = 1 << 20) -> bytes:
    with contextlib.suppress(OSError), open(path, "rb") as f:
        return f.read(size)
    return b""


# ----------------------------------------------------------------------------- what shows
# The page's one custom component: the Isolate tab's clickable picture. Its files as
# reviewed (streamlit-image-coordinates 0.4.1, pinned in requirements.txt): a new version
# fails here until someone has read it again. SECURITY.md says what it does.
COMPONENT = "streamlit_image_coordinates"
COMPONENT_VERSION = "0.4.1"
COMPONENT_FILES = {
    "__init__.py": "cad4dba6c074084d942d8bd57406b82230cf0f079aa8d68a0bab2059a5b407f2",
    "frontend/index.html": "8df29a8af46ae49686b74cd631b2f8bf40f4cc498b8bf57d7081705c397fee76",
    "frontend/main.js": "dabb7bf560b04dc18601e0098d21535d2baf7601b0a7a923eca0910c7fb9e9c4",
    "frontend/streamlit-component-lib.js": (
        "2ddb18dcca23dc83d43ed6a088c6a83e5df539a6f381e670eafe7f884a9feb16"
    ),
    "frontend/style.css": "1f0cd1597ba35c59b3cbcc87637e13bad4d11aaba5f35616ed2f007781ea3c55",
}


def test_the_one_component_is_the_reviewed_click_reporter():
    """streamlit-image-coordinates draws the Isolate tab's picture in an iframe: its files
    are the ones reviewed, they load nothing from the network (local scripts only, no
    fetch, XMLHttpRequest, WebSocket, eval or remote URL), and the only value it sends
    the page is a click's position and the picture's shown size. Only tabs/isolate.py
    uses it, with the page's own encoded picture (a data: URL) and constant options."""
    import hashlib
    import importlib.metadata
    import importlib.util

    assert importlib.metadata.version("streamlit-image-coordinates") == COMPONENT_VERSION
    assert f"streamlit-image-coordinates=={COMPONENT_VERSION}" in (
        (ROOT / "requirements.txt").read_text().split()
    )
    package = Path(importlib.util.find_spec(COMPONENT).origin).parent
    frontend = sorted(p.relative_to(package).as_posix() for p in (package / "frontend").rglob("*"))
    assert frontend == sorted(f for f in COMPONENT_FILES if f.startswith("frontend/"))
    for name, digest in COMPONENT_FILES.items():
        assert hashlib.sha256((package / name).read_bytes()).hexdigest() == digest, name
    page_html = (package / "frontend/index.html").read_text()
    assert re.findall(r'(?:src|href)="([^"]+)"', page_html) == [
        "./streamlit-component-lib.js",
        "./main.js",
        "./style.css",
    ]
    scripts = "".join((package / f).read_text() for f in COMPONENT_FILES if f.endswith(".js"))
    for needle in ("fetch(", "XMLHttpRequest", "WebSocket", "eval(", "import(", "http://"):
        assert needle not in scripts, needle
    assert [
        u for u in re.findall(r"https://\S+", scripts) if not u.startswith("https://discuss.")
    ] == []
    sent = re.findall(r"sendValue\((\{.*?\})\)", scripts, re.DOTALL)
    assert len(sent) == 2 and all("width: img.width" in v for v in sent)  # click, drag
    assert set(re.findall(r"(\w+):", " ".join(sent))) <= {
        "x", "y", "x1", "y1", "x2", "y2", "width", "height", "unix_time"
    }  # fmt: skip
    users = [path.name for path in PAGE_SOURCES if COMPONENT in path.read_text()]
    assert users == ["isolate.py"]
    call = re.search(
        r"streamlit_image_coordinates\((.*?)\n        \)",
        (DASHBOARD / "tabs" / "isolate.py").read_text(),
        re.DOTALL,
    ).group(1)
    assert call.split() == [
        "_Encoded(picture),", "key=Keys.PICK_CLICK,", 'width="stretch",',
        "image_format=picture_format,", 'cursor="crosshair",',
        "on_click=functools.partial(_take_click,", "width,", "height),",
    ]  # fmt: skip


def test_the_page_never_renders_text_as_html():
    """The two st.html calls are constants: styles.py's style sheet (one style element)
    and widgets.py's camera script for the 3D chart (one script element)."""
    from kseg.dashboard import styles

    assert len(PAGE_SOURCES) >= 10  # app.py and the modules of kseg/dashboard
    html = r"\bst\.html\(|components\.v1|components\.html|st\.components"
    for path in PAGE_SOURCES:
        source = path.read_text()
        assert "unsafe_allow_html" not in source, path
        if path.name == "styles.py":
            assert re.findall(r"\bst\.html\((.*?)\)", source) == ["CSS"]
            source = source.replace("st.html(CSS)", "")
        if path.name == "widgets.py":
            assert re.findall(r"\bst\.html\((.*?)\)", source) == [
                "CAMERA_JS, unsafe_allow_javascript=True"
            ]
            source = source.replace("st.html(CAMERA_JS, unsafe_allow_javascript=True)", "")
        assert "unsafe_allow_javascript" not in source, path
        assert not re.search(html, source), path
    script = widgets.CAMERA_JS.strip()
    assert script.startswith("<script>") and script.endswith("</script>")
    assert script.count("<script") == 1 and "__PREFIX__" not in script
    css = styles.CSS.strip()
    assert css.startswith("<style>") and css.endswith("</style>")
    assert css.count("<") == 2 and "{{" not in css


def test_messages_from_files_are_escaped_before_markdown():
    """Text that comes from an image (kseg's messages, notes and warnings) is shown as
    text: everywhere the page puts it into Markdown it goes through plain(), which
    escapes every Markdown and HTML special character (tested in test_app.py). Every
    module of the page is read (app.py and kseg/dashboard), and names such as
    ``Keys.UPLOAD_ERROR`` count as text from an image too."""
    elements = ("error", "warning", "info", "success", "markdown", "caption", "write", "toast")
    from_image = re.compile(
        r"\b(err|error|exc|note|notes|warning|warnings|message)\b|_error", re.IGNORECASE
    )

    def escaped(node: ast.expr) -> bool:
        return isinstance(node, ast.Call) and getattr(node.func, "id", "") == "plain"

    unsafe, checked = [], 0
    for path in PAGE_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in elements or not node.args:
                continue
            text = node.args[0]
            parts = (
                [v.value for v in text.values if isinstance(v, ast.FormattedValue)]
                if (isinstance(text, ast.JoinedStr))
                else [text]
            )
            for part in parts:
                if from_image.search(ast.unparse(part)):
                    checked += 1
                    if not escaped(part):
                        unsafe.append(f"{path.name}: {ast.unparse(node)[:100]}")
    assert unsafe == []
    assert checked >= 6  # the upload error, notes, warnings and errors the page shows


def test_visitors_never_see_a_stack_trace(monkeypatch):
    """With the page's config (client.showErrorDetails = "none"), an unexpected error in
    the page shows Streamlit's generic message: no exception text, no traceback."""
    assert read_config()["client"]["showErrorDetails"] == "none"
    streamlit.config.get_option("client.showErrorDetails")
    streamlit.config.set_option("client.showErrorDetails", "none")
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()

        def broken(*args, **kwargs):
            raise RuntimeError(f"secret {CANARY} /srv/app/internal.py line 42")

        monkeypatch.setattr(kseg, "segment", broken)
        at.number_input(key="seed").set_value(987_654).run()  # a new result: no cache hit
    finally:
        streamlit.config.set_option("client.showErrorDetails", "full")
    assert at.exception
    assert "redacted" in at.exception[0].message
    assert not at.exception[0].stack_trace
    assert CANARY not in page_text(at) and "internal.py" not in page_text(at)


def test_opencv_engine_with_more_centres_than_pixels_is_shown_and_the_page_goes_on():
    """Regression: custom centres with the opencv engine on an image with fewer opaque
    pixels than centres raised cv2.error: the page broke (Streamlit's generic error, for
    as long as the link kept those settings) and the CLI crashed with a traceback. The
    page shows why and keeps working (the library's and the CLI's side:
    test_hostile_library.py and test_hostile_cli.py)."""
    two = np.array([[[10, 20, 30], [200, 100, 0]]], np.uint8)
    at = start()
    ok(upload(at, export.encode_png(two), "two.png"))
    ok(at.radio(key="engine").set_value("OpenCV").run())
    ok(at.radio(key="init").set_value("custom").run())
    ok(at.slider(key="k").set_value(3).run())
    assert "at least as many opaque pixels" in unescape(at.error[0].value)
    ok(at.radio(key="engine").set_value("kseg").run())
    assert not at.error and len(palette_hexes(at)) == 2


# ----------------------------------------------------------------------------- limits
def test_config_protects_the_server():
    """The page's config.toml, set for a public demo (the one check of it)."""
    config = read_config()
    options = config["server"]
    assert options["enableXsrfProtection"] is True
    assert options.get("enableCORS", True) is True
    assert options["maxUploadSize"] == 50  # MB; SECURITY.md states it
    assert 1 <= options["maxUploadSize"] <= 50
    assert options.get("maxMessageSize", 200) <= 200
    assert config["client"]["showErrorDetails"] == "none"
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["browser"]["gatherUsageStats"] is False


def test_the_pixel_limit_is_what_a_visitor_sees():
    limit = MAX_PIXELS
    assert limit == 25_000_000
    at = start()
    ok(upload(at, png_claiming(5001, 5000), "huge.png"))
    shown = unescape(at.error[0].value)
    assert "5001 x 5000 pixels (25.1 megapixels); kseg accepts at most 25 megapixels" in shown
    assert metric(at, "Image size") == "600 x 400"
    # Exactly at the limit the size is accepted (this one then fails as truncated).
    with pytest.raises(kseg.ImageError, match="damaged or incomplete"):
        kseg.load_image(png_claiming(5000, 5000), max_pixels=limit)


def test_caches_keyed_on_visitor_images_are_bounded(monkeypatch):
    """Every function of kseg/dashboard/compute.py that takes an image digest keeps its
    results in the one memory-bounded cache (never in an unbounded st.cache_*, which no
    module of the page uses for anything a visitor sent), which has a lifetime; every
    result is owned, directly or through another, by its photo's entry ("load", digest),
    so it is measured without the photo and dropped with it: the server keeps a bounded
    amount of visitors' photos and results, however many come."""
    tree = ast.parse((DASHBOARD / "compute.py").read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    owners: dict[str, str | None] = {}  # each kept function, and the function giving its owner
    for node in functions.values():
        decorators = [ast.unparse(d) for d in node.decorator_list]
        if any(d.startswith("kept") for d in decorators):
            found = re.fullmatch(r"kept\((?:owner=(\w+))?\)", decorators[0])
            assert len(decorators) == 1 and found, (node.name, decorators)
            owners[node.name] = found.group(1)
    owner_keys = set(owners.values()) - {None}  # these take a digest to name an entry
    # Functions that keep nothing themselves and call a kept one: elbow_curve hands each
    # value that _elbow computed to the kept elbow_point.
    composers = {"elbow_curve": "elbow_point", "_elbow": "color_features"}
    checked = 0
    for node in functions.values():
        if "digest" in [a.arg for a in node.args.args] and node.name not in owner_keys:
            if node.name in composers:
                calls = {ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
                assert composers[node.name] in calls and composers[node.name] in owners
                continue
            assert node.name in owners, f"{node.name} takes a digest but is not @kept"
            checked += 1
    assert checked >= 12
    assert owners["load"] is None  # the decoded photo: the root of everything else

    def owner_of(name: str) -> str | None:
        """The kept function whose entry owns `name`'s results (its owner key's name)."""
        if owners[name] is None:
            return None
        returns = [n for n in ast.walk(functions[owners[name]]) if isinstance(n, ast.Return)]
        assert len(returns) == 1 and isinstance(returns[0].value, ast.Tuple), owners[name]
        first, second = returns[0].value.elts[:2]
        assert isinstance(first, ast.Constant) and first.value in owners, owners[name]
        assert ast.unparse(second) == "digest"  # the same photo
        return first.value

    for name in owners:
        chain = [name]
        while (up := owner_of(chain[-1])) is not None:
            assert up not in chain, chain
            chain.append(up)
        assert chain[-1] == "load", chain

    # No module of the page keeps anything of a visitor's in Streamlit's own caches.
    visitor_names = re.compile(r"digest|data|hist|image|loaded|source|seg|pixels|rgb", re.I)
    visitor_types = re.compile(r"bytes|Image|Histogram|Loaded|Source|Segmentation|Superpixels")
    streamlit_cached = 0
    for path in PAGE_SOURCES:
        module = ast.parse(path.read_text())
        decorating = set()
        for node in ast.walk(module):
            if not isinstance(node, ast.FunctionDef):
                continue
            cached = [d for d in node.decorator_list if "st.cache_" in ast.unparse(d)]
            decorating.update(id(n) for d in cached for n in ast.walk(d))
            if not cached:
                continue
            streamlit_cached += 1
            arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            for argument in arguments:
                annotation = ast.unparse(argument.annotation) if argument.annotation else ""
                assert not visitor_names.search(argument.arg), (path.name, node.name)
                assert not visitor_types.search(annotation), (path.name, node.name)
        used = [
            node
            for node in ast.walk(module)
            if isinstance(node, ast.Attribute) and node.attr in ("cache_data", "cache_resource")
        ]
        assert all(id(node) in decorating for node in used), path.name  # only as decorators
    assert streamlit_cached >= 6

    cache = server.results_cache(server.CACHE_MB)
    assert cache.max_bytes == server.CACHE_MB * 2**20
    assert 0 < cache.ttl <= 24 * 3600

    # And so it goes: a photo's results are kept while the photo is, and go with it.
    small = MemoryCache(2**20, ttl=server.CACHE_TTL)
    monkeypatch.setattr(server, "results_cache", lambda max_mb: small)
    data = export.encode_png(quadrants(60, 40))
    digest = compute.digest(data)
    loaded = compute.load(digest, data)
    params = Params(3, "k-means++", 1, 20, 1.0, "eps+max_iter", "lab", 0, "histogram")
    sp = SuperpixelParams(20, 10.0, 1600)
    seg = compute.segmentation(digest, params, loaded.hist)
    grown = small.nbytes - nbytes(loaded)
    assert grown < nbytes(seg) - nbytes(loaded.hist) // 2  # measured without the photo
    compute.segmented_png(digest, params, 20, loaded.hist)
    regions_hist = compute.superpixel_input(digest, sp.side, loaded)
    compute.region_segmentation(digest, sp, params, regions_hist)
    keys = [
        ("load", digest),
        ("segmentation", digest, params),
        ("color_features", digest, "lab"),
        ("preview_index", digest, 20),
        ("segmented_png", digest, params, 20),
        ("superpixel_input", digest, sp.side),
        ("superpixel_regions", digest, sp),
        ("region_segmentation", digest, sp, params),
    ]
    assert [key in small for key in keys] == [True] * len(keys)
    rng = np.random.default_rng(0)
    big = export.encode_png(rng.integers(0, 256, (600, 600, 3), dtype=np.uint8))
    compute.load(compute.digest(big), big)  # over the budget alone: the rest goes
    assert [key in small for key in keys] == [False] * len(keys)
    assert ("load", compute.digest(big)) in small


def test_security_md_states_the_limits_in_force():
    text = (ROOT / "SECURITY.md").read_text()
    config = read_config()
    assert f"{config['server']['maxUploadSize']} MB" in text
    assert f"{MAX_PIXELS // 1_000_000} megapixels" in text
    assert f"{kseg.DEFAULT_MAX_PIXELS // 1_000_000} megapixels" in text
    assert "enableXsrfProtection" in text and "showErrorDetails" in text


# ----------------------------------------------------------------------------- memory
def test_cached_segmentations_do_not_keep_evicted_photos_alive(monkeypatch):
    """Regression: the page's segmentation cache (48 entries) kept each result's histogram,
    hence the decoded photo, alive after load() evicted it: one visitor uploading photo
    after photo grew the server by every photo (gigabytes at 12 MP). With a 1 MB cache,
    a dozen 180 KB photos: the cache stays within its budget and so do the live photos.
    (server.CACHE_MB is read from KSEG_CACHE_MB once, at import; compute reads it at
    each call.)"""
    monkeypatch.setattr(server, "CACHE_MB", 1)
    at = start()
    shape = (200, 300)
    for i in range(12):
        rng = np.random.default_rng(i)
        rgb = rng.integers(0, 256, (40, 3), dtype=np.uint8)[rng.integers(0, 40, shape)]
        ok(upload(at, export.encode_png(rgb), f"p{i}.png"))
        assert metric(at, "Image size") == "300 x 200"
    gc.collect()
    objects = gc.get_objects()
    cache = next(o for o in objects if isinstance(o, MemoryCache) and o.max_bytes == 2**20)
    assert 0 < cache.nbytes <= cache.max_bytes
    alive = [o for o in objects if isinstance(o, kseg.ColorHistogram) and o.shape == shape]
    # Each holds its 180 KB of pixels: at most what 1 MB holds, plus the one on show.
    assert 1 <= len(alive) <= 1 + 2**20 // (200 * 300 * 3)


def test_eight_visitors_photos_stay_decoded_together(monkeypatch):
    """Regression: load() kept six photos, so eight visitors at once evicted each other's
    and every rerun (a new k) decoded a 12 MP photo again: under benchmarks/load.py the
    k steps' p95 went from 10 s to 17 s."""
    # A 12 MP photo holds 36 MB of pixels and about 15 MB of colour tables once shown.
    assert server.CACHE_MB * 2**20 >= 8 * 51e6
    decoded = []
    real = kseg.load_image

    def counting(data, **kwargs):
        decoded.append(data)
        return real(data, **kwargs)

    monkeypatch.setattr(kseg, "load_image", counting)
    photos = [export.encode_png(np.full((6, 7 + i, 3), 40 + i, np.uint8)) for i in range(8)]
    for _ in range(3):  # three rounds of reruns by the eight visitors
        for data in photos:
            compute.load(compute.digest(data), data)
    assert len(decoded) == 8


_TRIM_SCRIPT = """
import sys
sys.path[:0] = {paths!r}
import numpy as np, psutil
from kseg.dashboard import server
process = psutil.Process()
# 3,000 arrays of 60 KB (under glibc's mmap threshold, so on its heap); keep every tenth,
# so the freed ones sit between live ones and glibc cannot give them back by itself.
arrays = [np.ones(7_500) for _ in range(3_000)]
kept = arrays[::10]
del arrays
before = process.memory_info().rss
server.give_back_memory()
print(before - process.memory_info().rss)
"""


def test_the_page_gives_freed_memory_back():
    """Regression: after each rerun, memory numpy had freed stayed in glibc's heaps, so
    the server's RSS in benchmarks/soak.py wandered by +-40 MB with the same live data
    (and sat hundreds of MB above it). The page (kseg.dashboard.page.run, which app.py
    runs) trims the heaps at the end of every run."""
    assert server.malloc_trim() is not None  # glibc, as on Debian and Streamlit Cloud
    script = _TRIM_SCRIPT.format(paths=[str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    given_back = int(done.stdout.split()[-1])
    assert given_back > 100 * 2**20, f"{given_back / 2**20:.0f} MB given back"
    source = inspect.getsource(page.run)
    assert "    try:\n        main()\n    finally:\n        server.give_back_memory()" in source
    entry = ast.parse((ROOT / "app.py").read_text())
    assert "from kseg.dashboard.page import run" in [ast.unparse(n) for n in entry.body]
    assert "run()" in [ast.unparse(n) for n in ast.walk(entry) if isinstance(n, ast.Call)]


def test_at_most_two_photos_are_decoded_at_once(monkeypatch):
    """Regression: eight 12 MP uploads at once were all decoded at once, sending the
    server's peak memory as high as 2.2 GB of its 2.5 GB budget (benchmarks/load.py)."""
    running, most = [0], [0]
    lock = threading.Lock()
    real = kseg.load_image

    def slow(data, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return real(data, **kwargs)

    monkeypatch.setattr(kseg, "load_image", slow)
    photos = [export.encode_png(np.full((5, 9 + i, 3), 90 + i, np.uint8)) for i in range(6)]
    threads = [threading.Thread(target=compute.load, args=(compute.digest(d), d)) for d in photos]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert most[0] == server.DECODE_SLOTS == 2


# ----------------------------------------------------------------------------- a browser
@pytest.mark.browser
def test_in_a_browser_names_sizes_and_forged_requests_are_refused(tmp_path: Path):
    """What only a real server and browser show.

    - an upload without the XSRF token is refused (403), so other sites cannot post
      files into a visitor's session;
    - a file named ``<script>alert(1)</script>.png`` runs no script: the page shows the
      name only made safe ("script.png");
    - a file over server.maxUploadSize is refused in the browser with the uploader's
      own message, and a PDF (any name is taken) gets kseg's; the photo stays;
    - a forged upload over the limit, with a valid token, is refused by the server (413).
    """
    playwright_sync = pytest.importorskip("playwright.sync_api")
    from browser_support import StreamlitServer, chromium, open_app, wait_until_settled

    expect = playwright_sync.expect
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    limit_mb = config["server"]["maxUploadSize"]
    with StreamlitServer("app.py") as server, chromium() as browser:
        assert forged_upload(server.url, "/_stcore/upload_file/any/any", None, [b"x"]) == 403
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(60_000)
        page = context.new_page()
        dialogs, upload_urls = [], []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("request", lambda r: upload_urls.append(r.url) if "upload_file" in r.url else 0)
        open_app(page, server.url, 180_000)
        size = page.get_by_test_id("stMetricValue").last
        uploader = page.get_by_test_id("stFileUploader")
        dropzone = page.get_by_test_id("stFileUploaderDropzoneInput")

        name = "<script>alert(1)</script>.png"
        png = export.encode_png(quadrants(60, 40))
        dropzone.set_input_files(files=[{"name": name, "mimeType": "image/png", "buffer": png}])
        expect(size).to_have_text("60 x 40")
        wait_until_settled(page)
        assert dialogs == []
        html = page.content()
        assert name not in html
        assert not page.evaluate("[...document.scripts].some(s => s.text.includes('alert(1)'))")
        body = page.locator("[data-testid='stMain']").inner_text()
        assert "alert" not in body and "<script" not in body and "script.png" in body

        big = tmp_path / "big.png"
        big.write_bytes(b"\0" * ((limit_mb * 2**20) + 1))
        dropzone.set_input_files(big)
        expect(uploader).to_contain_text(f"File must be {limit_mb:.1f}MB or smaller")
        wait_until_settled(page)
        expect(size).to_have_text("60 x 40")
        assert not page.get_by_test_id("stAlert").count()
        dropzone.set_input_files(
            files=[{"name": "report.pdf", "mimeType": "application/pdf", "buffer": b"x" * 64}]
        )
        alert = page.get_by_test_id("stAlert")
        expect(alert).to_contain_text("report.pdf could not be used")
        wait_until_settled(page)
        expect(size).to_have_text("60 x 40")

        session = upload_urls[0].split("/upload_file/")[1].split("/")[0]
        token = next(c["value"] for c in context.cookies() if c["name"] == "_streamlit_xsrf")
        path = f"/_stcore/upload_file/{session}/forged"  # the page's session stays open
        assert forged_upload(server.url, path, None, [png]) == 403  # no token
        assert forged_upload(server.url, path, token, [png]) == 204  # the token is the key
        megabyte = bytes(2**20)
        too_big = [megabyte] * (limit_mb + 1)
        assert forged_upload(server.url, path, token, too_big) == 413  # streamed, no length
        assert forged_upload(server.url, path, token, [png], claim=(limit_mb + 1) * 2**20) == 413
        context.close()


def forged_upload(url: str, path: str, token: str | None, parts, claim: int | None = None) -> int:
    """PUT a multipart upload the way a script (not the page) would; the HTTP status.

    Without `claim` the body is sent chunked, with no length, as a request that hides its
    size would; with it, the Content-Length header claims `claim` bytes.
    """
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    boundary = "kseg-forged-upload"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if token is not None:
        headers |= {"X-Xsrftoken": token, "Cookie": f"_streamlit_xsrf={token}"}
    try:
        if claim is None:
            body = iter([head, *parts, tail])
            connection.request("PUT", path, body=body, headers=headers, encode_chunked=True)
        else:
            connection.request("PUT", path, body=head + b"".join(parts) + tail,
                               headers=headers | {"Content-Length": str(claim)})  # fmt: skip
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before the whole body was sent
    try:
        return connection.getresponse().status
    finally:
        connection.close()
