"""Typed results of a run, and the one way they are written to and read from JSON.

The JSON layout is a documented contract: schema/results.schema.json. `run_to_dict` and
`run_from_dict` are exact inverses, so a results file, a stored run and a report all
carry the same numbers.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.dataset import ColumnMapping, DroppedRows, LabeledSample, content_hash
from core.files import write_atomically
from core.learning_curve import LearningCurve
from core.metrics import ClassScores, PairedTest, Scores

SCHEMA_VERSION = 1
RULES_KIND = "rules"
ENSEMBLE_PREFIX = "ensemble-"  # kinds of ensembles of a run's trials (core.ensembles)
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "results.schema.json"


@dataclass(frozen=True)
class LatencyStats:
    """Per-row latency at batch size 1 on a subset, and throughput over all rows at the chosen batch size."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    throughput_per_s: float
    first_call_ms: float
    rows_timed: int
    batch_size: int


@dataclass(frozen=True)
class RowPrediction:
    row: int
    labels: tuple[str, ...]
    score: float
    correct: bool
    #: The trial's probability of each sample label, in the order of `DatasetSummary.labels` (what
    #: averaging and stacking ensembles combine); None where a run predates them.
    probabilities: tuple[float, ...] | None = None


@dataclass(frozen=True)
class FoldTraining:
    """One fold of a fine-tune trial: its rows, how long it trained, and its loss curves."""

    fold: int
    train_rows: int
    validation_rows: int  # the inner split early stopping watches
    held_out_rows: int
    epochs_run: float
    steps: int
    train_s: float
    best_validation_loss: float | None
    losses: list[tuple[float, float]]  # (epoch, training loss) per logged step
    validation_losses: list[tuple[float, float]]  # (epoch, validation loss) per epoch


@dataclass(frozen=True)
class TrialRace:
    """A raced trial (core.racing): the rows of the race's shuffled order it saw, and why it stopped."""

    rows_seen: int
    rows_total: int
    stopped: bool = False
    worse_than: str | None = None  # the leader it lost to
    p_holm: float | None = None  # one-sided exact McNemar on the rows both saw, Holm-adjusted

    @property
    def sentence(self) -> str:
        if not self.stopped:
            return f"Finished the race on all {self.rows_total:,} rows."
        return f"stopped at {self.rows_seen:,} rows: worse than {self.worse_than}, p={self.p_holm:.2g}"


@dataclass
class TrialResult:
    """One model x kind x device x dtype x runtime, successful or not."""

    model: str
    kind: str
    device: str
    dtype: str
    status: str  # "ok" | "error"
    error: str | None = None
    #: What ran the forward pass: "torch", "onnxruntime", or "n/a" for trials without a model.
    runtime: str = "torch"
    metrics: Scores | None = None
    latency: LatencyStats | None = None
    load_s: float | None = None
    memory_mb: float | None = None
    parameters: int | None = None
    size_mb: float | None = None
    sha: str | None = None
    truncated_rows: int = 0
    #: Rules trials: the share of rows where a rule fired (the others got the fallback or nothing).
    coverage: float | None = None
    #: Model trials: the rows longer than the model's limit (what the long-text strategy applied to).
    long_rows: list[int] | None = None
    #: Summarize-then-classify: row -> the summary the classifier read; and each stage's cost.
    summaries: dict[int, str] = field(default_factory=dict)
    stages: dict = field(default_factory=dict)
    #: Entities-then-classify: row -> its entities as "TYPE: words; ..." (rows with none are left out).
    entities: dict[int, str] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Signs that an ok trial's numbers may not mean what they seem (e.g. one label for every row).
    warnings: list[str] = field(default_factory=list)
    predictions: list[RowPrediction] = field(default_factory=list)
    #: Fine-tune trials: each fold's training.
    training: list[FoldTraining] = field(default_factory=list)
    #: Probe and fine-tune: accuracy with part of the training folds, and its extrapolation.
    learning_curve: LearningCurve | None = None
    #: Raced runs (core.racing): the rows this trial saw and why it stopped; None when not raced.
    race: TrialRace | None = None

    @property
    def key(self) -> str:
        """A short unique name for this trial within a run."""
        if self.kind.startswith("baseline-"):
            return self.kind
        if not self.uses_model:
            return self.model
        runtime = [] if self.runtime in ("torch", "n/a") else [self.runtime]  # torch keys stay as before runtimes
        return f"{self.model} [{', '.join([self.kind, self.device, self.dtype, *runtime, *self.variant])}]"

    @property
    def variant(self) -> list[str]:
        """How this trial of a model differs beyond kind, device and dtype: a long-text strategy, or none."""
        strategy = self.settings.get("long_text", "truncate")
        summarizer = self.settings.get("summarizer")
        return ([] if strategy == "truncate" else [strategy]) + ([f"summarized by {summarizer}"] if summarizer else [])

    @property
    def uses_model(self) -> bool:
        """False for trials that load no model: baselines, rules and ensembles."""
        return not self.kind.startswith(("baseline-", ENSEMBLE_PREFIX)) and self.kind != RULES_KIND

    @property
    def is_ensemble(self) -> bool:
        return self.kind.startswith(ENSEMBLE_PREFIX)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def stopped_early(self) -> bool:
        """A raced trial stopped before the last round: its predictions cover only some rows."""
        return self.race is not None and self.race.stopped


