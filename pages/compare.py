"""Compare: the leaderboard, the trade-offs and the errors of one run, and a recommendation."""

import pandas as pd
import streamlit as st

from core.errors import AppError, InputError
from core import charts
from core.compare import Comparison, build_comparison
from core.dataset import LabeledSample
from core.report import neutralize_frame, slice_cells, slice_header
from core.results import RunResult
from core.starter import build_starter
from core.store import DONE, QUEUED, RUNNING
from ui import progress, runs, state
from ui.ensembles import ensemble_control


def options_for(run_id: str) -> tuple[float | None, dict[str, float]]:
    budget = st.number_input("Latency budget per row (ms, 0 = none)", min_value=0.0, value=0.0, step=5.0,
                             help="The recommendation also names the most accurate model within this p95 latency.")
    return (budget or None), state.store().run_options(run_id).price_per_hour


def recommendation(comparison: Comparison) -> None:
    st.subheader("Recommendation")
    for sentence in comparison.recommendation.sentences:
        st.markdown(f"- {state.md(sentence)}")
    for note in comparison.notes + comparison.run.warnings:
        st.info(state.md(note))


def leaderboard(comparison: Comparison) -> None:
    st.subheader("Leaderboard")
    frame = pd.DataFrame([{
        "trial": r.name, "accuracy": r.accuracy, "accuracy 95% CI": _interval(r.accuracy_ci), "macro-F1": r.macro_f1,
        "macro-F1 95% CI": _interval(r.macro_f1_ci), "p50 ms": r.p50_ms, "p95 ms": r.p95_ms,
        "rows/s": r.throughput_per_s, "load s": r.load_s, "memory MB": r.memory_mb,
        "parameters (M)": r.parameters / 1e6 if r.parameters else None, "cost per 1k": r.cost_per_1k,
        "Pareto": r.on_front, "rules / ensemble": r.combines,
        "warning": " ".join(r.warnings), "error": r.error or "", "race": r.stopped or "",
    } for r in comparison.leaderboard])
    st.dataframe(frame, hide_index=True, column_config={
        "accuracy": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.3f"),
        "macro-F1": st.column_config.NumberColumn(format="%.3f"),
        "cost per 1k": st.column_config.NumberColumn(format="$%.4f"),
    })
    for row in comparison.leaderboard:
        for warning in row.warnings:
            st.warning(state.md(f"{row.name}: {warning}"))


def _interval(bounds) -> str:
    return f"{bounds[0]:.3f} - {bounds[1]:.3f}" if bounds else ""


def trade_offs(comparison: Comparison) -> None:
    st.plotly_chart(charts.accuracy_latency_chart(comparison), key="scatter")
    devices = charts.device_chart(comparison)
    if devices is not None:
        st.plotly_chart(devices, key="devices")
        st.dataframe(pd.DataFrame([{"trial": row.name, "device": row.device, "dtype": row.dtype, "runtime": row.runtime,
                                    "speed-up (throughput)": row.throughput_speedup,
                                    "agreement with torch float32": row.agreement}
                                   for group in comparison.devices for row in group.rows]), hide_index=True)


def per_class(comparison: Comparison) -> None:
    figure = charts.class_f1_chart(comparison)
    if figure is not None:
        st.plotly_chart(figure, key="class_f1")
    trials = comparison.run.succeeded
    if trials:
        trial = st.selectbox("Confusion matrix of", trials, format_func=lambda t: comparison.names[t.key])
        st.plotly_chart(charts.confusion_chart(trial, comparison.names[trial.key]), key="confusion")
    paired = charts.paired_test_chart(comparison)
    if paired is not None:
        st.plotly_chart(paired, key="paired")
    st.write(state.md(comparison.paired.sentence))


def slices(comparison: Comparison) -> None:
    st.subheader("Slices")
    table = comparison.slices
    if not table.slices:
        st.caption(state.md(table.note or "This run has no slices."))
        return
    st.caption(f"Each trial on each slice: the columns chosen on Sample to slice by, and text length in quartiles of "
               f"tokens. Slices under {table.min_rows} rows are shown but not ranked.")
    for sentence in table.sentences:
        st.markdown(f"- {state.md(sentence)}")
    st.plotly_chart(charts.slice_chart(comparison), key="slices")
    st.dataframe(pd.DataFrame([slice_cells(row) for row in table.slices], columns=slice_header(table.names)),
                 hide_index=True)


def long_texts(comparison: Comparison) -> None:
    if not comparison.long_texts:
        return
    st.subheader("Long texts")
    st.caption("Each model on the rows longer than its limit and on the rows that fit, with the strategy it used for "
               "the long ones (truncate: the first tokens; head-tail: the first quarter and the last three; chunks: "
               "every window, probabilities averaged).")
    st.dataframe(pd.DataFrame([{
        "trial": r.name, "long-text strategy": r.strategy, "long rows": r.long_rows, "accuracy on long rows": r.long_accuracy,
        "95% CI (long)": _interval(r.long_accuracy_ci), "rows that fit": r.short_rows,
        "accuracy on rows that fit": r.short_accuracy, "95% CI (fit)": _interval(r.short_accuracy_ci),
    } for r in comparison.long_texts]), hide_index=True)


