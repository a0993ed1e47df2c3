"""The shared-server load benchmark: browser sessions switch pages while their runs queue and run.

    python -m bench.load --sessions 8 --json artifacts/bench/load.json --markdown artifacts/bench/load.md

One dashboard (`streamlit run`, its worker started by the first submit, as on the server) and one
Chromium with a context per session, driven by Playwright. Every session uploads the shipped
sample, shortlists the same model folder, switches pages with no trial running (idle), then all
click "Run evaluation" together (N runs queued), and keep switching pages, a pause between
switches, until every run has ended. Timed from the click: a page switch until the new page's
heading shows ("shown") and until its script run has ended ("complete"); a submit until its
confirmation shows ("Queued ... as run", or the run's progress panel). Targets (shared-server issue): page switch p95 < 1.5 s,
every submit confirmed within 2 s, every run done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from bench.server import streamlit_server

#: (sidebar link, the page's heading)
PAGES = (("Discover", "Discover models"), ("Sample", "Labeled sample"), ("Evaluate", "Evaluate"),
         ("Compare", "Compare"), ("History", "History"), ("Home", "Model selection dashboard"))
SWITCH_P95_TARGET_S = 1.5
SUBMIT_TARGET_S = 2.0
ENDED = ("done", "failed", "cancelled", "interrupted")
#: What tells the person their click worked: the success line, or the run's progress panel.
CONFIRMATION = re.compile(r"trials as run|Queued: position|Queued\.|trials finished \(")


@dataclass
class LoadOptions:
    sessions: int = 8
    idle_switches: int = 6
    think_s: float = 1.0
    model: Path | None = None  # default: the real all-MiniLM-L6-v2 encoder (an embedding probe)
    tiny: bool = False  # a tiny random classifier instead (smoke test: the numbers mean nothing)
    timeout_s: float = 1800.0
    workdir: Path | None = None
    log: bool = True


@dataclass(frozen=True)
class Timing:
    session: int
    phase: str  # "idle" (no run queued yet) or "loaded" (runs queued or running)
    action: str  # "switch" or "submit"
    page: str
    shown_s: float
    complete_s: float


@dataclass
class LoadResult:
    machine: dict
    options: dict
    timings: list[Timing] = field(default_factory=list)
    run_statuses: dict[str, str] = field(default_factory=dict)
    runs_wall_s: float = 0.0
    #: CPU seconds each role used from the submits until every run ended (see `cpu_seconds_by_role`).
    cpu_s: dict[str, float] = field(default_factory=dict)


#: Which process does what, by its command line; the first match wins.
ROLES = (("browser", "chrom"), ("trials", "forkserver"), ("worker", "-m core worker"), ("web server", "streamlit run"))


def cpu_seconds_by_role() -> dict[str, float]:
    """CPU time (user + system, with the reaped children of each) used so far by this machine's
    processes, by role. The browser shares the machine here; on a real server it does not."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys([role for role, _ in ROLES], 0.0)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        role = next((role for role, marker in ROLES if marker in command), None)
        if role:
            totals[role] += sum(int(value) for value in fields[11:15]) / tick
    return totals


def say(options: LoadOptions, line: str) -> None:
    if options.log:
        print(line, file=sys.stderr, flush=True)


# -- one browser session ------------------------------------------------------------------


async def settled(tab) -> None:
    """Until the script run that draws the page has ended (Streamlit marks it on the app element)."""
    await tab.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(state="attached")


async def switch(tab, link: str, heading: str, *, session: int, phase: str) -> Timing:
    started = time.perf_counter()
    await tab.locator("[data-testid='stSidebarNav'] a", has_text=link).first.click()
    await tab.get_by_role("heading", name=heading, level=1, exact=True).wait_for()
    shown = time.perf_counter() - started
    await settled(tab)
    return Timing(session, phase, "switch", link, shown, time.perf_counter() - started)


async def prepare(tab, base: str, sample: Path, model: Path) -> None:
    """The sample uploaded and the model shortlisted, as a user does it."""
    await tab.goto(f"{base}/sample")
    await tab.get_by_role("heading", name="Labeled sample", level=1).wait_for()
    await tab.locator("input[type='file']").set_input_files(str(sample))
    await tab.get_by_role("button", name="Use this sample").click()
    await tab.get_by_text("Using ", exact=False).first.wait_for()
    await switch(tab, "Discover", "Discover models", session=-1, phase="setup")
    await tab.get_by_label("Add any Hub id or model folder on this server").fill(str(model))
    await tab.get_by_role("button", name="Add to shortlist").click()
    await tab.get_by_text("Shortlist: 1 model(s).").wait_for()


