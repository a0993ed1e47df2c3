"""The HTML report in a real browser (Playwright driving Debian's Chromium) and the PDF Chromium prints.

Screenshots go to artifacts/ (gitignored): test-report-html.png, test-report-html-hostile.png, test-report-pdf-page1.png
(named apart from the report of the shipped sample, artifacts/report-*.png, which tests must not overwrite).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from core.report import ReportOptions, build_charts, build_report, render_html, render_pdf
from tests.report_fixtures import IMG, SCRIPT, hostile_run, real_run

CHROMIUM = shutil.which("chromium")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium); the browser and PDF tests need it"
)


@pytest.fixture(scope="module")
def real_report(synthetic_csv, trained_classifier, nli_model):
    run, sample = real_run(synthetic_csv, trained_classifier, nli_model)
    return build_report(run, sample=sample, options=ReportOptions(latency_budget_ms=50, price_per_hour={"cpu": 0.5}))


@pytest.fixture(scope="module")
def evil_report():
    run, sample = hostile_run()
    return build_report(run, sample=sample)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


class OpenedReport:
    """A report file opened in a fresh browser context, with everything it asked the network for."""

    def __init__(self, browser, html: str, path: Path) -> None:
        path.write_text(html, encoding="utf-8")
        self.url = path.as_uri()
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.requests, self.errors, self.dialogs = [], [], []
        self.page = self.context.new_page()
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-charts-rendered]", state="attached", timeout=60_000)

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def close(self) -> None:
        self.context.close()


def test_html_report_opens_offline_and_draws_every_chart(browser, real_report, tmp_path):
    opened = OpenedReport(browser, render_html(real_report), tmp_path / "report.html")
    try:
        charts = build_charts(real_report)
        assert opened.requests == [opened.url], "the report asks for nothing but itself"
        assert opened.errors == [], "no script error and no Content-Security-Policy violation"
        assert opened.page.get_attribute("body", "data-charts-rendered") == str(len(charts))
        assert opened.count(".chart .main-svg") >= len(charts)
        for chart in charts:
            assert opened.count(f"#{chart.id} .main-svg") >= 1, chart.id
        ok_rows = real_report.comparison.ok_rows
        assert opened.count("#accuracy-latency .scatterlayer .point") == len(ok_rows)
        assert opened.count("a[href]") == 0, "no link out of the report, not even plotly's logo"
        assert opened.count("#leaderboard-table tr") == 1 + len(real_report.comparison.leaderboard)
        ticks = opened.page.locator("#class-f1 .xtick text").all_text_contents()
        assert ticks == real_report.comparison.class_f1.labels
        ARTIFACTS.mkdir(exist_ok=True)
        opened.page.screenshot(path=str(ARTIFACTS / "test-report-html.png"), full_page=True)
    finally:
        opened.close()


def test_hostile_report_runs_nothing_and_shows_the_text(browser, evil_report, tmp_path):
    opened = OpenedReport(browser, render_html(evil_report), tmp_path / "evil.html")
    try:
        assert opened.page.evaluate("typeof window.__pwned") == "undefined"
        assert opened.dialogs == [] and opened.errors == []
        assert opened.requests == [opened.url]
        assert opened.count("img") == 0 and opened.count("iframe") == 0 and opened.count("a[href]") == 0
        assert opened.count("a:not(.modebar-btn)") == 0, "the only anchors are plotly's own toolbar buttons"
        assert opened.page.evaluate("document.scripts.length") == 2 + len(build_charts(evil_report))
        text = opened.page.inner_text("body")
        assert SCRIPT in text and IMG in text, "the hostile strings are shown as plain text"
        ticks = opened.page.locator("#class-f1 .xtick text").all_text_contents()
        assert SCRIPT in ticks and IMG in ticks, "plotly shows labels literally, not as markup"
        ARTIFACTS.mkdir(exist_ok=True)
        opened.page.screenshot(path=str(ARTIFACTS / "test-report-html-hostile.png"), full_page=True)
    finally:
        opened.close()


def pdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def test_pdf_has_the_sections_and_the_drawn_charts(real_report):
    data = render_pdf(real_report)
    assert data.startswith(b"%PDF-")
    pages = pdf_pages(data)
    assert len(pages) >= 4, "title, tables, charts and examples do not fit fewer A4 pages"
    assert real_report.title in pages[0] and "Recommendation" in pages[0]
    text = "\n".join(pages)
    headings = ["Sample", "Environment", "Leaderboard", "Accuracy and latency", "F1 per class", "Paired tests",
                "Confusion matrices", "Error examples", "Reproduce"]
    positions = [text.find(heading) for heading in headings]
    assert -1 not in positions and positions == sorted(positions), dict(zip(headings, positions))
    # These strings exist only inside the plotly figures: present means Chromium printed drawn charts.
    for chart_text in ("p50 latency per row (ms)", "predicted label", "speed-up of p50 latency"):
        assert chart_text in text, chart_text
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "test-report.pdf").write_bytes(data)
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(ARTIFACTS / "test-report.pdf"),
                        str(ARTIFACTS / "test-report-pdf-page1")], check=True, timeout=60)
        assert (ARTIFACTS / "test-report-pdf-page1.png").stat().st_size > 10_000


def test_hostile_pdf_shows_text_and_carries_no_script_or_link(evil_report):
    data = render_pdf(evil_report)
    text = "\n".join(pdf_pages(data))
    compact = re.sub(r"\s+", "", text)  # text extraction may break lines anywhere
    assert SCRIPT in compact and "=HYPERLINK(" in compact
    for marker in (b"/JavaScript", b"/JS ", b"/Launch", b"/URI"):
        assert marker not in data, marker
