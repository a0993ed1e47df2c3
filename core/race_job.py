"""Running a race (core.racing) with real trials, in the worker or in the CLI.

Each round runs a candidate's ordinary trial on the round's new rows only (a sub-sample of the
seeded shuffle), so a survivor scores every row once; its rounds are then merged into one
TrialResult (predictions on the rows seen, scores recomputed by the same scoring code). The price:
every round loads the model again, which is why rounds grow geometrically (few rounds).

Kinds that score each row on its own (text-classification, zero-shot, auto) race. Cross-validated
kinds (embedding probe, fine-tune, entities), rules and baselines are exempt: they run once on all
rows before the race, may be the leader others lose to, and are never stopped (their predictions
come from training on the other folds, and a prefix would train them on fewer rows).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from core.dataset import LabeledSample, content_hash
from core.metrics import compute_scores
from core.racing import RaceEnded, RaceRecord, RaceSettings, RaceStop, run_race
from core.results import LatencyStats, RunResult, TrialRace, TrialResult
from core.runner import TrialSpec, trial_progress, assemble_run, new_result, run_trial
from core.settings import Settings, get_settings
from core.store.model import CANCELLED, INTERRUPTED
from core.tasks import AUTO

RACED_KINDS = ("text-classification", "zero-shot-classification", AUTO)

#: (store position, spec, rows to run on) -> the trial's result; raises RaceEnded to stop everything.
RunOne = Callable[[int, TrialSpec, LabeledSample], TrialResult]


def is_raced(kind: str) -> bool:
    return kind in RACED_KINDS


def sub_sample(sample: LabeledSample, rows: list[int]) -> LabeledSample:
    """The sample's `rows`, in that order, keeping every label of the sample (scores and ensembles need them)."""
    texts = [sample.texts[i] for i in rows]
    pairs = [sample.pairs[i] for i in rows] if sample.pairs is not None else None
    labels = [sample.labels[i] for i in rows]
    metadata = {column: [values[i] for i in rows] for column, values in sample.metadata.items()}
    return replace(sample, texts=texts, pairs=pairs, labels=labels, metadata=metadata,
                   sha256=content_hash(texts, pairs, labels))


def merge_rounds(rounds: list[tuple[list[int], TrialResult]], sample: LabeledSample, settings: Settings) -> TrialResult:
    """One trial from its rounds: predictions on every row seen (sample row numbers, in order), scores
    recomputed on those rows; load time from the first round, latency from the timed (last) round."""
    merged = copy.deepcopy(rounds[0][1])
    merged.predictions = sorted((replace(p, row=rows[p.row]) for rows, r in rounds for p in r.predictions),
                                key=lambda p: p.row)
    seen = [p.row for p in merged.predictions]
    merged.metrics = compute_scores(
        [sample.labels[i] for i in seen], [p.labels for p in merged.predictions], sample.label_set,
        multi_label=sample.multi_label, resamples=settings.bootstrap_resamples, seed=settings.seed,
    )
    merged.latency = merge_latency([(len(rows), r.latency) for rows, r in rounds])
    merged.memory_mb = max((r.memory_mb for _, r in rounds if r.memory_mb is not None), default=None)
    merged.truncated_rows = sum(r.truncated_rows for _, r in rounds)
    merged.long_rows = _mapped_rows(rounds, lambda r: r.long_rows)
    merged.summaries = {rows[i]: text for rows, r in rounds for i, text in r.summaries.items()}
    merged.entities = {rows[i]: text for rows, r in rounds for i, text in r.entities.items()}
    merged.notes = list(dict.fromkeys(note for _, r in rounds for note in r.notes if "rows were longer than" not in note))
    merged.warnings = list(dict.fromkeys(w for _, r in rounds for w in r.warnings))
    if merged.truncated_rows:
        merged.notes.append(f"{merged.truncated_rows} rows were longer than {merged.settings.get('max_length')} tokens "
                            "and were truncated.")
    merged.notes.append(f"Raced in {len(rounds)} rounds (the model was loaded once per round): load time is the "
                        "first round's; latency and throughput were measured in the last round only (a trial stopped "
                        "early has none).")
    return merged


def _mapped_rows(rounds, rows_of) -> list[int] | None:
    found = [rows_of(r) for _, r in rounds]
    if all(f is None for f in found):
        return None
    return sorted(rows[i] for (rows, _), f in zip(rounds, found) for i in f or [])


def merge_latency(parts: list[tuple[int, LatencyStats | None]]) -> LatencyStats | None:
    """The timed round's latency (only a survivor's last round is timed); None if no round was."""
    return next((stats for _, stats in reversed(parts) if stats is not None), None)


