"""A plan (models x devices x dtypes, plus baselines) -> trial results.

Each trial is a chain of named steps: resolve the kind, load, prepare, time the first
call, warm up, time single rows, run every row at the batch size, score. A failing trial
becomes an error row with a sentence; the other trials still run.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import torch

from core.dataset import LabeledSample
from core.devices import check_device, detect_devices
from core.errors import AppError, ModelLoadError, redact
from core.kinds import FINE_TUNE, choose_kinds
from core.long_text import for_long_texts, long_rows_of, token_lengths
from core.summaries import MAX_NEW_TOKENS, summarize_rows
from core.tasks.entities import ENTITY_KIND
from core.loading import LoadedModel, ModelSpec, fetch_model, load_model, release
from core.metrics import compare_pairs, compute_scores, leaders_warning, rows_correct
from core.runtimes import check_runtime
from core.results import RULES_KIND, DatasetSummary, LatencyStats, RowPrediction, RunResult, TrialResult
from core.settings import Settings, get_settings
from core.slices import slice_memberships
from core.tasks import AUTO, BASELINE_KINDS, get_kind
from core.tasks.base import (
    DEFAULT_TEMPLATE, FINE_TUNE_BATCH_SIZE, FINE_TUNE_EPOCHS, FINE_TUNE_LEARNING_RATE, Predictions, Predictor, TaskOptions,
)
from core.timing import TRIM_INTERVAL_S, Latency, PeakMemory, Stopwatch, give_back_freed_memory
from core.trial_checks import check_vocabulary, prediction_warnings

log = logging.getLogger(__name__)
NO_DTYPE = "n/a"
WARMUP_BATCHES = 1


@dataclass(frozen=True)
class TrialSpec:
    """Everything needed to run one trial; baselines have no model."""

    kind: str
    model: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    #: What runs the forward pass: torch, or onnxruntime (core.runtimes); n/a for trials without a model.
    runtime: str = "torch"
    batch_size: int = 32
    max_length: int | None = None
    revision: str | None = None
    tokenizer: str | None = None
    label_map: dict[str, str] = field(default_factory=dict)
    label_index_mapping: bool = False
    hypothesis_template: str = DEFAULT_TEMPLATE
    label_descriptions: dict[str, str] = field(default_factory=dict)
    #: Rules trials (kind `rules`, `model` the rules' name): the rules themselves.
    rules: dict | None = None
    #: Cross-validated kinds (probe, baselines, fine-tune): folds; fine-tune: its hyper-parameters.
    folds: int = 5
    epochs: float = FINE_TUNE_EPOCHS
    learning_rate: float = FINE_TUNE_LEARNING_RATE
    train_batch_size: int = FINE_TUNE_BATCH_SIZE
    patience: int = 1
    learning_curve: bool = False
    #: Rows longer than the model's limit: truncate, head-tail or chunks (core.long_text).
    long_text: str = "truncate"
    chunk_aggregate: str | None = None
    #: Summarize-then-classify (core.summaries): rows over `summarize_over` tokens (default: the model's
    #: limit) are summarized by this seq2seq model, in at most `summary_tokens` new tokens.
    summarizer: str | None = None
    summarize_over: int | None = None
    summary_tokens: int = MAX_NEW_TOKENS
    #: False: predictions only, no warm-up or latency (a race round before the last, core.race_job).
    timed: bool = True

    def options(self, settings: Settings) -> TaskOptions:
        return TaskOptions(
            batch_size=self.batch_size, label_map=self.label_map, label_index_mapping=self.label_index_mapping,
            hypothesis_template=self.hypothesis_template, label_descriptions=self.label_descriptions, seed=settings.seed,
            rules=self.rules, folds=self.folds, epochs=self.epochs, learning_rate=self.learning_rate,
            train_batch_size=self.train_batch_size, patience=self.patience, learning_curve=self.learning_curve,
        )


@dataclass(frozen=True)
class Progress:
    """Where a run is: which trial, which step, how many rows of the timed pass are done."""

    trial_index: int
    trial_count: int
    trial: str
    step: str
    rows_done: float = 0
    rows_total: int = 0


ProgressCallback = Callable[[Progress], None]


def plan(
    models: list[str],
    *,
    kind: str = AUTO,
    devices: list[str] | None = None,
    dtypes: list[str] | None = None,
    runtimes: list[str] | None = None,
    baselines: bool = True,
    rules: list[dict] | None = None,
    long_texts: list[str] | None = None,
    summarizer: str | None = None,
    ner_models: list[str] | None = None,
    ner_rules: dict | None = None,
    **trial_settings,
) -> list[TrialSpec]:
    """One trial per model x device x dtype x runtime x long-text strategy (and, with a summarizer, one
    more that reads summaries, beside the plain one), one per rules file (`core.rules.rules_as_settings`),
    then the baselines (once: they need no device)."""
    specs = [
        TrialSpec(kind=kind, model=model, device=device, dtype=dtype, runtime=runtime, long_text=strategy,
                  summarizer=summarized, **trial_settings)
        for model in dict.fromkeys(models)
        for device in dict.fromkeys(devices or ["cpu"])
        for dtype in dict.fromkeys(dtypes or ["float32"])
        for runtime in dict.fromkeys(runtimes or ["torch"])
        for strategy in dict.fromkeys(long_texts or ["truncate"])
        for summarized in dict.fromkeys([None, summarizer] if summarizer and strategy == "truncate" else [None])
    ]
    specs += [rules_trial(rule_set) for rule_set in rules or []]
    specs += [TrialSpec(kind=ENTITY_KIND, model=model, rules=ner_rules, folds=trial_settings.get("folds", 5))
              for model in dict.fromkeys(ner_models or [])]
    if baselines:
        specs += [TrialSpec(kind=name, device="cpu", dtype=NO_DTYPE, folds=trial_settings.get("folds", 5))
                  for name in BASELINE_KINDS]
    return specs


def rules_trial(rules: dict) -> TrialSpec:
    """The trial of a rules set (`core.rules.rules_as_settings`): named after it, no model, no device choice."""
    return TrialSpec(kind=RULES_KIND, model=rules["name"], device="cpu", dtype=NO_DTYPE, rules=rules)


def run_plan(
    specs: list[TrialSpec],
    sample: LabeledSample,
    *,
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
    command: str | None = None,
) -> RunResult:
    settings = settings or get_settings()
    results = []
    for index, spec in enumerate(specs):
        report = trial_progress(progress, index, len(specs), spec)
        results.append(run_trial(spec, sample, settings=settings, progress=report))
    return assemble_run(sample, results, command=command)


def trial_progress(progress: ProgressCallback | None, index: int, count: int, spec: TrialSpec):
    if progress is None:
        return None
    name = spec.model or spec.kind

    def report(step: str, rows_done: float = 0, rows_total: int = 0) -> None:
        progress(Progress(index, count, name, step, rows_done, rows_total))

    return report


def assemble_run(sample: LabeledSample, results: list[TrialResult], *, command: str | None = None) -> RunResult:
    """Add the paired tests and run-level warnings to a list of finished trials."""
    ok = [r for r in results if r.ok and not r.stopped_early]  # the tests need every row (a stopped race trial has fewer)
    correct = {r.key: np.array([p.correct for p in r.predictions]) for r in ok}
    comparisons = compare_pairs(correct)
    accuracy = {r.key: r.metrics.accuracy for r in ok}
    warning = leaders_warning(accuracy, comparisons, len(sample))
    return RunResult(
        dataset=DatasetSummary.of(sample),
        environment=describe_environment(),
        results=results,
        comparisons=comparisons,
        warnings=[warning] if warning else [],
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        command=command,
        slices=slice_memberships(sample),
    )


def run_trial(spec: TrialSpec, sample: LabeledSample, *, settings: Settings | None = None, progress=None) -> TrialResult:
    """Run one trial; every failure becomes an error row that says what happened."""
    settings = settings or get_settings()
    result = new_result(spec, settings)
    loaded = None
    try:
        if spec.model:  # before the device check: onnxruntime without a GPU provider says so, not "no GPU"
            check_runtime(spec.runtime, spec.device, spec.dtype, spec.kind)
        with PeakMemory(check_device(spec.device) if spec.model else "cpu") as memory:
            loaded = _measure_trial(spec, sample, settings, result, progress or (lambda *a, **k: None))
        result.memory_mb = round(max(memory.peak_mb - memory.baseline_mb, 0.0), 1)
    except AppError as error:
        _fail(result, error.sentence)
    except (torch.OutOfMemoryError, MemoryError) as error:
        log.warning("trial %s ran out of memory: %s", result.key, error)
        _fail(result, out_of_memory_sentence(spec, sample))
    except Exception as error:  # noqa: BLE001 - one broken model must not stop the run
        log.exception("trial %s failed", result.key)
        _fail(result, redact(f"Unexpected error ({type(error).__name__}): {str(error).splitlines()[0][:300] if str(error) else ''}"))
    finally:
        release(loaded)
    return result


def out_of_memory_sentence(spec: TrialSpec, sample: LabeledSample) -> str:
    if spec.kind in BASELINE_KINDS:  # a baseline has no batch size: its size is the sample's
        return (f"The {spec.kind} baseline ran out of memory on {len(sample):,} rows and {len(sample.label_set):,} labels. "
                "Use fewer rows or group rare labels (the TF-IDF model keeps one weight per word and label).")
    return f"Ran out of memory on {spec.device}. Try a smaller batch size or maximum length, or another device."


def new_result(spec: TrialSpec, settings: Settings, *, error: str | None = None) -> TrialResult:
    """The result a trial starts from; with `error`, the error row of a trial that could not finish."""
    return TrialResult(
        model=spec.model or spec.kind, kind=spec.kind, device=spec.device, dtype=spec.dtype,
        runtime=spec.runtime if spec.kind not in (*BASELINE_KINDS, RULES_KIND) else NO_DTYPE,
        status="error" if error else "ok", error=error, settings=_settings_of(spec, settings),
    )


def _fail(result: TrialResult, sentence: str) -> None:
    result.status, result.error = "error", sentence
    result.metrics, result.latency, result.predictions, result.warnings = None, None, [], []


def _settings_of(spec: TrialSpec, settings: Settings) -> dict:
    chosen = {
        "batch_size": spec.batch_size, "max_length": spec.max_length, "revision": spec.revision,
        "tokenizer": spec.tokenizer, "label_map": dict(spec.label_map), "label_index_mapping": spec.label_index_mapping,
        "latency_rows": settings.latency_rows, "seed": settings.seed,
    }
    if spec.kind == RULES_KIND:
        return {"rules": spec.rules, "latency_rows": settings.latency_rows}
    if spec.kind == ENTITY_KIND:
        chosen.update(rules=spec.rules, folds=spec.folds)
    if spec.model is not None:
        chosen.update(long_text=spec.long_text, chunk_aggregate=spec.chunk_aggregate)
    if spec.summarizer:
        chosen.update(summarizer=spec.summarizer, summarize_over=spec.summarize_over, summary_tokens=spec.summary_tokens)
    if spec.kind == FINE_TUNE:
        chosen.update(folds=spec.folds, epochs=spec.epochs, learning_rate=spec.learning_rate,
                      train_batch_size=spec.train_batch_size, patience=spec.patience, learning_curve=spec.learning_curve)
    elif spec.kind in ("embedding-probe", *BASELINE_KINDS):
        chosen.update(folds=spec.folds)
    if spec.kind == "zero-shot-classification" or spec.kind == AUTO:
        chosen.update(hypothesis_template=spec.hypothesis_template, label_descriptions=dict(spec.label_descriptions))
    return chosen


def _measure_trial(spec: TrialSpec, sample: LabeledSample, settings: Settings, result: TrialResult, report) -> LoadedModel | None:
    report("loading")
    kind_name, loaded = resolve_and_load(spec, sample, settings, result)
    if loaded is not None:
        result.long_rows = long_rows_of(loaded, sample)  # of the rows as given, before any summary
    if spec.summarizer and loaded is not None:
        sample = summarized(spec, loaded, sample, settings, result, report)
    if loaded is not None:
        result.warnings += check_vocabulary(loaded, list(sample.texts) + list(sample.pairs or []))
    predictor = get_kind(kind_name).prepare(loaded, sample, spec.options(settings))
    if loaded is not None and spec.long_text != "truncate":
        predictor = for_long_texts(predictor, loaded, sample, spec.long_text, spec.chunk_aggregate)
    if hasattr(predictor, "train"):  # fine-tune: every fold trains before anything is timed
        predictor.train(report)
        result.training = list(predictor.folds)
        result.settings["train_max_length"] = predictor.max_length
    result.latency, outputs = time_predictor(predictor, sample, spec, settings, report)
    report("scoring")
    record_predictions(result, predictor, predictor.finish(outputs), sample, settings, loaded)
    return loaded


def record_predictions(result: TrialResult, predictor: Predictor, predictions: Predictions, sample: LabeledSample,
                       settings: Settings, loaded: LoadedModel | None) -> None:
    """Scores, per-row predictions and what each kind adds (coverage, curve, entities, stages, notes)."""
    result.metrics = compute_scores(
        sample.labels, predictions.labels, sample.label_set, multi_label=sample.multi_label,
        resamples=settings.bootstrap_resamples, seed=settings.seed,
    )
    correct = rows_correct(sample.labels, predictions.labels, sample.label_set, multi_label=sample.multi_label)
    result.predictions = row_predictions(predictions, correct)
    result.coverage, result.learning_curve = predictions.coverage, predictions.learning_curve
    result.entities = dict(getattr(predictor, "entities", {}))
    result.stages.update(getattr(predictor, "stages", {}))
    if loaded is not None:
        result.warnings += prediction_warnings(predictions.labels, predictions.scores, sample.label_set)
    result.truncated_rows = predictor.truncated_rows
    result.notes += predictions.notes
    if predictor.truncated_rows:
        length = getattr(predictor, "max_length", None) or loaded.max_length  # fine-tune trains at the sample's length
        result.notes.append(f"{predictor.truncated_rows} rows were longer than {length} tokens and were truncated.")


def summarized(spec: TrialSpec, loaded: LoadedModel, sample: LabeledSample, settings: Settings, result: TrialResult,
               report) -> LabeledSample:
    """The sample with its long rows replaced by their summaries (the first stage, timed on its own)."""
    over = spec.summarize_over or loaded.max_length
    rows = [row for row, length in enumerate(token_lengths(loaded, sample)) if length > over]
    stage = summarize_rows(spec.summarizer, sample, rows, settings=settings, device=spec.device,
                           max_new_tokens=spec.summary_tokens, report=report)
    result.summaries = dict(stage.summaries)
    result.stages.update(summarize_s=stage.seconds, summarized_rows=len(rows), summaries_cached=stage.cached)
    result.notes.append(stage.note)
    return stage.applied_to(sample)


def row_predictions(predictions: Predictions, correct) -> list[RowPrediction]:
    """One row per sample row; probabilities kept to 6 places (what ensembles combine)."""
    probabilities = predictions.probabilities or [None] * len(predictions.labels)
    return [
        RowPrediction(i, labels, round(float(score), 6), bool(right),
                      tuple(round(float(p), 6) for p in row) if row is not None else None)
        for i, (labels, score, right, row) in enumerate(zip(predictions.labels, predictions.scores, correct, probabilities))
    ]


def resolve_and_load(spec: TrialSpec, sample: LabeledSample, settings: Settings, result: TrialResult):
    """Pick the kind (for `auto`), load the model it needs, and record what was loaded."""
    if spec.model is None or (spec.kind != AUTO and get_kind(spec.kind).head is None):
        return spec.kind, None
    model_spec = ModelSpec(spec.model, revision=spec.revision, tokenizer=spec.tokenizer, max_length=spec.max_length)
    files = fetch_model(model_spec, settings=settings)
    result.notes += [files.note] if files.note else []
    kind_name = spec.kind
    if kind_name == AUTO:
        kind_name = auto_kind(spec.model, files, sample, result)
    result.kind = kind_name
    check_runtime(spec.runtime, spec.device, spec.dtype, kind_name)  # `auto` is a kind now
    head = get_kind(kind_name).head
    loaded = load_model(model_spec, head=head, device=spec.device, dtype=spec.dtype, runtime=spec.runtime,
                        settings=settings, files=files)
    result.sha, result.load_s, result.parameters = files.sha, round(loaded.load_s, 4), loaded.parameters
    result.size_mb = round(files.size_bytes / 2**20, 2)
    result.settings["max_length"] = loaded.max_length
    result.notes += loaded.notes
    if loaded.export is not None:
        record_export(result, loaded.export)
    return kind_name, loaded


def record_export(result: TrialResult, export) -> None:
    """An onnxruntime trial's ONNX file: its size, and whether this load exported it or found it cached."""
    result.size_mb = round(export.size_mb, 2)
    result.stages.update(onnx_export_s=round(export.export_s, 3), onnx_first_export_s=round(export.first_export_s, 3),
                         onnx_cached=export.cached, onnx_size_mb=round(export.size_mb, 2))