async def submit(tab, *, session: int) -> Timing:
    await switch(tab, "Evaluate", "Evaluate", session=session, phase="setup")
    await tab.get_by_role("button", name="Run evaluation").wait_for()
    await settled(tab)
    started = time.perf_counter()
    await tab.get_by_role("button", name="Run evaluation").click()
    await tab.get_by_text(CONFIRMATION).first.wait_for()
    shown = time.perf_counter() - started
    await settled(tab)
    return Timing(session, "loaded", "submit", "Evaluate", shown, time.perf_counter() - started)


@dataclass
class Shared:
    """What the sessions coordinate on: all ready before anyone submits; all runs ended."""

    sessions: int
    ready: int = 0
    all_ready: asyncio.Event = field(default_factory=asyncio.Event)
    all_ended: asyncio.Event = field(default_factory=asyncio.Event)
    timings: list[Timing] = field(default_factory=list)

    def arrived(self) -> None:
        self.ready += 1
        if self.ready == self.sessions:
            self.all_ready.set()


async def session(index: int, browser, base: str, sample: Path, model: Path, shared: Shared, options: LoadOptions) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = await context.new_page()
    tab.set_default_timeout(180_000)
    try:
        await prepare(tab, base, sample, model)
        for step in range(options.idle_switches):
            link, heading = PAGES[(index + step) % len(PAGES)]
            shared.timings.append(await switch(tab, link, heading, session=index, phase="idle"))
            await asyncio.sleep(options.think_s)
        shared.arrived()
        await shared.all_ready.wait()
        shared.timings.append(await submit(tab, session=index))
        step = index
        while not shared.all_ended.is_set():
            link, heading = PAGES[step % len(PAGES)]
            shared.timings.append(await switch(tab, link, heading, session=index, phase="loaded"))
            step += 1
            await asyncio.sleep(options.think_s)
    except Exception:
        say(options, f"session {index} failed on {tab.url}; the page said:\n{await tab.inner_text('body')}")
        raise
    finally:
        await context.close()


async def watch_runs(data_dir: Path, shared: Shared, result: LoadResult, options: LoadOptions) -> None:
    """Poll the dashboard's store until every session's run has ended (or the time is up)."""
    from core.store import Store

    await shared.all_ready.wait()
    started, cpu_before = time.monotonic(), cpu_seconds_by_role()
    store = await asyncio.to_thread(lambda: Store(f"sqlite:///{data_dir / 'runs.sqlite'}"))
    while time.monotonic() - started < options.timeout_s:
        statuses = {run.id: run.status for run in await asyncio.to_thread(store.list_runs)}
        if len(statuses) == options.sessions and all(status in ENDED for status in statuses.values()):
            break
        await asyncio.sleep(1.0)
    result.run_statuses, result.runs_wall_s = statuses, time.monotonic() - started
    cpu_after = cpu_seconds_by_role()
    result.cpu_s = {role: round(cpu_after[role] - cpu_before[role], 1) for role in cpu_after}
    shared.all_ended.set()


async def drive(base: str, data_dir: Path, sample: Path, model: Path, result: LoadResult, options: LoadOptions) -> None:
    from playwright.async_api import async_playwright

    from bench.browser import CHROMIUM, CHROMIUM_ARGS

    shared = Shared(options.sessions)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            watcher = asyncio.create_task(watch_runs(data_dir, shared, result, options))
            await asyncio.gather(*(session(i, browser, base, sample, model, shared, options)
                                   for i in range(options.sessions)))
            await watcher
        finally:
            await browser.close()
    result.timings = shared.timings


# -- the whole benchmark ------------------------------------------------------------------