@dataclass(frozen=True)
class DatasetSummary:
    source: str
    rows: int
    labels: dict[str, int]
    sha256: str
    dropped: dict[str, int]
    duplicates: int
    multi_label: bool
    columns: dict[str, str | None]
    encoding: str
    warnings: list[str]

    @classmethod
    def of(cls, sample: LabeledSample) -> DatasetSummary:
        dropped = sample.dropped
        return cls(
            source=sample.source_name,
            rows=len(sample),
            labels=sample.label_counts,
            sha256=sample.sha256,
            dropped={"empty_text": dropped.empty_text, "empty_label": dropped.empty_label, "total": dropped.total},
            duplicates=sample.duplicates,
            multi_label=sample.multi_label,
            columns={"text": sample.columns.text, "text_pair": sample.columns.text_pair, "label": sample.columns.label},
            encoding=sample.encoding,
            warnings=list(sample.warnings),
        )

    def rebuild(self, texts: list[str], pairs: list[str] | None, labels: list, *, label_sep: str | None = None,
                metadata: dict[str, list[str]] | None = None) -> LabeledSample:
        """The evaluated sample rebuilt from its rows and this summary of it (a stored run, a JSON
        report); its hash is computed from the rows, so rows that changed do not pass for the original."""
        label_rows = [tuple(row) for row in labels]
        return LabeledSample(
            texts=list(texts), labels=label_rows, label_set=list(self.labels), columns=ColumnMapping(**self.columns),
            pairs=list(pairs) if pairs is not None else None, multi_label=self.multi_label, label_sep=label_sep,
            dropped=DroppedRows(self.dropped["empty_text"], self.dropped["empty_label"]), duplicates=self.duplicates,
            warnings=list(self.warnings), encoding=self.encoding, source_name=self.source,
            sha256=content_hash(list(texts), pairs, label_rows), metadata=dict(metadata or {}),
        )


def evaluate_command(args: list) -> str:
    """The shell line that runs `python -m core evaluate` with `args` (each quoted for the shell)."""
    return "python -m core evaluate " + " ".join(shlex.quote(str(a)) for a in args)


@dataclass
class RunResult:
    dataset: DatasetSummary
    environment: dict
    results: list[TrialResult]
    comparisons: list[PairedTest] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    created_at: str = ""
    command: str | None = None
    #: Slice column -> each row's slice (metadata columns chosen on Sample, and text-length buckets).
    slices: dict[str, list[str]] = field(default_factory=dict)

    @property
    def succeeded(self) -> list[TrialResult]:
        return [r for r in self.results if r.ok]


