""""Suggest keywords": per label, the words most associated with it in the sample (scikit-learn's
chi-squared test on word presence), offered as rules, with an honest score.

The score is cross-validated: keywords are chosen on k-1 folds and the rules they make are scored on
the held-out fold, so a suggestion never grades its own homework. What is offered is the suggestion
chosen on every row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.feature_selection import chi2
from sklearn.model_selection import KFold, StratifiedKFold

from core.dataset import LabeledSample
from core.metrics import Scores, compute_scores
from core.rules import LabelRule, RuleMatcher, RuleSet
from core.tasks.cross_validation import fold_count

WORDS = r"(?u)\b[^\W\d_]{2,}\b"  # words of 2+ letters: no numbers, no single letters


@dataclass(frozen=True)
class KeywordSuggestion:
    keywords: dict[str, list[str]]  # label -> words, chosen on every row
    scores: Scores  # of rules made from keywords chosen without the scored rows
    folds: int
    fallback: str

    def as_rules(self, name: str = "suggested keywords") -> RuleSet:
        return rules_from_keywords(self.keywords, self.fallback, name)


def suggest_keywords(sample: LabeledSample, *, per_label: int = 5, folds: int = 5, seed: int = 0,
                     resamples: int = 1000) -> KeywordSuggestion:
    k = fold_count(sample, folds)
    texts = np.array(sample.texts, dtype=object)
    predicted: list[tuple[str, ...]] = [()] * len(sample)
    for train, held_out in splits(sample, k, seed):
        chosen = associated_words(texts[train], [sample.labels[i] for i in train], sample.label_set, per_label)
        matcher = RuleMatcher(rules_from_keywords(chosen, most_common([sample.labels[i] for i in train]), "fold"))
        for i in held_out:
            predicted[i] = matcher.decide(matcher.hits(sample.texts[i]), multi_label=sample.multi_label)
    scores = compute_scores(sample.labels, predicted, sample.label_set, multi_label=sample.multi_label,
                            resamples=resamples, seed=seed)
    keywords = associated_words(texts, sample.labels, sample.label_set, per_label)
    return KeywordSuggestion(keywords, scores, k, most_common(sample.labels))


def splits(sample: LabeledSample, k: int, seed: int):
    if sample.multi_label:
        return KFold(n_splits=k, shuffle=True, random_state=seed).split(sample.texts)
    return StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(sample.texts, sample.single_labels)


def associated_words(texts, labels: list[tuple[str, ...]], label_set: list[str], per_label: int) -> dict[str, list[str]]:
    """Per label, the words present more often in its rows than in the others, by chi-squared score."""
    vectorizer = CountVectorizer(binary=True, lowercase=True, token_pattern=WORDS, min_df=2, stop_words="english")
    try:
        present = vectorizer.fit_transform(list(texts))
    except ValueError:  # no word occurs twice
        return {label: [] for label in label_set}
    words = vectorizer.get_feature_names_out()
    chosen: dict[str, list[str]] = {}
    for label in label_set:
        member = np.array([label in row for row in labels])
        if member.all() or not member.any():
            chosen[label] = []
            continue
        score, _ = chi2(present, member)
        more_often = np.asarray(present[member].mean(axis=0)).ravel() > np.asarray(present[~member].mean(axis=0)).ravel()
        order = [j for j in np.argsort(-np.nan_to_num(score)) if more_often[j]]
        chosen[label] = [str(words[j]) for j in order[:per_label]]
    return chosen


def rules_from_keywords(keywords: dict[str, list[str]], fallback: str, name: str) -> RuleSet:
    return RuleSet(name, tuple(LabelRule(label, tuple(words)) for label, words in keywords.items() if words),
                   fallback=fallback, match="most")


def most_common(labels: list[tuple[str, ...]]) -> str:
    return Counter(label for row in labels for label in row).most_common(1)[0][0]
