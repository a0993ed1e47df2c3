"""Ensembles of a run's finished trials (models, rules, baselines), scored like any trial.

- `vote`: the label most members predict (ties: the higher mean probability, then member order);
  multi-label: the labels more than half of the members predict.
- `mean`: the mean of the members' probabilities of each label.
- `rules-first`: where a rules member fired, its label; elsewhere the mean of the other members.
- `stack`: logistic regression over the members' probabilities, cross-validated the same way as the
  baselines (`cross_val_predict`), so no row is scored by a model fitted on it.

No model runs again: members' stored predictions and probabilities are combined. An ensemble's
latency is the sum of its members' (they run one after another); a problem (too few members, a
member without probabilities) is an error row with a sentence, like any trial.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from core.dataset import LabeledSample
from core.errors import InputError
from core.metrics import compute_scores, rows_correct
from core.results import ENSEMBLE_PREFIX, RULES_KIND, LatencyStats, RunResult, TrialResult
from core.runner import assemble_run, row_predictions
from core.settings import Settings, get_settings
from core.tasks.base import Predictions, TaskOptions
from core.tasks.cross_validation import MULTI_LABEL_THRESHOLD, cross_validated

METHODS = ("vote", "mean", "rules-first", "stack")
#: Left out of the default members: it predicts the same label for every row, so it only adds bias.
UNINFORMED = "baseline-majority"


@dataclass(frozen=True)
class EnsembleSpec:
    """An ensemble to build: its method and members (trial keys or names; empty: every ok trial but the
    majority baseline and other ensembles)."""

    method: str
    members: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return ENSEMBLE_PREFIX + self.method


class EnsembleError(InputError):
    """An ensemble that cannot be built from this run's trials."""


def with_ensembles(run: RunResult, sample: LabeledSample, specs: list[EnsembleSpec], *,
                   settings: Settings | None = None) -> RunResult:
    """The run with the ensembles added, its paired tests and warnings computed again."""
    added = add_ensembles(run, sample, specs, settings=settings)
    combined = assemble_run(sample, run.results + added, command=run.command)
    combined.environment, combined.created_at = run.environment or combined.environment, run.created_at or combined.created_at
    return combined


def add_to_stored_run(store, run_id: str, specs: list[EnsembleSpec], *, by: str | None = None,
                      settings: Settings | None = None) -> list[TrialResult]:
    """Build ensembles of a stored run's finished trials and save them into it (no model runs again)."""
    store.check_may_change(run_id, by, "add ensembles to")
    run, sample = store.load_run(run_id), store.load_sample(run_id)
    added = add_ensembles(run, sample, specs, settings=settings)
    if added:
        combined = assemble_run(sample, run.results + added, command=run.command)
        store.append_trials(run_id, [(ensemble_spec_of(t), t) for t in added], combined)
    return added


def add_ensembles(run: RunResult, sample: LabeledSample, specs: list[EnsembleSpec], *,
                  settings: Settings | None = None) -> list[TrialResult]:
    """One trial per spec (an error row where it cannot be built); names new in the run."""
    settings = settings or get_settings()
    taken = {trial.key for trial in run.results}
    built = []
    for spec in specs:
        trial = build_ensemble(run.results, sample, spec, settings=settings)
        if trial.key in taken:
            continue  # the same ensemble of the same members is in the run already
        taken.add(trial.key)
        built.append(trial)
    return built


def build_ensemble(trials: list[TrialResult], sample: LabeledSample, spec: EnsembleSpec, *,
                   settings: Settings) -> TrialResult:
    requested = f"{spec.kind} of {' + '.join(spec.members)}" if spec.members else spec.kind
    result = TrialResult(model=requested, kind=spec.kind, device="cpu", dtype="n/a", status="ok",
                         settings={"method": spec.method, "members": list(spec.members)})
    try:
        members = choose_members(trials, spec)
        result.model = ensemble_name(spec, members)
        result.settings["members"] = [m.key for m in members]
        predictions = combine(spec.method, members, sample, settings)
    except InputError as error:  # also a sample too small to cross-validate the stack
        result.status, result.error = "error", error.sentence
        return result
    score_into(result, predictions, sample, settings)
    add_costs(result, members)
    return result


def ensemble_name(spec: EnsembleSpec, members: list[TrialResult]) -> str:
    if not spec.members:
        return spec.kind
    return f"{spec.kind} of {' + '.join(m.model for m in members)}"


