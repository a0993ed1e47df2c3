"""Discover: search the Hub and local sources, read the trust signals, build a shortlist."""

import pandas as pd
import streamlit as st

from core import hub
from core.errors import AppError
from core.hub_status import MIRROR, hub_status
from core.shortlist import resolve_source, with_labels
from ui import demo, state

CHECK_TITLES = {"popular": "Popular", "documented": "Documented", "maintained": "Maintained",
                "safe_to_load": "Safe to load", "licensed": "Licensed", "accessible": "Accessible"}
SORT_TITLES = {"downloads": "Downloads", "likes": "Likes", "trending": "Trending", "updated": "Last updated",
               "created": "Created"}


def search_form() -> dict | None:
    with st.form("search"):
        first, second, third = st.columns(3)
        query = dict(task=first.selectbox("Task", hub.TASKS),
                     search=second.text_input("Search text", placeholder="e.g. sentiment, nli, minilm") or None,
                     sort=third.selectbox("Sort by", list(hub.SORTS), format_func=SORT_TITLES.get))
        with st.expander("Filters"):
            query.update(filter_inputs())
        submitted = st.form_submit_button("Search", type="primary")
    return query if submitted else None


def filter_inputs() -> dict:
    author, language, license_ = st.columns(3)
    low, high, limit = st.columns(3)
    min_m = low.number_input("Fewest parameters (millions)", min_value=0.0, value=0.0, step=10.0)
    max_m = high.number_input("Most parameters (millions, 0 = no limit)", min_value=0.0, value=0.0, step=10.0)
    return dict(
        author=author.text_input("Author") or None,
        language=language.text_input("Language", placeholder="en") or None,
        license=license_.text_input("License", placeholder="apache-2.0") or None,
        min_parameters=int(min_m * 1e6) if min_m else None,
        max_parameters=int(max_m * 1e6) if max_m else None,
        limit=int(limit.number_input("Most Hub results", 1, hub.MAX_LIMIT, 30)),
        library="transformers" if st.checkbox("transformers models only", value=True) else None,
        include_gated=st.checkbox("Include gated models", value=True),
    )


def run_search(query: dict) -> None:
    try:
        st.session_state["search_result"] = hub.search(query.pop("task"), **query)
    except AppError as error:
        st.error(state.md(error.sentence))


def show_origin(result: hub.SearchResult) -> None:
    if result.notice:
        st.warning(state.md(result.notice))
    elif result.hub_reached:
        where = "a Hub mirror" if hub_status().state == MIRROR else "the Hugging Face Hub"
        local = sum(c.is_local for c in result.candidates)
        cached = " (from a search made in the last few minutes)" if result.from_cache else ""
        st.caption(f"Results from {where}{cached}, plus {local} local model(s).")


def candidates_frame(candidates: list[hub.ModelCandidate]) -> pd.DataFrame:
    rows = []
    for c in candidates:
        row = {"model": c.id, "from": c.origin, "fits": ", ".join(c.kinds) or "-", "downloads": c.downloads,
               "likes": c.likes, "updated": c.last_modified.date() if c.last_modified else None,
               "parameters (M)": round(c.parameters / 1e6, 1) if c.parameters else None, "license": c.license,
               "ready": f"{c.ready_count}/{len(c.checks)}"}
        row.update({CHECK_TITLES[check.name]: check.ok for check in c.checks})
        rows.append(row)
    return pd.DataFrame(rows)


def results_table(result: hub.SearchResult) -> None:
    required = st.multiselect("Hide models that fail", list(CHECK_TITLES), format_func=CHECK_TITLES.get)
    shown = hub.passing(result.candidates, required=required)
    if not shown:
        st.info("No candidate passes those checks. Remove a check above, or search again.")
        return
    st.caption("Select rows to add them to the shortlist. Click a column header to sort.")
    picked = st.dataframe(candidates_frame(shown), hide_index=True, on_select="rerun", selection_mode="multi-row",
                          key="candidates", column_config={"downloads": st.column_config.NumberColumn(format="localized")})
    chosen = [shown[i] for i in picked.selection.rows if i < len(shown)]  # a selection can outlive a narrower list
    if chosen and st.button(f"Add {len(chosen)} selected to the shortlist", type="primary"):
        with st.spinner("Reading the models' labels..."):
            added = sum(state.shortlist().add(with_labels(c)) for c in chosen)
        st.success(f"Added {added} model(s); {len(chosen) - added} already on the shortlist.")
    model_details(shown)


def model_details(candidates: list[hub.ModelCandidate]) -> None:
    with st.expander("Model details: files, download size, labels, card, checklist"):
        candidate = st.selectbox("Model", candidates, format_func=lambda c: c.id, key="details_model")
        if st.button("Show details"):
            try:
                st.session_state["details_shown"] = hub.model_details(candidate)
            except AppError as error:
                st.session_state.pop("details_shown", None)
                st.error(state.md(error.sentence))
        shown = st.session_state.get("details_shown")
        if shown is not None and shown.candidate.id == candidate.id:  # kept across reruns until another model is picked
            show_details(shown)


def show_details(details: hub.ModelDetails) -> None:
    c = details.candidate
    size = details.download_bytes if details.download_bytes is not None else details.total_bytes
    st.text(f"{c.id}\nDownload size: {size / 2**20:,.1f} MB" if size is not None else f"{c.id}\nDownload size: unknown")
    for note in details.notes:
        st.caption(state.md(note))
    st.dataframe(pd.DataFrame([{"check": CHECK_TITLES[x.name], "passes": x.ok, "why": x.reason} for x in c.checks]),
                 hide_index=True)
    if c.labels:
        st.text("Labels: " + ", ".join(c.labels))
    st.dataframe(pd.DataFrame([{"file": f.path, "MB": (f.size_bytes or 0) / 2**20} for f in details.files]), hide_index=True)
    st.text(details.card_text or "This model has no card.")


def add_by_hand() -> None:
    with st.form("add_by_hand", clear_on_submit=True):
        source = st.text_input("Add any Hub id or model folder on this server", placeholder="org/model or /models/my-model")
        if not st.form_submit_button("Add to shortlist"):
            return
    try:
        candidate, note = resolve_source(source)
    except AppError as error:
        st.error(state.md(error.sentence))
        return
    if note:
        st.warning(state.md(note))
    added = state.shortlist().add(candidate)
    name = state.md(candidate.id)
    st.success(f"Added {name}." if added else f"{name} is already on the shortlist.")


def shortlist_panel() -> None:
    st.subheader("Shortlist")
    entries = state.shortlist().entries
    if not entries:
        st.caption("Empty. Select search results above, or add a model by hand.")
    for entry in entries:
        name, kind, remove = st.columns([5, 3, 1])
        name.text(entry.source)
        kind.text(entry.kind)
        if remove.button("Remove", key=f"remove-{entry.source}"):
            state.shortlist().remove(entry.source)
            st.rerun()
    if entries:
        st.page_link("pages/sample.py", label="Next: upload a labeled sample")


state.start_page()

st.title("Discover models")
query = search_form()
if query:
    run_search(query)
if "search_result" in st.session_state:
    found = st.session_state["search_result"]
    show_origin(found)
    results_table(found)
demo.starter_panel()
add_by_hand()
shortlist_panel()
