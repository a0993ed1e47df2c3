"""The shortlist: models a user chose to evaluate, each with its kind and label choices.

Pages keep a `Shortlist` in their session; this module owns what an entry means, how a
hand-typed id or folder becomes a candidate, the suggested label mapping a user edits, and
how the shortlist becomes the trial plan the worker runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from core import hub
from core.errors import HubError, HubUnreachableError, InputError, LabelMappingError, ModelLoadError, RateLimitedError
from core.loading import read_config
from core.runner import NO_DTYPE, TrialSpec, rules_trial
from core.runtimes import ONNX_KINDS
from core.tasks.entities import ENTITY_KIND
from core.settings import Settings, get_settings
from core.tasks import BASELINE_KINDS, MODEL_KINDS
from core.tasks.base import DEFAULT_TEMPLATE, FINE_TUNE_BATCH_SIZE, FINE_TUNE_EPOCHS, FINE_TUNE_LEARNING_RATE
from core.tasks.labels import LEFT_UNMAPPED, map_labels

#: Kinds whose predictions come from the model's own labels, so a label map applies.
MAPPED_KINDS = ("text-classification",)


@dataclass(frozen=True)
class ShortlistEntry:
    """One model to evaluate and how: its kind, label map and zero-shot template."""

    candidate: hub.ModelCandidate
    kind: str
    label_map: dict[str, str] = field(default_factory=dict)
    label_index_mapping: bool = False
    hypothesis_template: str = DEFAULT_TEMPLATE

    @property
    def source(self) -> str:
        return self.candidate.source


@dataclass(frozen=True)
class LabelMapRow:
    """One model label, the sample label it is mapped to (None: unmapped) and how it was matched."""

    model_label: str
    sample_label: str | None
    how: str


@dataclass
class Shortlist:
    """An ordered set of entries, one per model source."""

    entries: list[ShortlistEntry] = field(default_factory=list)

    def __contains__(self, source: str) -> bool:
        return any(entry.source == source for entry in self.entries)

    def add(self, candidate: hub.ModelCandidate) -> bool:
        """Add a candidate with its suggested kind; False when it is already there."""
        if candidate.source in self:
            return False
        self.entries.append(ShortlistEntry(candidate, suggest_kind(candidate)))
        return True

    def remove(self, source: str) -> None:
        self.entries = [entry for entry in self.entries if entry.source != source]

    def update(self, source: str, **changes) -> None:
        self.entries = [replace(e, **changes) if e.source == source else e for e in self.entries]


def suggest_kind(candidate: hub.ModelCandidate) -> str:
    """The first kind the candidate fits; `auto` when nothing is known about it yet."""
    return candidate.kinds[0] if candidate.kinds else "auto"


def with_labels(candidate: hub.ModelCandidate, *, settings: Settings | None = None) -> hub.ModelCandidate:
    """A Hub search result completed from its config.json (labels, kinds), so its label map can be
    edited before it runs. When the Hub cannot answer, the candidate is kept as it was."""
    if candidate.labels is not None or candidate.is_local:
        return candidate
    try:
        return hub.model_details(candidate, settings=settings).candidate
    except HubError:
        return candidate


def kind_choices(candidate: hub.ModelCandidate) -> list[str]:
    """Kinds to offer for a candidate: the ones it fits first, then the rest, then `auto`."""
    fitting = list(candidate.kinds)
    return fitting + [kind for kind in MODEL_KINDS if kind not in fitting] + ["auto"]


def resolve_source(text: str, *, settings: Settings | None = None) -> tuple[hub.ModelCandidate, str]:
    """A hand-typed Hub id or local folder as a candidate, plus a note for the user ('' if none).

    A folder must hold a config.json. A Hub id is looked up for its labels and kinds; when the
    Hub cannot be reached the id is still accepted, with a note that nothing is known about it.
    """
    settings = settings or get_settings()
    text = text.strip()
    if not text:
        raise InputError("No model given.", hint="Type a Hub id such as 'org/model' or the path of a model folder.")
    folder = Path(text).expanduser()
    if (folder.is_absolute() or text.startswith((".", "~")) or folder.is_dir()) and not folder_allowed(folder, settings):
        raise InputError(f"{text!r} is not inside the model folders this server offers.",
                         hint="An administrator lists those folders in MSD_MODEL_DIRS; put the model in one of them.")
    if folder.is_dir():
        return _folder_candidate(folder, settings), ""
    check_repo_id(text)
    try:
        return hub.model_details(text, settings=settings).candidate, ""
    except (HubUnreachableError, RateLimitedError) as error:
        return hub.ModelCandidate(text), f"{error.message} Added anyway; its kind is picked when it runs."


def folder_allowed(folder: Path, settings: Settings) -> bool:
    """Any folder when MSD_MODEL_DIRS is unset; else only folders inside one of its folders.

    Checked before the folder is looked at, so the answer is the same whether it exists or not.
    """
    inside = folder.resolve()
    return not settings.model_dirs or any(inside.is_relative_to(root.resolve()) for root in settings.model_dirs)


def _folder_candidate(folder: Path, settings: Settings) -> hub.ModelCandidate:
    try:
        read_config(folder, str(folder))  # missing or not JSON: said now, as the trial would say it
    except ModelLoadError as error:
        raise InputError(error.message, hint=error.hint) from error
    candidate = hub.candidate_from_folder(folder.resolve(), model_id=folder.resolve().name, origin="folder")
    return hub.with_checks(candidate, settings)


def check_repo_id(text: str) -> None:
    """A Hub id as huggingface_hub validates it: 'name' or 'owner/name', no '..', no leading '.' or '-'."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError as error:
        raise InputError(f"{text!r} is neither a model folder on this server nor a Hub id.",
                         hint="A Hub id looks like 'org/model'; a folder must exist on the server.") from error