def choose_members(trials: list[TrialResult], spec: EnsembleSpec) -> list[TrialResult]:
    if spec.method not in METHODS:
        raise EnsembleError(f"There is no ensemble method {spec.method!r}.", hint=f"Use one of: {', '.join(METHODS)}.")
    candidates = [t for t in trials if t.ok and not t.is_ensemble and t.predictions and not t.stopped_early]
    members = [find_member(candidates, wanted) for wanted in spec.members] if spec.members else [
        t for t in candidates if t.kind != UNINFORMED]
    members = list({m.key: m for m in members}.values())
    if len(members) < 2:
        raise EnsembleError(f"An ensemble needs at least 2 finished trials; {spec.kind} has {len(members)}.",
                            hint="Add trials to the run, or name more members.")
    if spec.method == "rules-first" and not ({m.kind == RULES_KIND for m in members} == {True, False}):
        raise EnsembleError(f"{spec.kind} needs a rules trial and at least one other trial among its members.",
                            hint="Add a rules file (--rules FILE, or the rules editor on Evaluate).")
    if spec.method in ("mean", "rules-first", "stack"):
        missing = [m.key for m in members if m.predictions[0].probabilities is None]
        if missing:
            raise EnsembleError(f"{spec.kind} needs each member's probabilities; {', '.join(missing)} has none "
                                "(its run predates them).", hint="Run those trials again, or use the vote ensemble.")
    return members


def find_member(candidates: list[TrialResult], wanted: str) -> TrialResult:
    """A member by its trial key, or by its model name when that names one trial."""
    for trial in candidates:
        if trial.key == wanted:
            return trial
    by_model = [t for t in candidates if t.model == wanted]
    if len(by_model) == 1:
        return by_model[0]
    hint = "It names several trials; use one of their full names: " if by_model else "Finished trials: "
    raise EnsembleError(f"No single finished trial is called {wanted!r}.",
                        hint=hint + ", ".join(t.key for t in (by_model or candidates)) + ".")


def combine(method: str, members: list[TrialResult], sample: LabeledSample, settings: Settings) -> Predictions:
    if method == "vote":
        return vote(members, sample)
    stacked = np.stack([probabilities_of(m) for m in members])  # members x rows x labels
    if method == "mean":
        return from_probabilities(stacked.mean(axis=0), sample, "Mean of the members' probabilities.")
    if method == "rules-first":
        return rules_first(members, stacked, sample)
    features = np.hstack(list(stacked))  # rows x (members * labels)
    predictions = cross_validated(LogisticRegression(max_iter=2000), features, sample,
                                  TaskOptions(seed=settings.seed))
    predictions.notes.insert(0, "Stacking: logistic regression over the members' probabilities.")
    return predictions


def probabilities_of(trial: TrialResult) -> np.ndarray:
    return np.array([p.probabilities for p in trial.predictions], dtype=float)


def from_probabilities(probabilities: np.ndarray, sample: LabeledSample, note: str) -> Predictions:
    labels = sample.label_set
    if sample.multi_label:
        chosen = [tuple(label for label, p in zip(labels, row) if p >= MULTI_LABEL_THRESHOLD) for row in probabilities]
    else:
        chosen = [(labels[int(row.argmax())],) for row in probabilities]
    return Predictions(chosen, probabilities.max(axis=1).tolist(), [note], probabilities.tolist())


def vote(members: list[TrialResult], sample: LabeledSample) -> Predictions:
    """Vote shares per label; ties go to the higher mean probability, then to the earlier member."""
    labels = sample.label_set
    column = {label: j for j, label in enumerate(labels)}
    votes = np.zeros((len(sample), len(labels)))
    for member in members:
        for p in member.predictions:
            for label in (p.labels if sample.multi_label else p.labels[:1]):
                if label in column:
                    votes[p.row, column[label]] += 1
    shares = votes / len(members)
    if sample.multi_label:
        chosen = [tuple(label for label, share in zip(labels, row) if share > 0.5) for row in shares]
        return Predictions(chosen, shares.max(axis=1).tolist(), ["Majority vote of the members, per label."], shares.tolist())
    tie_break = mean_probabilities(members, shares.shape)
    first_vote = first_votes(members, column, shares.shape)
    chosen = []
    for row in range(len(sample)):
        order = sorted(range(len(labels)), key=lambda j: (-shares[row, j], -tie_break[row, j], first_vote[row, j]))
        chosen.append((labels[order[0]],) if shares[row, order[0]] > 0 else ())
    return Predictions(chosen, shares.max(axis=1).tolist(), ["Majority vote of the members."], shares.tolist())


