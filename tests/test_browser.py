"""The HTML report in a real browser: headless Chromium (Debian's `chromium` package) driven by
Playwright with the system browser (nothing downloaded). At a desktop (1280 px) and a phone (390 px)
width: no console errors, no network request, every chart laid out, the decision card's figures equal to
what run.json implies, no two texts of a chart overlapping and no legend over a data point. Screenshots
are saved to BENCH_SCREENSHOT_DIR (else the test's tmp directory)."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest

from bench.record import save_run
from bench.report.render import write_report
from tests.golden import crowded_run, golden_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# the flags this closed-network machine needs: no background connections, no sandbox as root
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
WIDTHS = {"desktop": 1280, "narrow": 390}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")

# per chart: its <text> boxes (with their strings), its legend boxes and its data points' boxes
LAYOUT_JS = """() => Array.from(document.querySelectorAll('figure.chart svg')).map(svg => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  return {texts: Array.from(svg.querySelectorAll('text')).filter(t => t.textContent.trim())
                      .map(t => [t.textContent, ...box(t)]),
          legends: Array.from(svg.querySelectorAll('g[id^="legend-"]')).map(box),
          points: Array.from(svg.querySelectorAll('g.pt')).map(g => [g.id, ...box(g)]),
          titles: svg.querySelectorAll('g.pt > title').length,
          size: box(svg)};
})"""


def _overlap(a, b, slack: float = 0.5) -> bool:
    """Two [left, top, right, bottom] boxes share more than a hairline."""
    return min(a[2], b[2]) - max(a[0], b[0]) > slack and min(a[3], b[3]) - max(a[1], b[1]) > slack


def _overlaps(chart: dict) -> list:
    texts, found = chart["texts"], []
    for i, a in enumerate(texts):
        found += [(a[0], b[0]) for b in texts[i + 1:] if _overlap(a[1:], b[1:])]
    found += [("legend", p[0]) for legend in chart["legends"] for p in chart["points"] if _overlap(legend, p[1:])]
    return found


def _expected_card(run_json: dict) -> dict:
    """The plan's choice worked out from run.json alone: fixed-length served variants at or above 99% of
    full's accuracy, replicas = ceil(target / conservative capacity), cheapest per month."""
    slo, price = run_json["suite"]["slo"], run_json["profile"]["price_usd_per_hour"]
    acc = {c["variant"]: c["quality"]["accuracy"] for c in run_json["cells"] if c["scenario"] == "accuracy"}
    options = []
    for c in run_json["cells"]:
        if c["scenario"] == "server" and not c["cell_id"].endswith("-real") and acc[c["variant"]] >= 0.99 * acc["full"]:
            replicas = math.ceil(slo["target_qps"] / c["server"]["capacity"]["conservative_qps"])
            options.append((replicas * price * 730, c["variant"], replicas))
    monthly, variant, replicas = min(options)
    return {"variant": variant, "monthly_usd": monthly, "replicas": replicas, "quality": acc[variant],
            "usd_per_million": replicas * price / (slo["target_qps"] * 3600) * 1e6}


def _render(tmp_path: Path, name: str, run) -> Path:
    out = tmp_path / name
    out.mkdir()
    save_run(out, run)
    return write_report(out)["html"]


def _visit(browser, html: Path, width: int, shot: Path) -> dict:
    errors, requests = [], []
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html.as_uri(), wait_until="load")
    seen = {"charts": page.evaluate(LAYOUT_JS), "title": page.title(),
            "card": {f.get_attribute("data-key"): (f.get_attribute("data-raw"), f.query_selector(".value").inner_text())
                     for f in page.query_selector_all("#decision .fig")},
            "card_variant": page.get_attribute("#decision", "data-variant"),
            "card_status": page.get_attribute("#decision", "data-status"),
            "page_width": page.evaluate("document.documentElement.scrollWidth")}
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    return {**seen, "errors": errors, "external": [u for u in requests if not u.startswith("file://")]}


def test_report_reads_in_chromium_at_desktop_and_narrow_widths(tmp_path):
    """The crowded run (13 variants, repeated peaks, real traffic) at both widths; golden_run's record from
    before repeated peaks (one repetition of fixed-length traffic) at the desktop width."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")
    html = _render(tmp_path, "crowded", crowded_run())
    old = golden_run(with_server=True)
    old = _render(tmp_path, "golden", old.__class__(**{**old.__dict__, "suite": {
        **old.suite, "slo": {**old.suite["slo"], "target_qps": 200.0}}}))
    expected = _expected_card(json.loads((html.parent / "run.json").read_text()))
    shots = Path(os.environ.get("BENCH_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        seen = {name: _visit(browser, html, width, shots / f"report-{name}.png") for name, width in WIDTHS.items()}
        seen["old record"] = _visit(browser, old, WIDTHS["desktop"], shots / "report-old-record.png")
        browser.close()
    for name, s in seen.items():
        assert s["errors"] == [] and s["external"] == [], name  # self-contained: nothing fetched
        assert len(s["charts"]) == 6, name  # quality vs cost and vs p99, latency vs batch, capacity, knee, plan
        assert all(c["size"][2] - c["size"][0] > 300 and c["size"][3] - c["size"][1] > 100 for c in s["charts"]), name
        assert all(len(c["texts"]) >= 10 for c in s["charts"]), name  # text is <text>, so the check below sees it
        assert all(c["titles"] == len(c["points"]) for c in s["charts"]), name  # every point has its tooltip
        assert [o for c in s["charts"] for o in _overlaps(c)] == [], name
        assert (shots / f"report-{name.replace(' ', '-')}.png").stat().st_size > 50_000
    assert seen["desktop"]["title"].startswith("bench: crowded")
    assert sum(len(c["points"]) for c in seen["desktop"]["charts"]) > 100
    assert seen["narrow"]["page_width"] <= WIDTHS["narrow"]  # wide tables and charts scroll in their own box
    assert seen["old record"]["card_variant"] == "onnx" and seen["old record"]["card"]["replicas"][0] == "3"
    card = seen["desktop"]["card"]
    assert seen["desktop"]["card_status"] == "recommended" and seen["desktop"]["card_variant"] == expected["variant"]
    assert float(card["monthly_usd"][0]) == pytest.approx(expected["monthly_usd"])
    assert card["monthly_usd"][1] == f"${expected['monthly_usd']:,.2f}"
    assert int(card["replicas"][0]) == expected["replicas"] and card["replicas"][1].startswith(str(expected["replicas"]))
    assert card["usd_per_million"][1] == f"${expected['usd_per_million']:.4f}"
    assert card["quality"][1] == f"{expected['quality']:.4f}"
