"""Evaluate: how each shortlisted model is scored, on which devices, then a job for the worker."""

from dataclasses import replace

import pandas as pd
import streamlit as st

from core import supervision, worker
from core.backend_status import trial_devices
from core.devices import DTYPES, detect_devices
from core.errors import AppError
from core.runtimes import RUNTIMES
from core.shortlist import (
    LabelMapRow, PlanChoices, ShortlistEntry, kind_choices, label_map_overrides, plan_trials, suggest_label_map,
    unmapped_sample_labels,
)
from core.long_text import STRATEGIES
from core.racing import RaceSettings
from core.settings import get_settings
from core.tasks.base import FINE_TUNE_BATCH_SIZE, FINE_TUNE_EPOCHS, FINE_TUNE_LEARNING_RATE
from core.tasks.fine_tune import FineTuneSettings, estimate_for
from ui import progress, runs, state
from ui.race import race_inputs
from ui.rules_editor import rules_editor

UNMAPPED = ""


def entry_settings(entry: ShortlistEntry, labels: list[str]) -> None:
    shortlist = state.shortlist()
    with st.expander(state.md(entry.source), expanded=True):
        choices = kind_choices(entry.candidate)
        kind = st.selectbox("Evaluation kind", choices, index=choices.index(entry.kind) if entry.kind in choices else 0,
                            key=f"kind-{entry.source}", help="Suggested from the model's task and config.")
        if kind != entry.kind:
            shortlist.update(entry.source, kind=kind)
            st.rerun()
        if kind == "zero-shot-classification":
            template = st.text_input("Hypothesis template", entry.hypothesis_template, key=f"template-{entry.source}")
            shortlist.update(entry.source, hypothesis_template=template)
        elif kind == "text-classification":
            label_map_editor(entry, labels)
        elif kind == "embedding-probe":
            st.caption("Mean-pooled embeddings scored by 5-fold logistic regression: an estimate of fine-tuning potential.")
        elif kind == "fine-tune":
            fine_tune_estimate(entry)


def fine_tune_estimate(entry: ShortlistEntry) -> None:
    st.caption("Fine-tuned on each fold's training rows with transformers' Trainer (a new head for your labels), "
               "scored on the held-out fold. Settings below, under Cross-validation and fine-tuning.")
    if st.button("Estimate the fine-tuning time", key=f"estimate-{entry.source}",
                 help="Loads the model here and times a few training steps on a batch of your sample."):
        with st.spinner("Timing a few training steps..."):
            try:
                estimate = estimate_for(entry.source, state.sample(), st.session_state.get("training_settings"))
            except AppError as error:
                st.error(state.md(error.sentence))
                return
        st.session_state[f"estimate-text-{entry.source}"] = estimate.sentence
    if f"estimate-text-{entry.source}" in st.session_state:
        st.info(st.session_state[f"estimate-text-{entry.source}"])


def label_map_editor(entry: ShortlistEntry, labels: list[str]) -> None:
    by_index = st.checkbox("Map LABEL_k to the k-th sample label (sorted)", entry.label_index_mapping,
                           key=f"index-{entry.source}")
    automatic = suggest_label_map(replace(entry, label_map={}, label_index_mapping=by_index), labels)
    if not automatic:
        st.caption("The model's labels are not known yet; they are matched to yours when it runs.")
        return
    rows = suggest_label_map(replace(entry, label_index_mapping=by_index), labels)
    frame = pd.DataFrame([{"model label": r.model_label, "sample label": r.sample_label or UNMAPPED,
                           "matched by": r.how or "not mapped"} for r in rows])
    edited = st.data_editor(frame, hide_index=True, disabled=["model label", "matched by"], key=f"map-{entry.source}",
                            column_config={"sample label": st.column_config.SelectboxColumn(options=[UNMAPPED, *labels])})
    chosen = [LabelMapRow(r["model label"], r["sample label"] or None, "user") for r in edited.to_dict("records")]
    overrides = label_map_overrides(chosen, automatic)
    state.shortlist().update(entry.source, label_map=overrides, label_index_mapping=by_index)
    warn_unmapped(chosen, labels)


def warn_unmapped(rows: list[LabelMapRow], labels: list[str]) -> None:
    model_side = [r.model_label for r in rows if not r.sample_label]
    sample_side = unmapped_sample_labels(rows, labels)
    if model_side:
        st.warning(f"Unmapped model labels (predicting them counts as wrong): {state.md(', '.join(model_side))}")
    if sample_side:
        st.warning(f"Sample labels no model label maps to (those rows are always wrong): {state.md(', '.join(sample_side))}")