@dataclass
class Race:
    """One race over a run's trials: exempt ones first on all rows, then rounds for the raced ones.

    `on_final(position, result)` receives each trial once it is final (stopped, failed, exempt or
    finished), so the worker can save it at once.
    """

    entries: list[tuple[int, TrialSpec]]
    sample: LabeledSample
    settings: Settings
    race: RaceSettings
    run_one: RunOne
    on_final: Callable[[int, TrialResult], None]
    rounds: dict[int, list[tuple[list[int], TrialResult]]] = field(default_factory=dict)
    full: dict[int, TrialResult] = field(default_factory=dict)  # trials that ran on all rows
    protected: set[str] = field(default_factory=set)  # exempt trials: may lead, never stop
    finals: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.specs = dict(self.entries)

    def run(self) -> RaceRecord:
        for position, spec in self.entries:
            if not is_raced(spec.kind):
                self._run_on_all_rows(position, spec)
        keys = [str(p) for p, spec in self.entries if str(p) in self.protected or is_raced(spec.kind)]
        record = run_race(keys, len(self.sample), self.race, self._run_rows, protected=self.protected,
                          on_stop=self._stop)
        for key in record.survivors:
            if int(key) not in self.full:
                self._finish(int(key), len(self.sample), None)
        return record

    def _final(self, position: int, result: TrialResult) -> None:
        self.finals.add(position)
        self.on_final(position, result)

    def _run_on_all_rows(self, position: int, spec: TrialSpec) -> TrialResult:
        result = self.run_one(position, spec, self.sample)
        self.full[position] = result
        if result.ok:
            self.protected.add(str(position))
        self._final(position, result)
        return result

    def _run_rows(self, key: str, rows: list[int]) -> np.ndarray | None:
        position = int(key)
        if position in self.full:
            return np.array([self.full[position].predictions[i].correct for i in rows])
        last = sum(len(done) for done, _ in self.rounds.get(position, [])) + len(rows) == len(self.sample)
        spec = replace(self.specs[position], timed=last)  # only a survivor's last round is timed
        result = self.run_one(position, spec, sub_sample(self.sample, rows))
        if not result.ok:
            self._final(position, result)
            return None
        if not is_raced(result.kind):  # `auto` chose a cross-validated kind: exempt, on all rows
            full = self._run_on_all_rows(position, self.specs[position])
            return self._run_rows(key, rows) if full.ok else None
        self.rounds.setdefault(position, []).append((rows, result))
        return np.array([p.correct for p in result.predictions])

    def _stop(self, stop: RaceStop) -> None:
        self._finish(int(stop.key), stop.rows, stop)

    def _finish(self, position: int, rows_seen: int, stop: RaceStop | None) -> None:
        merged = merge_rounds(self.rounds[position], self.sample, self.settings)
        merged.settings["race"] = asdict(self.race)
        if stop is None:
            merged.race = TrialRace(rows_seen, len(self.sample))
        else:
            merged.race = TrialRace(rows_seen, len(self.sample), stopped=True, worse_than=self._name(int(stop.leader)),
                                    p_holm=stop.p_holm)
            merged.notes.append(merged.race.sentence[0].upper() + merged.race.sentence[1:] + " (one-sided exact "
                                "McNemar test on the rows both saw, Holm-adjusted across the candidates).")
        self._final(position, merged)

    def _name(self, position: int) -> str:
        """The leader's model name, or its full trial name where several trials share the model."""
        latest = self.full.get(position) or self.rounds[position][-1][1]
        same_model = [p for p, spec in self.entries if (spec.model or spec.kind) == (self.specs[position].model or
                                                                                        self.specs[position].kind)]
        return latest.model if len(same_model) == 1 else latest.key


def run_plan_raced(specs: list[TrialSpec], sample: LabeledSample, race: RaceSettings, *,
                   settings: Settings | None = None, progress=None, command: str | None = None) -> RunResult:
    """`runner.run_plan` with racing: the trials in this process, one round at a time."""
    settings = settings or get_settings()
    results: dict[int, TrialResult] = {}

    def run_one(position: int, spec: TrialSpec, rows: LabeledSample) -> TrialResult:
        return run_trial(spec, rows, settings=settings, progress=trial_progress(progress, position, len(specs), spec))

    Race(list(enumerate(specs)), sample, settings, race, run_one, results.__setitem__).run()
    return assemble_run(sample, [results[i] for i in range(len(specs))], command=command)


def run_race_job(job, sample: LabeledSample, race: RaceSettings) -> None:
    """The worker's raced job (core.worker.Job): each round of a trial in its own child process;
    each trial is saved once final. Cancelled or interrupted, the trials still racing are saved
    with that status, to race again (among themselves) on resume."""
    entries = [(position, TrialSpec(**spec)) for position, spec in job.store.pending_trials(job.run_id)]
    started: set[int] = set()

    def run_one(position: int, spec: TrialSpec, rows: LabeledSample) -> TrialResult:
        if job.stop_reason():
            raise RaceEnded
        started.add(position)
        outcome = job.run_trial(position, asdict(spec), rows)
        if outcome.status in (CANCELLED, INTERRUPTED):
            raise RaceEnded
        return outcome.result

    def save(position: int, result: TrialResult) -> None:
        job.store.save_trial(job.run_id, position, result)

    racing = Race(entries, sample, job.settings, race, run_one, save)
    try:
        racing.run()
    except RaceEnded:
        stop = job.stop_reason() or INTERRUPTED
        sentence = "Stopped during a race round; it races again, with the others left, when the run is resumed."
        for position in sorted(started - racing.finals):
            job.store.save_trial(job.run_id, position, new_result(racing.specs[position], job.settings, error=sentence),
                                 status=stop)
