"""Report: the comparison report of a run, downloaded as HTML, PDF, CSV, JSON or Markdown."""

import streamlit as st

from core.errors import InputError
from core.report import (
    ReportOptions, build_report, find_chromium, render_csv, render_html, render_json, render_markdown, render_pdf,
)
from ui import runs, state


def report_for(run_id: str):
    store = state.store()
    budget = st.number_input("Latency budget per row for the recommendation (ms, 0 = none)", min_value=0.0, value=0.0)
    options = ReportOptions(latency_budget_ms=budget or None, price_per_hour=store.run_options(run_id).price_per_hour,
                            author=state.user())
    return build_report(store.load_run(run_id), sample=store.load_sample(run_id), options=options)


def downloads(report, stem: str) -> None:
    """Each file is made only when its button is clicked (the HTML carries all of plotly.js)."""
    html, csv, json_, markdown, pdf = st.columns(5)
    html.download_button("HTML (interactive, offline)", lambda: render_html(report), f"{stem}.html", "text/html")
    csv.download_button("CSV: leaderboard", lambda: render_csv(report)["leaderboard"], f"{stem}.leaderboard.csv", "text/csv")
    csv.download_button("CSV: predictions", lambda: render_csv(report)["predictions"], f"{stem}.predictions.csv", "text/csv")
    csv.download_button("CSV: slices", lambda: render_csv(report)["slices"], f"{stem}.slices.csv", "text/csv")
    json_.download_button("JSON (full results)", lambda: render_json(report), f"{stem}.json", "application/json")
    markdown.download_button("Markdown summary", lambda: render_markdown(report), f"{stem}.md", "text/markdown")
    if find_chromium() is None:
        pdf.info("PDF needs Chromium on the server, which is not installed; the HTML report prints to PDF from a browser.")
    else:
        pdf.download_button("PDF (printed by Chromium)", lambda: render_pdf(report), f"{stem}.pdf", "application/pdf")


state.start_page()

st.title("Report")
chosen = runs.pick_run()
if chosen:
    try:
        built = report_for(chosen)
    except InputError:
        st.error(f"Run {state.md(chosen)} does not exist (deleted?). Pick another one above.")
    else:
        st.caption(f"{state.md(built.title)}: {len(built.run.results)} trials. Every format carries the same numbers.")
        downloads(built, f"report-{chosen[:8]}")