def plan_choices(rules: tuple[dict, ...]) -> tuple[PlanChoices, dict[str, float]]:
    st.subheader("Devices and settings")
    devices = trial_devices(get_settings(), [d.name for d in detect_devices()])
    left, right = st.columns(2)
    where = "the Ray cluster" if get_settings().ray_address else "this server"
    chosen_devices = left.multiselect(f"Devices on {where}", devices, default=devices[:1])
    dtypes = right.multiselect("Precisions", list(DTYPES), default=["float32"],
                               help="int8 is dynamic quantization of linear layers, on CPU only.")
    runtimes = left.multiselect("Runtimes", list(RUNTIMES), default=["torch"],
                                help="onnxruntime: the model exported to ONNX once per commit (cached), float32 or int8; "
                                     "for text-classification, zero-shot and embedding-probe.")
    first, second, third = st.columns(3)
    batch_size = int(first.number_input("Batch size", 1, 1024, 32))
    max_length = int(second.number_input("Maximum length in tokens (0 = the model's own)", 0, 100_000, 0))
    baselines = third.checkbox("Include baselines (majority, TF-IDF)", value=True)
    long_texts = st.multiselect(
        "Rows longer than a model's limit", list(STRATEGIES), default=["truncate"],
        help="One trial per strategy: truncate keeps the first tokens; head-tail the first quarter and the last three; "
             "chunks classifies every window and averages. Compare shows each on the long rows and on the others.")
    training = training_inputs(any(e.kind == "fine-tune" for e in state.shortlist().entries))
    summarizer, ner_models = two_stage_inputs()
    prices = price_inputs(chosen_devices)
    choices = PlanChoices(tuple(chosen_devices), tuple(dtypes), tuple(runtimes), batch_size, max_length or None, baselines,
                          dict(state.label_descriptions()), rules, folds=training.folds, epochs=training.epochs,
                          learning_rate=training.learning_rate, train_batch_size=training.batch_size,
                          learning_curve=training.learning_curve, long_texts=tuple(long_texts or ["truncate"]),
                          summarizer=summarizer, ner_models=ner_models)
    return choices, prices


def two_stage_inputs() -> tuple[str | None, tuple[str, ...]]:
    with st.expander("Two-stage strategies: summarize, or extract entities, then classify"):
        left, right = st.columns(2)
        summarizer = left.text_input("Summarizer (a seq2seq Hub id or folder)", key="summarizer",
                                     help="Rows longer than each model's limit are summarized first; every model gets a "
                                          "second trial that reads the summaries, beside the plain one.")
        ner = right.text_input("NER model (a token-classification Hub id or folder)", key="ner-model",
                               help="A trial that classifies each row by its entities (types and words), with a "
                                    "cross-validated logistic regression.")
    return summarizer.strip() or None, tuple(filter(None, [ner.strip()]))


def training_inputs(expanded: bool) -> FineTuneSettings:
    with st.expander("Cross-validation and fine-tuning", expanded=expanded):
        folds, epochs, rate, batch = st.columns(4)
        chosen = FineTuneSettings(
            folds=int(folds.number_input("Folds", 2, 20, 5, help="Probe, baselines and fine-tune")),
            epochs=float(epochs.number_input("Fine-tune epochs", 0.5, 50.0, FINE_TUNE_EPOCHS, step=0.5)),
            learning_rate=float(rate.number_input("Learning rate", 1e-7, 1e-1, FINE_TUNE_LEARNING_RATE, format="%.1e")),
            batch_size=int(batch.number_input("Training batch size", 1, 512, FINE_TUNE_BATCH_SIZE)),
            learning_curve=st.checkbox("Fine-tune learning curve (trains 3 more times per fold; the probe always has one)"),
        )
    st.session_state["training_settings"] = chosen  # what the time estimate uses
    return chosen


def price_inputs(devices: list[str]) -> dict[str, float]:
    with st.expander("Price per hour per device (optional: adds cost per 1,000 predictions)"):
        columns = st.columns(max(len(devices), 1))
        prices = {device: column.number_input(f"{device} ($/hour)", min_value=0.0, value=0.0, step=0.1,
                                              key=f"price-{device}") for device, column in zip(devices, columns)}
    return {device: price for device, price in prices.items() if price > 0}


def submit(choices: PlanChoices, prices: dict[str, float], race: RaceSettings | None) -> None:
    sample = state.sample()
    try:
        specs = plan_trials(state.shortlist().entries, choices)
        run_id = worker.submit(state.store(), sample, specs, started_by=state.user(), price_per_hour=prices, race=race)
    except AppError as error:
        st.error(state.md(error.sentence))
        return
    state.show_run(run_id)  # before anything else: the progress panel below shows it in every later run
    st.success(f"Queued {len(specs)} trials as run {run_id[:8]}. You can switch pages: it keeps running.")
    supervision.ensure_worker(store=state.store())


state.start_page()

st.title("Evaluate")
current_sample, entries = state.sample(), state.shortlist().entries
if current_sample is None:
    st.info("Add a labeled sample on the Sample page first, and models on the Discover page (or write rules here).")
    st.page_link("pages/sample.py", label="Upload a sample")
    st.page_link("pages/discover.py", label="Discover models")
else:
    st.caption(f"{len(entries)} model(s) on {len(current_sample)} rows of {state.md(current_sample.source_name)}.")
    if not entries:
        st.info("No models are shortlisted: add some on the Discover page, or score rules alone below.")
        st.page_link("pages/discover.py", label="Discover models")
    for item in entries:
        entry_settings(item, current_sample.label_set)
    plan, price_per_hour = plan_choices(rules_editor(current_sample))
    race = race_inputs()
    if st.button("Run evaluation", type="primary"):
        submit(plan, price_per_hour, race)
if state.current_run() and runs.visible(state.current_run()):
    progress.live(state.current_run())
