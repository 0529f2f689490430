"""The HTML summary of a sample run, opened in headless Chromium, shows the numbers of the
JSON summary; its tables sort when a header is clicked (WebDriver over plain HTTP:
chromedriver, no selenium).

Without chromium (or chromedriver) the tests skip, except under CI (env ``CI`` set), where
a missing browser is a failure: .ci/run installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _helpers import cli_ok, cli_sample
from _report_tables import html_tables

pytestmark = pytest.mark.browser

HEADLESS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-dev-shm-usage",
]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is a failure, not a skip")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A sample run's summary, rendered as HTML and as JSON."""
    root = tmp_path_factory.mktemp("html")
    home, sample = root / "home", root / "sample"
    info = cli_sample(home, sample, "--policies", "400", "--seed", "11",
                      "--today", "2026-11-27", "--bad-check-digits", "0.02")  # fmt: skip
    cli_ok(home, "run", *info["files"])
    html, doc = root / "summary.html", root / "summary.json"
    cli_ok(home, "report", "summary", "--format", "html", "--out", str(html))
    cli_ok(home, "report", "summary", "--format", "json", "--out", str(doc))
    return html, json.loads(doc.read_text())


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_chromium_shows_the_numbers_of_the_json(
    summary: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    chromium = _tool("chromium")
    html, doc = summary
    dom = subprocess.run(
        [chromium, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         html.resolve().as_uri()],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    assert 'data-sortable="ready"' in dom, "the inline script ran"
    tables = html_tables(dom)
    volumes = doc["sections"]["volumes"]["rows"]
    assert sum(r["policies"] for r in volumes) == 400  # the run is all there
    assert any(r["code"] == "E204" for r in doc["sections"]["errors"]["rows"])
    for name, section in doc["sections"].items():
        shown = tables[name]
        assert shown[0] == [c.replace("_", " ") for c in section["columns"]], name
        body = shown[1:] if section["rows"] else []
        assert len(body) == len(section["rows"]), name
        for row, cells in zip(section["rows"], body, strict=True):
            for column, cell in zip(section["columns"], cells, strict=True):
                value = row[column]
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    assert _number(cell) == pytest.approx(value), (name, column)
                else:
                    assert cell == ("" if value is None else str(value)), (name, column)


# -- sorting: a real click through WebDriver --------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _WebDriver:
    """The few W3C WebDriver calls the test needs, over urllib."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = ""

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())["value"]

    def s(self, method: str, path: str, body: Any = None) -> Any:
        return self.call(method, f"/session/{self.session}{path}", body)


@pytest.fixture
def webdriver(tmp_path: Path) -> Iterator[_WebDriver]:
    chromium, chromedriver = _tool("chromium"), _tool("chromedriver")
    port = _free_port()
    proc = subprocess.Popen([chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        driver = _WebDriver(f"http://127.0.0.1:{port}")
        for _ in range(100):
            try:
                driver.call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": [*HEADLESS, f"--user-data-dir={tmp_path / 'wd-profile'}"]}}}}
        driver.session = driver.call("POST", "/session", caps)["sessionId"]
        try:
            yield driver
        finally:
            driver.s("DELETE", "")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_clicking_a_header_sorts_the_table(
    summary: tuple[Path, dict[str, Any]], webdriver: _WebDriver
) -> None:
    html, doc = summary
    webdriver.s("POST", "/url", {"url": html.resolve().as_uri()})
    header = webdriver.s("POST", "/element", {
        "using": "css selector", "value": '#t-errors thead th[data-column="errors"]'})
    element = next(iter(header.values()))
    column = doc["sections"]["errors"]["columns"].index("errors")
    read = ("return Array.from(document.querySelectorAll('#t-errors tbody tr'))"
            f".map(function (r) {{ return Number(r.cells[{column}].dataset.value); }});")
    expected = sorted(r["errors"] for r in doc["sections"]["errors"]["rows"])
    assert len(set(expected)) > 1, "the sample has errors of different counts"

    webdriver.s("POST", f"/element/{element}/click", {})
    assert webdriver.s("POST", "/execute/sync", {"script": read, "args": []}) == expected
    webdriver.s("POST", f"/element/{element}/click", {})
    assert webdriver.s("POST", "/execute/sync", {"script": read, "args": []}) == expected[::-1]


# -- width: every table fits a 1280-pixel window ------------------------------------------------


@pytest.fixture(scope="module")
def unmatched(summary: tuple[Path, dict[str, Any]]) -> Path:
    """The unmatched report of the same run (no registrations: every vehicle is pending),
    unmasked: the widest table, names and licence numbers in full."""
    html = summary[0].parent / "unmatched.html"
    cli_ok(summary[0].parent / "home", "report", "unmatched", "--unmasked", "--as", "test",
           "--format", "html", "--out", str(html))
    return html


def test_every_table_fits_a_1280_pixel_window(
    summary: tuple[Path, dict[str, Any]], unmatched: Path, webdriver: _WebDriver
) -> None:
    webdriver.s("POST", "/window/rect", {"width": 1280, "height": 800})
    widths = ("return Array.from(document.querySelectorAll('.scroll')).map(function (d) {"
              " return [d.firstChild.id, d.scrollWidth, d.clientWidth]; });")
    for page in (unmatched, summary[0]):
        webdriver.s("POST", "/url", {"url": page.resolve().as_uri()})
        assert webdriver.s("POST", "/execute/sync", {
            "script": "return window.innerWidth;", "args": []}) <= 1280
        tables = webdriver.s("POST", "/execute/sync", {"script": widths, "args": []})
        assert tables, page.name
        # A table wider than its box scrolls sideways: columns cut off at the window's edge.
        assert [t for t in tables if t[1] > t[2]] == [], page.name
        if page == unmatched:  # the list is there, not an empty table that fits anyway
            assert webdriver.s("POST", "/execute/sync", {"script": (
                "return document.querySelectorAll('#t-vehicles tbody tr').length;"),
                "args": []}) > 100
    # Fitting must not break a date, a VIN or a licence number over two lines.
    webdriver.s("POST", "/url", {"url": unmatched.resolve().as_uri()})
    broken = webdriver.s("POST", "/execute/sync", {"script": (
        "return Array.from(document.querySelectorAll('#t-vehicles td:not(.words)'))"
        ".filter(function (td) { var r = document.createRange(); r.selectNodeContents(td);"
        " return r.getClientRects().length > 1; }).map(function (td) {"
        " return td.textContent; });"), "args": []})
    assert broken == []
