"""A smoke run of the shared-server load benchmark (bench/load.py): 2 browser sessions, a tiny
model, so the benchmark cannot rot. No timing asserts: only that every step ran through the real
dashboard and the table has its rows."""

import math

import pytest

from bench.browser import CHROMIUM
from bench.load import LoadOptions, render, run_load, summarize

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)")


def test_two_sessions_switch_pages_submit_and_every_run_ends_done(tmp_path):
    result = run_load(LoadOptions(sessions=2, idle_switches=2, think_s=0.5, tiny=True, workdir=tmp_path, log=False))
    assert sorted(result.run_statuses.values()) == ["done", "done"]
    by_kind = {(t.phase, t.action) for t in result.timings}
    assert by_kind == {("idle", "switch"), ("loaded", "switch"), ("loaded", "submit")}
    assert len([t for t in result.timings if t.phase == "idle"]) == 2 * 2
    assert sorted(t.session for t in result.timings if t.action == "submit") == [0, 1]
    assert all(0 < t.shown_s <= t.complete_s and math.isfinite(t.complete_s) for t in result.timings)
    assert set(result.cpu_s) == {"browser", "trials", "worker", "web server"} and result.cpu_s["web server"] > 0
    assert [row.label for row in summarize(result)][-1] == "submit (loaded), until shown"
    assert "| switch (loaded), until shown |" in render(result)
