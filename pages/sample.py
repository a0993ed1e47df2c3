"""Sample: upload a labeled CSV, pick its columns, and see what it holds before anything runs."""

import pandas as pd
import streamlit as st

from core import charts
from core.dataset import CsvPreview, LabeledSample, load_csv, preview_csv
from core.errors import AppError
from core.paths import EXAMPLE_SAMPLE
from core.sample_checks import balance_warnings, check_lengths
from ui import state

NO_COLUMN = "(none)"


def choose_file() -> tuple[str, bytes] | None:
    uploaded = st.file_uploader("Labeled CSV or TSV (a text column and a label column)", type=["csv", "tsv", "txt"])
    if uploaded is not None:
        return uploaded.name, uploaded.getvalue()
    if st.button("Use the shipped example (210 support tickets)"):
        st.session_state["sample_upload"] = (EXAMPLE_SAMPLE.name, EXAMPLE_SAMPLE.read_bytes())
    return state.sample_upload()


@st.cache_data(max_entries=4, show_spinner=False)
def cached_preview(raw: bytes) -> CsvPreview:
    """The preview is parsed once per file, not on every rerun of the page (a click anywhere)."""
    return preview_csv(raw)


def column_form(name: str, raw: bytes) -> None:
    try:
        preview = cached_preview(raw)
    except AppError as error:
        st.error(state.md(error.sentence))
        return
    st.caption(f"Preview of {state.md(name)} (first {len(preview.head)} rows, read as {preview.encoding}).")
    st.dataframe(preview.head, hide_index=True)
    guessed = preview.guessed
    with st.form("columns"):
        text, pair, label, separator = st.columns(4)
        columns = preview.columns
        chosen = dict(
            text_column=text.selectbox("Text column", columns, index=_index(columns, guessed and guessed.text)),
            text_pair_column=_optional(pair.selectbox("Second text column (pairs)", [NO_COLUMN, *columns],
                                                      index=_index([NO_COLUMN, *columns], guessed and guessed.text_pair))),
            label_column=label.selectbox("Label column", columns, index=_index(columns, guessed and guessed.label)),
            label_sep=separator.text_input("Multi-label separator", placeholder="e.g. ;") or None,
        )
        others = [c for c in columns if not guessed or c not in (guessed.text, guessed.text_pair, guessed.label)]
        chosen["slice_columns"] = st.multiselect(
            "Slice scores by", others, default=_kept_slices(name, others),
            help="Metadata columns such as channel, product or language: Compare scores every model on each of their "
                 "values. Text length (quartiles of tokens) is always added.",
        )
        if st.form_submit_button("Use this sample", type="primary"):
            load(name, raw, chosen)


def _index(options: list[str], wanted: str | None) -> int:
    return options.index(wanted) if wanted in options else 0


def _kept_slices(name: str, options: list[str]) -> list[str]:
    """The slice columns of the sample in use, when it came from this file."""
    current = state.sample()
    if current is None or current.source_name != name:
        return []
    return [column for column in current.metadata if column in options]


def _optional(column: str) -> str | None:
    return None if column == NO_COLUMN else column


def load(name: str, raw: bytes, chosen: dict) -> None:
    try:
        loaded = load_csv(raw, source_name=name, **chosen)
    except AppError as error:
        st.error(state.md(error.sentence))  # the sample loaded before, if any, stays as it was
        return
    state.set_sample(loaded, raw=raw, name=name)
    st.success(f"Using {len(loaded)} rows with {len(loaded.label_set)} labels from {state.md(name)}.")


def summary(sample: LabeledSample) -> None:
    st.subheader("The sample in use")
    dropped = sample.dropped
    first, second, third, fourth = st.columns(4)
    first.metric("Rows", len(sample))
    second.metric("Labels", len(sample.label_set))
    third.metric("Rows dropped", dropped.total)
    fourth.metric("Duplicates", sample.duplicates)
    st.caption(f"{state.md(sample.source_name)}: content sha256 {sample.sha256[:16]}...,"
               f" {'multi-label' if sample.multi_label else 'one label per row'}.")
    st.plotly_chart(charts.label_distribution_chart(sample.label_counts), key="label_distribution")
    sliced = [f"{state.md(column)} ({len(set(values))} values)" for column, values in sample.metadata.items()]
    st.caption("Compare will also score each model per slice of " + ", ".join([*sliced, "text length (quartiles of tokens)"])
               + ("." if sliced else "; choose columns under \"Slice scores by\" to slice by more."))
    for warning in sample.warnings + balance_warnings(sample):
        st.warning(state.md(warning))
    length_warnings(sample)


def length_warnings(sample: LabeledSample) -> None:
    candidates = [entry.candidate for entry in state.shortlist().entries]
    if not candidates:
        return
    key = (sample.sha256, tuple(c.source for c in candidates))
    if st.session_state.get("length_checks", (None,))[0] != key:
        st.session_state["length_checks"] = (key, check_lengths(sample, candidates))
    checks = st.session_state["length_checks"][1]
    frame = pd.DataFrame([{"model": c.model, "maximum length (tokens)": c.max_length,
                           "rows longer (truncated)": c.long_rows, "note": c.reason} for c in checks])
    st.caption("Texts longer than each shortlisted model accepts are truncated when it runs.")
    st.dataframe(frame, hide_index=True)


def descriptions(sample: LabeledSample) -> None:
    with st.expander("Label descriptions for zero-shot models (optional)"):
        st.caption("A zero-shot model reads each label inside the hypothesis template. A short description "
                   "often works better than a terse label name: 'a report of something broken' for 'bug'.")
        saved = state.label_descriptions()
        frame = pd.DataFrame({"label": sample.label_set, "description": [saved.get(x, "") for x in sample.label_set]})
        edited = st.data_editor(frame, hide_index=True, disabled=["label"], key="descriptions_editor")
        saved.clear()
        written = {row.label: str(row.description or "").strip() for row in edited.itertuples()}
        saved.update({label: text for label, text in written.items() if text and text != "nan"})


state.start_page()

st.title("Labeled sample")
upload = choose_file()
if upload:
    column_form(*upload)
current = state.sample()
if current is not None:
    summary(current)
    descriptions(current)
    st.page_link("pages/evaluate.py", label="Next: choose how to evaluate")