def bench_model(options: LoadOptions, workdir: Path) -> Path:
    if options.model:
        return options.model
    if options.tiny:
        from bench.models import build_random_classifier
        from bench.workload import load_sample

        labels = load_sample().label_set
        return build_random_classifier(workdir / "models" / "bert-tiny", labels, distilbert=False, hidden_size=32,
                                       intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    from bench.models import minilm_path

    return minilm_path()


def dashboard_env(workdir: Path, model: Path) -> dict[str, str]:
    env = {**os.environ, "MSD_DATA_DIR": str(workdir / "data"), "HF_HOME": str(workdir / "hf"),
           "MSD_MODEL_DIRS": str(model.parent), "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_TOKEN", None)
    env.pop("DATABASE_URL", None)
    return env


def run_load(options: LoadOptions) -> LoadResult:
    from bench.run import describe_machine
    from core.paths import EXAMPLE_SAMPLE
    from core.settings import get_settings
    from core.supervision import stop_worker

    with tempfile.TemporaryDirectory(prefix="msd-load-") as temporary:
        workdir = options.workdir or Path(temporary)
        model = bench_model(options, workdir)
        result = LoadResult(describe_machine(os.cpu_count() or 1), {**asdict(options), "model": str(model)})
        data_dir = workdir / "data"
        say(options, f"{options.sessions} sessions against one dashboard, model {model}")
        try:
            with streamlit_server(dashboard_env(workdir, model), workdir / "streamlit.log") as base:
                asyncio.run(drive(base, data_dir, EXAMPLE_SAMPLE, model, result, options))
        finally:
            stop_worker(replace(get_settings(), data_dir=data_dir))
    return result


# -- the tables ---------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: a measured value, at least `share` of them at or below it."""
    return float(np.percentile(values, share * 100, method="inverted_cdf"))


@dataclass(frozen=True)
class Summary:
    label: str
    count: int
    p50_s: float
    p95_s: float
    max_s: float
    target: str
    met: bool | None


def summarize(result: LoadResult) -> list[Summary]:
    rows = []
    for phase, action, measure, target in (
        ("idle", "switch", "shown_s", None), ("idle", "switch", "complete_s", None),
        ("loaded", "switch", "shown_s", ("p95", SWITCH_P95_TARGET_S)), ("loaded", "switch", "complete_s", None),
        ("loaded", "submit", "shown_s", ("max", SUBMIT_TARGET_S)),
    ):
        values = [getattr(t, measure) for t in result.timings if t.phase == phase and t.action == action]
        if not values:
            continue
        p95, worst = percentile(values, 0.95), max(values)
        checked = {"p95": p95, "max": worst}[target[0]] if target else None
        rows.append(Summary(
            f"{action} ({phase}), until {'shown' if measure == 'shown_s' else 'its script ended'}", len(values),
            statistics.median(values), p95, worst, f"{target[0]} < {target[1]} s" if target else "",
            checked < target[1] if target else None))
    return rows


def render(result: LoadResult) -> str:
    machine, statuses = result.machine, list(result.run_statuses.values())
    lines = [
        f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, torch {machine['torch']}, "
        f"Python {machine['python']}. Date: {machine['date']}. Model: {result.options['model']}.",
        "",
        f"{result.options['sessions']} sessions; {len(statuses)} runs, "
        f"{sum(s == 'done' for s in statuses)} done ({', '.join(sorted(set(statuses))) or 'none'}), "
        f"all ended {result.runs_wall_s:.0f} s after the submits.",
        "",
        f"CPU used while the runs were queued and ran ({result.runs_wall_s:.0f} s x {machine['logical_cpus']} CPUs = "
        f"{result.runs_wall_s * machine['logical_cpus']:.0f} CPU-s available): "
        + ", ".join(f"{role} {seconds:.0f} CPU-s" for role, seconds in result.cpu_s.items()) + ".",
        "",
        "| measured | count | p50 s | p95 s | max s | target | |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in summarize(result):
        verdict = "" if row.met is None else ("met" if row.met else "NOT met")
        lines.append(f"| {row.label} | {row.count} | {row.p50_s:.2f} | {row.p95_s:.2f} | {row.max_s:.2f} | "
                     f"{row.target} | {verdict} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> tuple[LoadOptions, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8, help="browser sessions, one run each (default 8)")
    parser.add_argument("--idle-switches", type=int, default=6, help="page switches per session before the submits")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between two switches of a session")
    parser.add_argument("--model", type=Path, help="a model folder to shortlist (default: all-MiniLM-L6-v2)")
    parser.add_argument("--tiny", action="store_true", help="a tiny random model (smoke test: the numbers mean nothing)")
    parser.add_argument("--timeout", type=float, default=1800, help="give up waiting for the runs after this many s")
    parser.add_argument("--json", type=Path, help="write every timing here")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    args = parser.parse_args(argv)
    return LoadOptions(sessions=args.sessions, idle_switches=args.idle_switches, think_s=args.think, model=args.model,
                       tiny=args.tiny, timeout_s=args.timeout), args


def main(argv: list[str] | None = None) -> LoadResult:
    options, args = parse_args(argv)
    result = run_load(options)
    text = render(result)
    print(text)
    for path, content in ((args.markdown, text), (args.json, json.dumps(asdict(result), indent=1, default=str))):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    return result


if __name__ == "__main__":
    main()
