"""`rules`: a keyword/regex rules file (core.rules) as a candidate, scored like any model.

Needs no model: a trial's spec carries the rules themselves. Each row's probabilities are its hits
per label divided by all its hits (zero where nothing fired), so an ensemble knows when a rule fired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from core.dataset import LabeledSample
from core.errors import InputError
from core.results import RULES_KIND
from core.rules import RuleMatcher, check_labels, rules_from_file_or_dict
from core.tasks.base import OnRows, Predictions, TaskOptions


@dataclass
class RulesPredictor:
    matcher: RuleMatcher
    label_set: list[str]
    multi_label: bool
    truncated_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def run(self, texts: Sequence[str], pairs: Sequence[str] | None, *, batch_size: int, on_rows: OnRows | None = None):
        """Per row, the hits of each rule (file order); rules read the text and its pair."""
        hits = []
        for start in range(0, len(texts), batch_size):
            for i in range(start, min(start + batch_size, len(texts))):
                hits.append(self.matcher.hits(texts[i] if pairs is None else f"{texts[i]}\n{pairs[i]}"))
            if on_rows:
                on_rows(min(batch_size, len(texts) - start))
        return hits

    def finish(self, hits: list[list[int]]) -> Predictions:
        labels = [self.matcher.decide(row, multi_label=self.multi_label) for row in hits]
        probabilities = [self.on_label_set(row) for row in hits]
        fired = sum(1 for row in hits if any(row))
        scores = [max(row) for row in probabilities]
        rules = self.matcher.rules
        otherwise = f"the fallback {rules.fallback!r}" if rules.fallback is not None else "no label (counted wrong)"
        note = (f"Rules fired on {fired} of {len(hits)} rows (match: {rules.match}); the other rows got {otherwise}.")
        return Predictions(labels, scores, [*self.notes, note], probabilities, coverage=fired / len(hits) if hits else 0.0)

    def on_label_set(self, hits: list[int]) -> list[float]:
        total = sum(hits)
        by_label = {rule.label: count for rule, count in zip(self.matcher.compiled, hits)}
        return [by_label.get(label, 0) / total if total else 0.0 for label in self.label_set]


class RulesKind:
    name = RULES_KIND
    head = None

    def prepare(self, loaded, sample: LabeledSample, options: TaskOptions) -> RulesPredictor:
        if not options.rules:
            raise InputError("A rules trial was asked for without rules.", hint="Give a rules file with --rules FILE.")
        rules = rules_from_file_or_dict(options.rules)
        check_labels(rules, sample.label_set)
        return RulesPredictor(RuleMatcher(rules), list(sample.label_set), sample.multi_label)
