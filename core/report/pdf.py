"""The PDF report: the HTML report printed by headless Chromium in a process group of its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from core.report.html import render_html
from core.report.model import Report, ReportError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PDF_TIMEOUT_S = 180
#: Page width Chromium lays the charts out at before printing: fits A4 with 12 mm margins.
PDF_WINDOW = "720,1200"
#: Virtual time Chromium lets the page's scripts run (plotly drawing the charts) before it prints.
PDF_SCRIPT_BUDGET_MS = 15_000


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def render_pdf(report: Report, *, chromium: str | None = None, timeout_s: float = PDF_TIMEOUT_S) -> bytes:
    """The HTML report printed by headless Chromium, after its scripts have drawn the charts."""
    browser = chromium or find_chromium()
    if not browser:
        raise ReportError(
            "PDF export needs Chromium, and it is not installed on this machine.",
            hint="Install it (apt-get install -y chromium), or export HTML instead (--format html) and print that from a browser.",
        )
    with tempfile.TemporaryDirectory(prefix="msd-report-") as folder:
        page, pdf = Path(folder) / "report.html", Path(folder) / "report.pdf"
        page.write_text(render_html(report), encoding="utf-8")
        done = run_chromium(chromium_command(browser, page, pdf, Path(folder) / "profile"), timeout_s)
        if not pdf.is_file() or pdf.stat().st_size == 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ReportError(f"Chromium did not produce the PDF (exit code {done.returncode}: {detail[0][:300]}).",
                              hint="Export HTML instead (--format html) and print that from a browser.")
        return pdf.read_bytes()


def run_chromium(command: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    """Chromium in a process group of its own, so that a timeout stops its renderer and GPU
    children too, not just the first process."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise ReportError(f"Chromium did not finish the PDF within {timeout_s:g} s and was stopped.",
                          hint="Try again when the server is less busy, or export HTML (--format html) and print that.") from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def chromium_command(browser: str, page: Path, pdf: Path, profile: Path) -> list[str]:
    return [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
        f"--user-data-dir={profile}", f"--window-size={PDF_WINDOW}", "--no-pdf-header-footer",
        f"--virtual-time-budget={PDF_SCRIPT_BUDGET_MS}", "--run-all-compositor-stages-before-draw",
        f"--print-to-pdf={pdf}", page.as_uri(),
    ]