def suggest_label_map(entry: ShortlistEntry, sample_labels: list[str]) -> list[LabelMapRow]:
    """Each of the model's labels with the sample label it maps to, overrides first.

    Empty when the model's labels are unknown or its kind does not use them.
    """
    model_labels = list(entry.candidate.labels or ())
    if entry.kind not in MAPPED_KINDS or not model_labels:
        return []
    overrides = {m: d for m, d in entry.label_map.items() if m in model_labels and d in (*sample_labels, LEFT_UNMAPPED)}
    try:
        mapping = map_labels(model_labels, sample_labels, overrides=overrides, by_index=entry.label_index_mapping)
    except LabelMappingError:
        return [LabelMapRow(label, None, "") for label in model_labels]
    return [LabelMapRow(m, mapping.model_to_data.get(m), mapping.how.get(m, "")) for m in model_labels]


def unmapped_sample_labels(rows: list[LabelMapRow], sample_labels: list[str]) -> list[str]:
    """Sample labels no model label maps to: rows carrying them can never be predicted right."""
    mapped = {row.sample_label for row in rows}
    return [label for label in sample_labels if label not in mapped] if rows else []


def label_map_overrides(chosen: list[LabelMapRow], automatic: list[LabelMapRow]) -> dict[str, str]:
    """The user's changes to the automatic map, to run with: what the user saw is what runs.

    Only the rows that differ are kept (a row left unmapped as `LEFT_UNMAPPED`), so the automatic
    part follows later changes, such as switching LABEL_k index mapping on or off.
    """
    suggested = {row.model_label: row.sample_label for row in automatic}
    return {row.model_label: row.sample_label or LEFT_UNMAPPED
            for row in chosen if row.sample_label != suggested.get(row.model_label)}