def more_labels(comparison: Comparison) -> None:
    figure = charts.learning_curve_chart(comparison)
    if figure is None:
        return
    st.subheader("Would more labels help?")
    st.plotly_chart(figure, key="learning_curves")
    st.dataframe(pd.DataFrame([{"trial": comparison.names[t.key], "share of the training folds": p.fraction,
                                "rows learned from": p.train_rows, "accuracy": p.accuracy,
                                "95% CI": _interval(p.accuracy_ci), "extrapolated": p.extrapolated}
                               for t in comparison.run.succeeded if t.learning_curve for p in t.learning_curve.points]),
                 hide_index=True)
    st.caption("2x and 4x the labels are extrapolations of a power law (error = a * rows^-b) fitted to the four "
               "measured points: a hint of the trend, not a measurement.")


def fine_tuning(comparison: Comparison) -> None:
    trained = [t for t in comparison.run.succeeded if t.training]
    if not trained:
        return
    st.subheader("Fine-tuning")
    trial = st.selectbox("Loss curves of", trained, format_func=lambda t: comparison.names[t.key])
    st.plotly_chart(charts.loss_curve_chart(trial, comparison.names[trial.key]), key="loss_curves")
    st.dataframe(pd.DataFrame([{"fold": f.fold, "trained on rows": f.train_rows, "validation rows": f.validation_rows,
                                "held-out rows": f.held_out_rows, "epochs run": f.epochs_run, "steps": f.steps,
                                "training s": f.train_s, "best validation loss": f.best_validation_loss}
                               for f in trial.training]), hide_index=True)
    st.caption(f"Peak memory of the trial: {trial.memory_mb} MB. Each fold's model predicted only its held-out rows.")


def starter(comparison: Comparison, sample: LabeledSample | None) -> None:
    models = list(dict.fromkeys(t.model for t in comparison.run.succeeded if t.uses_model))
    if not models or sample is None:
        return
    with st.expander("Fine-tuning starter for a model (train.py, requirements, README, train/validation CSVs)"):
        model = st.selectbox("Model", models, key="starter-model")
        try:
            files = build_starter(comparison.run, sample, model)
        except AppError as error:
            st.error(state.md(error.sentence))
            return
        st.download_button("Download the starter (zip)", files.zipped(), file_name="fine-tune-starter.zip",
                           mime="application/zip")
        st.caption("Or from the command line: python -m core starter RUN_ID --model MODEL --out FOLDER")


def error_browser(comparison: Comparison) -> None:
    st.subheader("Errors")
    errors = comparison.errors
    if not errors.included:
        st.caption(state.md(errors.note or "The sample's rows are not available for this run."))
        return
    disagreements = pd.DataFrame([{"row": d.row, "text": d.text, "truth": ", ".join(d.truth),
                                   **{name: ", ".join(labels) for name, (labels, _) in d.predictions.items()}}
                                  for d in errors.disagreements])
    first_stage = {t.key: t.summaries or t.entities for t in comparison.run.results if t.summaries or t.entities}
    mistakes = pd.DataFrame([{"trial": t.name, "row": m.row, "text": m.text, "truth": ", ".join(m.truth),
                              "predicted": ", ".join(m.predicted), "confidence": m.score,
                              **({"summary or entities read": first_stage.get(t.key, {}).get(m.row, "")}
                                 if first_stage else {})}
                             for t in errors.per_trial for m in t.mistakes])
    st.caption(f"{errors.disagreeing_rows} rows where the models disagree; the first {len(disagreements)} shown.")
    st.dataframe(disagreements, hide_index=True)
    st.caption("Each model's most confident mistakes.")
    st.dataframe(mistakes, hide_index=True)
    st.download_button("Download these errors as CSV", neutralize_frame(mistakes).to_csv(index=False),
                       file_name="errors.csv", mime="text/csv")


@st.cache_data(max_entries=16, show_spinner=False)
def done_run(run_id: str, trials: int, _store) -> tuple[RunResult, LabeledSample | None]:
    """A done run and its sample, read once per server and trial count: a done run changes only when
    ensembles are added (only stopped runs can be resumed), and big ones take seconds to read. The
    caller checks that the viewer may see it."""
    return _store.load_run(run_id), _store.load_sample(run_id)


def show(run_id: str) -> None:
    store = state.store()
    try:
        job = store.job_progress(run_id)
        status = job.status
        run, sample = (done_run(run_id, job.trial_count, store) if status == DONE
                       else (store.load_run(run_id), store.load_sample(run_id)))
    except InputError:
        st.error(f"Run {state.md(run_id)} does not exist (deleted?). Pick another one above.")
        return
    if status in (QUEUED, RUNNING):
        progress.live(run_id)
    if not run.results or not any(r.ok for r in run.results):
        st.info("No trial has finished successfully yet.")
        for trial in run.results:
            if trial.error:
                st.error(f"{state.md(trial.key)}: {state.md(trial.error)}")
        return
    budget, prices = options_for(run_id)
    comparison = build_comparison(run, sample=sample, latency_budget_ms=budget, price_per_hour=prices)
    recommendation(comparison)
    leaderboard(comparison)
    if status not in (QUEUED, RUNNING):
        ensemble_control(run_id, run)
    trade_offs(comparison)
    per_class(comparison)
    slices(comparison)
    long_texts(comparison)
    more_labels(comparison)
    fine_tuning(comparison)
    starter(comparison, sample)
    error_browser(comparison)


state.start_page()

st.title("Compare")
chosen = runs.pick_run()
if chosen:
    show(chosen)