def auto_kind(model: str, files, sample: LabeledSample, result: TrialResult) -> str:
    """The kind `auto` means for this model (core.kinds' rule), noted on the trial with the reason."""
    choice = choose_kinds(files.config, files.pipeline_tag, sample.label_set)
    if choice.auto is None:
        raise ModelLoadError(f"{model}: {choice.reason}, so no evaluation kind fits it.",
                             hint="Choose the kind yourself (text-classification, zero-shot-classification or embedding-probe).")
    result.notes.append(f"Evaluated as {choice.auto} because {choice.reason}.")
    return choice.auto


def latency_rows(n: int, count: int) -> list[int]:
    """Up to `count` rows spread evenly over the sample, so short and long texts are both timed."""
    return sorted(set(np.linspace(0, n - 1, num=min(count, n)).round().astype(int).tolist()))


def time_predictor(predictor: Predictor, sample: LabeledSample, spec: TrialSpec, settings: Settings, report):
    """First call, warm-up, per-row latency at batch size 1, then throughput over every row.

    Returns the latency statistics and the outputs of the full pass, which are what gets scored.
    """
    texts, pairs, device = sample.texts, sample.pairs, spec.device
    if not spec.timed:
        report("predicting", 0, len(texts))
        return None, predictor.run(texts, pairs, batch_size=spec.batch_size)
    with Stopwatch(device) as first:
        predictor.run(texts[:1], pairs[:1] if pairs else None, batch_size=1)
    report("warm-up")
    for _ in range(WARMUP_BATCHES):
        predictor.run(texts[: spec.batch_size], pairs[: spec.batch_size] if pairs else None, batch_size=spec.batch_size)
    report("latency")
    timings_ms = []
    for row in latency_rows(len(texts), settings.latency_rows):
        with Stopwatch(device) as one:
            predictor.run(texts[row : row + 1], pairs[row : row + 1] if pairs else None, batch_size=1)
        timings_ms.append(one.elapsed_s * 1000)
    rows_done, trimmed_at = [0.0], [time.monotonic()]

    def on_rows(count: float) -> None:
        rows_done[0] += count
        report("predicting", rows_done[0], len(texts))
        if time.monotonic() - trimmed_at[0] >= TRIM_INTERVAL_S:  # keeps memory flat in rows
            give_back_freed_memory()
            trimmed_at[0] = time.monotonic()

    report("predicting", 0, len(texts))
    with Stopwatch(device) as full:
        outputs = predictor.run(texts, pairs, batch_size=spec.batch_size, on_rows=on_rows)
    latency = Latency.from_values(timings_ms)
    stats = LatencyStats(
        p50_ms=round(latency.p50_ms, 4), p95_ms=round(latency.p95_ms, 4), p99_ms=round(latency.p99_ms, 4),
        mean_ms=round(latency.mean_ms, 4), throughput_per_s=round(len(texts) / max(full.elapsed_s, 1e-9), 3),
        first_call_ms=round(first.elapsed_s * 1000, 4), rows_timed=latency.count, batch_size=spec.batch_size,
    )
    return stats, outputs


def describe_environment() -> dict:
    """Library versions and device names: what a reader needs to reproduce the numbers."""
    import huggingface_hub
    import scipy
    import sklearn
    import transformers

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {
            "torch": torch.__version__, "transformers": transformers.__version__,
            "huggingface_hub": huggingface_hub.__version__, "scikit-learn": sklearn.__version__, "scipy": scipy.__version__,
        },
        "devices": [{"name": d.name, "description": d.description} for d in detect_devices()],
        "torch_threads": torch.get_num_threads(),
    }