@dataclass(frozen=True)
class PlanChoices:
    """What the Evaluate page asks once for all models."""

    devices: tuple[str, ...] = ("cpu",)
    dtypes: tuple[str, ...] = ("float32",)
    #: What runs each model (core.runtimes); kinds onnxruntime cannot run keep torch.
    runtimes: tuple[str, ...] = ("torch",)
    batch_size: int = 32
    max_length: int | None = None
    baselines: bool = True
    label_descriptions: dict[str, str] = field(default_factory=dict)
    #: Rules sets to score as trials (core.rules.rules_as_settings), e.g. from the rules editor.
    rules: tuple[dict, ...] = ()
    #: Cross-validation folds (probe, baselines, fine-tune) and the fine-tune kind's hyper-parameters.
    folds: int = 5
    epochs: float = FINE_TUNE_EPOCHS
    learning_rate: float = FINE_TUNE_LEARNING_RATE
    train_batch_size: int = FINE_TUNE_BATCH_SIZE
    learning_curve: bool = False
    #: Rows longer than a model's limit: one trial per strategy (core.long_text).
    long_texts: tuple[str, ...] = ("truncate",)
    #: Two-stage trials: a summarizer adds a summarized trial beside each plain one; each NER model a trial.
    summarizer: str | None = None
    ner_models: tuple[str, ...] = ()


def plan_trials(entries: list[ShortlistEntry], choices: PlanChoices) -> list[TrialSpec]:
    """One trial per entry x device x dtype x runtime, one per rules set, then the baselines; checked before anything runs."""
    check_choices(entries, choices)
    specs = [
        TrialSpec(
            kind=entry.kind, model=entry.source, device=device, dtype=dtype, runtime=runtime, batch_size=choices.batch_size,
            max_length=choices.max_length, label_map=dict(entry.label_map),
            label_index_mapping=entry.label_index_mapping, hypothesis_template=entry.hypothesis_template,
            label_descriptions=dict(choices.label_descriptions) if entry.kind in ("zero-shot-classification", "auto") else {},
            folds=choices.folds, epochs=choices.epochs, learning_rate=choices.learning_rate,
            train_batch_size=choices.train_batch_size, learning_curve=choices.learning_curve, long_text=strategy,
        )
        for entry in entries for device in choices.devices for dtype in choices.dtypes
        for runtime in dict.fromkeys(choices.runtimes if entry.kind in ONNX_KINDS else ("torch",))
        for strategy in (choices.long_texts if entry.kind != "fine-tune" else ("truncate",))
    ]
    if choices.summarizer:  # beside each plain trial that can read summaries, one that does
        specs += [replace(s, summarizer=choices.summarizer) for s in list(specs)
                  if s.long_text == "truncate" and s.kind != "fine-tune"]
    specs += [TrialSpec(kind=ENTITY_KIND, model=model, folds=choices.folds) for model in choices.ner_models]
    specs += [rules_trial(rules) for rules in choices.rules]
    if choices.baselines:
        specs += [TrialSpec(kind=name, device="cpu", dtype=NO_DTYPE, folds=choices.folds) for name in BASELINE_KINDS]
    return specs


def check_choices(entries: list[ShortlistEntry], choices: PlanChoices) -> None:
    if not entries and not choices.rules and not choices.ner_models:
        raise InputError("The shortlist is empty and there are no rules.",
                         hint="Add models on the Discover page, or write rules in the rules editor.")
    if entries and (not choices.devices or not choices.dtypes):
        raise InputError("No device or no dtype is selected.", hint="Pick at least one of each.")
    if entries and not choices.runtimes:
        raise InputError("No runtime is selected.", hint="Pick torch, onnxruntime or both.")
    if choices.batch_size < 1:
        raise InputError(f"Batch size {choices.batch_size} is not positive.", hint="Give 1 or more, e.g. 32.")
    if choices.folds < 2:
        raise InputError(f"{choices.folds} fold(s) cannot cross-validate.", hint="Give 2 or more, e.g. 5.")
    for entry in entries:
        if entry.kind == "zero-shot-classification" and "{}" not in entry.hypothesis_template:
            raise InputError(f"The hypothesis template of {entry.source} has no '{{}}' for the label.",
                             hint="Write it like 'This example is {}.'.")