def mean_probabilities(members: list[TrialResult], shape: tuple[int, int]) -> np.ndarray:
    with_probabilities = [probabilities_of(m) for m in members if m.predictions[0].probabilities is not None]
    return np.mean(with_probabilities, axis=0) if with_probabilities else np.zeros(shape)


def first_votes(members: list[TrialResult], column: dict[str, int], shape: tuple[int, int]) -> np.ndarray:
    """Per row and label, the position of the first member that voted for it (len(members) if none)."""
    first = np.full(shape, len(members))
    for position, member in reversed(list(enumerate(members))):
        for p in member.predictions:
            if p.labels and p.labels[0] in column:
                first[p.row, column[p.labels[0]]] = position
    return first


def rules_first(members: list[TrialResult], stacked: np.ndarray, sample: LabeledSample) -> Predictions:
    rules = [i for i, m in enumerate(members) if m.kind == RULES_KIND]
    others = [i for i, m in enumerate(members) if m.kind != RULES_KIND]
    fallback = from_probabilities(stacked[others].mean(axis=0), sample, "")
    labels, scores, probabilities, fired = [], [], [], 0
    for row in range(len(sample)):
        rule = next((i for i in rules if stacked[i, row].sum() > 0), None)
        if rule is not None:
            fired += 1
            labels.append(members[rule].predictions[row].labels)
            scores.append(members[rule].predictions[row].score)
            probabilities.append(stacked[rule, row].tolist())
        else:
            labels.append(fallback.labels[row])
            scores.append(fallback.scores[row])
            probabilities.append(fallback.probabilities[row])
    note = (f"A rule decided {fired} of {len(sample)} rows; the mean of "
            f"{', '.join(members[i].key for i in others)} decided the rest.")
    return Predictions(labels, scores, [note], probabilities, coverage=fired / len(sample))


def score_into(result: TrialResult, predictions: Predictions, sample: LabeledSample, settings: Settings) -> None:
    result.metrics = compute_scores(sample.labels, predictions.labels, sample.label_set, multi_label=sample.multi_label,
                                    resamples=settings.bootstrap_resamples, seed=settings.seed)
    correct = rows_correct(sample.labels, predictions.labels, sample.label_set, multi_label=sample.multi_label)
    result.predictions = row_predictions(predictions, correct)
    result.coverage = predictions.coverage
    result.notes += predictions.notes


def add_costs(result: TrialResult, members: list[TrialResult]) -> None:
    """Latency, load time, memory and size: the members' summed (they run one after another)."""
    timed = [m.latency for m in members if m.latency is not None]
    if timed:
        result.latency = LatencyStats(
            p50_ms=round(sum(t.p50_ms for t in timed), 4), p95_ms=round(sum(t.p95_ms for t in timed), 4),
            p99_ms=round(sum(t.p99_ms for t in timed), 4), mean_ms=round(sum(t.mean_ms for t in timed), 4),
            throughput_per_s=round(1 / sum(1 / max(t.throughput_per_s, 1e-9) for t in timed), 3),
            first_call_ms=round(sum(t.first_call_ms for t in timed), 4), rows_timed=min(t.rows_timed for t in timed),
            batch_size=min(t.batch_size for t in timed),
        )
    result.load_s = total(m.load_s for m in members)
    result.memory_mb = total(m.memory_mb for m in members)
    result.parameters = total(m.parameters for m in members)
    result.size_mb = total(m.size_mb for m in members)
    devices = {m.device for m in members if m.uses_model}
    result.device = devices.pop() if len(devices) == 1 else ("mixed" if devices else "cpu")
    result.notes.append(f"Members: {', '.join(m.key for m in members)}. Latency, memory and size are their sums.")


def total(values) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known), 4) if known else None


def ensemble_spec_of(trial: TrialResult) -> dict:
    """The plan entry a stored ensemble trial gets (never run by the worker: it is built, not run)."""
    return {"kind": trial.kind, "model": trial.model, "device": trial.device, "dtype": trial.dtype,
            "members": list(trial.settings.get("members", []))}
