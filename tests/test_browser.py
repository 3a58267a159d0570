"""The HTML report in a real browser: headless Chromium (Debian's `chromium` package) driven by
Playwright with the system browser (nothing downloaded). No console errors; every chart laid out at a
real size; a screenshot saved (set BENCH_SCREENSHOT_DIR to keep it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench.record import save_run
from bench.report.render import write_report
from tests.golden import golden_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# the flags this closed-network machine needs: no background connections, no sandbox as root
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")


def test_report_renders_in_chromium_without_errors(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")
    run = golden_run(with_server=True)
    run = run.__class__(**{**run.__dict__, "suite": {**run.suite, "slo": {**run.suite["slo"], "target_qps": 200.0}}})
    save_run(tmp_path, run)
    html = write_report(tmp_path)["html"]
    shot = Path(os.environ.get("BENCH_SCREENSHOT_DIR", tmp_path)) / "report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(html.as_uri(), wait_until="load")
        boxes = [svg.bounding_box() for svg in page.query_selector_all("svg")]
        marks = page.locator("svg path, svg use").count()
        title = page.title()
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith("file://")] == []  # self-contained: nothing fetched
    assert title.startswith("bench: golden")
    assert len(boxes) == 4 and all(b and b["width"] > 300 and b["height"] > 200 for b in boxes)
    assert marks > 50  # the charts drew their points and lines
    assert shot.stat().st_size > 20_000
