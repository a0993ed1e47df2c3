"""Time the offline first run: from `streamlit run streamlit_app.py` to a finished comparison on Compare.

    python -m bench.first_run [--keep DIR]

A fresh data directory and Hugging Face cache, and a Hub that cannot be reached (HF_ENDPOINT is a
loopback port nobody listens on), as on a new server without the Hub after the install. Chromium
(Playwright) opens Home, waits for the demo classifier the dashboard builds in the background,
shortlists what Discover offers without the Hub (MiniLM and the demo classifier), uploads the
shipped sample, runs the evaluation with the page's defaults and opens Compare. The clicks are
instant: a person's reading and clicking time comes on top. tests/test_browser.py drives the same
flow (`drive_first_run`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.browser import CHROMIUM, CHROMIUM_ARGS
from bench.server import free_port, streamlit_server
from core.paths import EXAMPLE_SAMPLE

RUN_TIMEOUT_MS = 360_000  # two MiniLM trials on 2 cores shared with other work took up to 181 s
DEMO_TIMEOUT_MS = 180_000


def offline_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a fresh server without the Hub: new data dir and HF cache, the Hub unreachable."""
    nobody_listens = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "HF_ENDPOINT": nobody_listens, "HF_HOME": str(home / "hf"), "MSD_DATA_DIR": str(home / "data"),
           "MSD_DEMO_BUILD": "on", "HF_HUB_DISABLE_TELEMETRY": "1", **settings}
    for name in ("HF_TOKEN", "MSD_MODEL_DIRS", "DATABASE_URL", "HF_HUB_OFFLINE"):
        env.pop(name, None)
    return env


@contextmanager
def offline_dashboard(home: Path, **settings: str) -> Iterator[str]:
    """The dashboard of a fresh offline server; yields its URL. Its worker is stopped at the end."""
    from dataclasses import replace

    from core.settings import get_settings
    from core.supervision import stop_worker

    try:
        with streamlit_server(offline_env(home, **settings), home / "streamlit.log") as url:
            yield url
    finally:
        stop_worker(replace(get_settings(), data_dir=home / "data"), timeout_s=20)


def open_page(tab, title: str, heading: str) -> None:
    tab.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    tab.get_by_role("heading", name=heading, level=1).wait_for()


def drive_first_run(tab, base: str, *, lap=lambda step: None) -> None:
    """Home (demo ready) -> Discover (shortlist what is there) -> Sample (upload) -> Evaluate (run) -> Compare.

    `lap(step)` is called as each step ends."""
    tab.goto(base)
    tab.get_by_role("heading", name="Model selection dashboard", level=1).wait_for()
    tab.get_by_text("The demo classifier is ready").wait_for(timeout=DEMO_TIMEOUT_MS)
    lap("demo classifier ready on Home")
    open_page(tab, "Discover", "Discover models")
    tab.get_by_text("No Hub needed: all-MiniLM-L6-v2, ticket-classifier-head.").wait_for()
    tab.get_by_role("button", name="Add them to the shortlist").click()
    tab.get_by_text("Added 2 model(s)").wait_for()
    lap("shortlisted on Discover")
    open_page(tab, "Sample", "Labeled sample")
    tab.locator("input[type='file']").set_input_files(str(EXAMPLE_SAMPLE))
    tab.get_by_role("button", name="Use this sample").click()
    tab.get_by_text("Using 210 rows with 3 labels").wait_for()
    lap("sample uploaded")
    open_page(tab, "Evaluate", "Evaluate")
    tab.get_by_role("button", name="Run evaluation").click()
    tab.get_by_role("link", name="See the results in Compare").wait_for(timeout=RUN_TIMEOUT_MS)
    lap("evaluation finished")
    tab.get_by_role("link", name="See the results in Compare").click()
    tab.get_by_text("Leaderboard").wait_for()
    tab.locator(".js-plotly-plot").first.wait_for()
    lap("comparison shown on Compare")


def measure(home: Path) -> list[tuple[str, float]]:
    """Seconds from the server's start to the end of each step of the first run."""
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    laps: list[tuple[str, float]] = []
    with offline_dashboard(home) as base, sync_playwright() as playwright:
        laps.append(("dashboard answers", time.perf_counter() - started))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(60_000)
        drive_first_run(tab, base, lap=lambda step: laps.append((step, time.perf_counter() - started)))
        browser.close()
    return laps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.first_run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", help="a folder for the data dir and server log (default: a temporary one)")
    args = parser.parse_args(argv)
    home = Path(args.keep or tempfile.mkdtemp(prefix="msd-first-run-"))
    home.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}, data dir: {home / 'data'}")
    print("| step | s since `streamlit run` |\n|---|---:|")
    for step, seconds in measure(home):
        print(f"| {step} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