def run_to_dict(run: RunResult) -> dict:
    data = asdict(run)
    data["schema_version"] = SCHEMA_VERSION
    data["results"] = [trial_to_dict(trial) for trial in run.results]
    return data


def trial_to_dict(trial: TrialResult) -> dict:
    """A trial as plain JSON types (tuples become lists), exactly as in the results file."""
    data = asdict(trial)
    for prediction in data["predictions"]:
        prediction["labels"] = list(prediction["labels"])
        if prediction["probabilities"] is not None:
            prediction["probabilities"] = list(prediction["probabilities"])
    data["summaries"] = {str(row): text for row, text in data["summaries"].items()}
    data["entities"] = {str(row): text for row, text in data["entities"].items()}
    if data["learning_curve"]:
        for point in data["learning_curve"]["points"]:
            point["accuracy_ci"] = list(point["accuracy_ci"]) if point["accuracy_ci"] else None
    for fold in data["training"]:
        fold["losses"] = [list(p) for p in fold["losses"]]
        fold["validation_losses"] = [list(p) for p in fold["validation_losses"]]
    if data["metrics"]:
        data["metrics"]["accuracy_ci"] = list(data["metrics"]["accuracy_ci"])
        data["metrics"]["macro_f1_ci"] = list(data["metrics"]["macro_f1_ci"])
    return data


def run_from_dict(data: dict) -> RunResult:
    return RunResult(
        dataset=DatasetSummary(**data["dataset"]),
        environment=data["environment"],
        results=[trial_from_dict(t) for t in data["results"]],
        comparisons=[PairedTest(**c) for c in data.get("comparisons", [])],
        warnings=list(data.get("warnings", [])),
        created_at=data.get("created_at", ""),
        command=data.get("command"),
        slices={column: list(values) for column, values in data.get("slices", {}).items()},
    )


def trial_from_dict(data: dict) -> TrialResult:
    data = dict(data)
    if data.get("metrics"):
        metrics = dict(data["metrics"])
        metrics["per_class"] = {k: ClassScores(**v) for k, v in metrics["per_class"].items()}
        metrics["accuracy_ci"] = tuple(metrics["accuracy_ci"])
        metrics["macro_f1_ci"] = tuple(metrics["macro_f1_ci"])
        data["metrics"] = Scores(**metrics)
    if data.get("latency"):
        data["latency"] = LatencyStats(**data["latency"])
    data["predictions"] = [prediction_from_dict(p) for p in data["predictions"]]
    data["training"] = [fold_from_dict(f) for f in data.get("training", [])]
    data["summaries"] = {int(row): text for row, text in data.get("summaries", {}).items()}
    data["entities"] = {int(row): text for row, text in data.get("entities", {}).items()}
    data["learning_curve"] = LearningCurve.from_dict(data["learning_curve"]) if data.get("learning_curve") else None
    data["race"] = TrialRace(**data["race"]) if data.get("race") else None
    return TrialResult(**data)


def fold_from_dict(data: dict) -> FoldTraining:
    return FoldTraining(**{**data, "losses": [tuple(p) for p in data["losses"]],
                           "validation_losses": [tuple(p) for p in data["validation_losses"]]})


def prediction_from_dict(data: dict) -> RowPrediction:
    probabilities = data.get("probabilities")
    return RowPrediction(data["row"], tuple(data["labels"]), data["score"], data["correct"],
                         tuple(probabilities) if probabilities is not None else None)


def write_json(run: RunResult, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, json.dumps(run_to_dict(run), indent=2, ensure_ascii=False))


def read_json(path: str | Path) -> RunResult:
    return run_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def validate(data: dict) -> None:
    """Raise jsonschema.ValidationError if `data` breaks the documented schema."""
    import jsonschema

    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
