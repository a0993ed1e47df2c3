"""Rules as candidates and ensembles of a run's trials (issue 13, parts 1 and 2)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from core.__main__ import main as cli
from core.dataset import load_csv
from core.ensembles import EnsembleSpec, add_ensembles, add_to_stored_run, with_ensembles
from core.results import read_json, run_to_dict, validate
from core.rules import RulesError, dump_rules, load_rules, parse_rules_text, rules_as_settings
from core.runner import plan, run_plan
from core.settings import Settings
from core.store import Store
from tests.report_fixtures import make_run, make_sample, make_trial
from tests.tiny_models import KEYWORDS

SETTINGS = Settings(bootstrap_resamples=50, latency_rows=4)
RULES_YAML = """
labels:
  bug: {keywords: [crash, error, broken], patterns: ['fails?', 'freez\\w+']}
  feature_request: {keywords: [please add, wish, option]}
fallback: general_inquiry
match: most
"""


def independent_rules(text: str, *, fallback: str | None = "general_inquiry", first: bool = False) -> tuple[str, ...]:
    """The rules above, written again with the standard `re` module and \\b word boundaries."""
    hits = {
        "bug": sum(len(re.findall(rf"\b{k}\b", text, re.I)) for k in ("crash", "error", "broken"))
        + len(re.findall(r"fails?", text, re.I)) + len(re.findall(r"freez\w+", text, re.I)),
        "feature_request": sum(len(re.findall(rf"\b{k}\b", text, re.I)) for k in ("please\\s+add", "wish", "option")),
    }
    fired = [label for label, count in hits.items() if count]
    if not fired:
        return (fallback,) if fallback else ()
    if first:
        return (fired[0],)
    return (max(hits, key=lambda label: (hits[label], -list(hits).index(label))),)


@pytest.fixture()
def env(tmp_path, monkeypatch):
    """A results store of this test's own, quick settings."""
    monkeypatch.setenv("MSD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MSD_LATENCY_ROWS", "4")
    monkeypatch.setenv("MSD_BOOTSTRAP_RESAMPLES", "50")
    monkeypatch.delenv("DATABASE_URL", raising=False)


@pytest.fixture()
def rules_file(tmp_path):
    path = tmp_path / "ticket_rules.yaml"
    path.write_text(RULES_YAML, encoding="utf-8")
    return path


def test_a_rules_trial_predicts_what_an_independent_implementation_does(synthetic_csv, rules_file):
    sample = load_csv(synthetic_csv)
    texts = list(sample.texts) + ["please add an option, it fails", "crash crash and please add", "Please  Add dark mode"]
    labels = list(sample.labels) + [("feature_request",), ("bug",), ("feature_request",)]
    sample = replace(sample, texts=texts, labels=labels)
    run = run_plan(plan([], baselines=False, rules=[rules_as_settings(load_rules(rules_file))]), sample, settings=SETTINGS)
    trial = run.results[0]
    assert trial.ok and trial.kind == "rules" and trial.key == "ticket_rules.yaml"
    expected = [independent_rules(text) for text in sample.texts]
    assert [p.labels for p in trial.predictions] == expected
    assert trial.predictions[-3].labels == ("feature_request",)  # 2 hits against 1
    fired = sum(1 for text in sample.texts if independent_rules(text, fallback=None))
    assert trial.coverage == pytest.approx(fired / len(sample))
    assert trial.metrics.accuracy == pytest.approx(np.mean([e == t for e, t in zip(expected, sample.labels)]))
    assert trial.latency is not None and trial.latency.p50_ms >= 0


def test_first_match_abstention_case_and_multi_label(synthetic_rows):
    rules = parse_rules_text("labels:\n  bug: {keywords: [Crash]}\n  feature_request: {patterns: [wish]}\n"
                             "match: first\ncase_sensitive: true\n", name="r.yaml")
    sample = load_csv(b"text,label\nCrash and wish,bug\ncrash only,bug\nwish,feature_request\n")
    trial = run_plan(plan([], baselines=False, rules=[rules_as_settings(rules)]), sample, settings=SETTINGS).results[0]
    assert [p.labels for p in trial.predictions] == [("bug",), (), ("feature_request",)]  # case counts; no fallback
    assert [p.correct for p in trial.predictions] == [True, False, True]
    multi = load_csv(b"text,label\nCrash and wish,bug;feature_request\nwish,feature_request\n", label_sep=";")
    trial = run_plan(plan([], baselines=False, rules=[rules_as_settings(rules)]), multi, settings=SETTINGS).results[0]
    assert trial.predictions[0].labels == ("bug", "feature_request") and trial.metrics.accuracy == 1.0


@pytest.mark.parametrize(("text", "named"), [
    ("", "is empty"),
    ("labels:\n  bug: {patterns: ['(unclosed']}\n", "pattern '(unclosed' of label 'bug' is not a valid regular"),
    ("labels:\n  bug: {keywords: crash}\n", "keywords of label 'bug' must be a list"),
    ("labels:\n  bug: {}\n", "label 'bug' has no keywords and no patterns"),
    ("labels:\n  bug: {keywords: [x]}\nmatch: best\n", "match: 'best'"),
    ("labels: [bug]\n", "has no labels"),
    ("labels:\n  bug: {keywords: [x]\n", "not valid YAML or JSON at line"),
])
def test_a_bad_rules_file_is_a_sentence_naming_the_problem(text, named):
    with pytest.raises(RulesError, match=re.escape(named)):
        parse_rules_text(text, name="r.yaml")


def test_an_unknown_label_and_a_backtracking_pattern_fail_their_trial_only(synthetic_csv):
    sample = load_csv(synthetic_csv)
    unknown = parse_rules_text("labels:\n  bugz: {keywords: [crash]}\n", name="typo.yaml")
    slow = parse_rules_text("labels:\n  bug: {patterns: ['(a|aa)+b']}\n", name="slow.yaml")
    texts = list(sample.texts)
    texts[3] = "a" * 40 + "!"
    sample = replace(sample, texts=texts)
    run = run_plan(plan([], rules=[rules_as_settings(unknown), rules_as_settings(slow)]), sample, settings=SETTINGS)
    by_key = {t.key: t for t in run.results}
    assert "typo.yaml names the label 'bugz', which the sample does not have" in by_key["typo.yaml"].error
    assert "bug_report" not in by_key["typo.yaml"].error and "general_inquiry" in by_key["typo.yaml"].error
    assert "the pattern '(a|aa)+b' of label 'bug' took longer than" in by_key["slow.yaml"].error
    assert by_key["baseline-tfidf"].ok and by_key["baseline-majority"].ok


def test_a_rules_file_round_trips_through_yaml_and_json(tmp_path, rules_file):
    rules = load_rules(rules_file)
    for name, text in (("a.yaml", dump_rules(rules)), ("a.json", dump_rules(rules, as_json=True))):
        (tmp_path / name).write_text(text, encoding="utf-8")
        again = load_rules(tmp_path / name)
        assert again.labels == rules.labels and again.fallback == rules.fallback and again.match == rules.match


# -- ensembles -------------------------------------------------------------------------------

LABELS = ["a", "b", "c"]


def hand_run(n: int = 60, seed: int = 0):
    """Three members with known predictions and probabilities, and a rules member that fires on a third."""
    rng = np.random.default_rng(seed)
    truth = [LABELS[i % 3] for i in range(n)]
    sample = make_sample([f"row {i}" for i in range(n)], truth)
    trials = []
    for name, right in (("m1", 0.8), ("m2", 0.6), ("m3", 0.5)):
        probabilities = rng.dirichlet(np.ones(3), size=n)
        for i in range(n):
            if rng.random() < right:
                probabilities[i] = np.roll(probabilities[i], LABELS.index(truth[i]) - int(probabilities[i].argmax()))
        predicted = [LABELS[int(row.argmax())] for row in probabilities]
        trials.append(with_probabilities(make_trial(name, sample, predicted), probabilities))
    fired = np.zeros((n, 3))
    rules_pred = []
    for i in range(n):
        if i % 3 == 0:
            fired[i, LABELS.index(truth[i]) if i % 6 else 1] = 1.0
        rules_pred.append(LABELS[int(fired[i].argmax())] if fired[i].any() else "c")
    trials.append(with_probabilities(make_trial("r.yaml", sample, rules_pred, kind="rules", dtype="n/a"), fired))
    return make_run(sample, trials), sample


def with_probabilities(trial, probabilities):
    trial.predictions = [replace(p, probabilities=tuple(row)) for p, row in zip(trial.predictions, probabilities.tolist())]
    return trial


def probabilities(trial) -> np.ndarray:
    return np.array([p.probabilities for p in trial.predictions])


def test_vote_and_mean_equal_a_direct_computation():
    run, sample = hand_run()
    models = run.results[:3]
    vote, mean = add_ensembles(run, sample, [EnsembleSpec("vote", ("m1", "m2", "m3")), EnsembleSpec("mean", ("m1", "m2", "m3"))],
                               settings=SETTINGS)
    stacked = np.mean([probabilities(m) for m in models], axis=0)
    for row in range(len(sample)):
        counts = Counter(m.predictions[row].labels[0] for m in models)
        top = max(counts.values())
        tied = [label for label in LABELS if counts[label] == top]
        expected = max(tied, key=lambda label: (stacked[row, LABELS.index(label)], -LABELS.index(label)))
        assert vote.predictions[row].labels == (expected,)
        assert mean.predictions[row].labels == (LABELS[int(stacked[row].argmax())],)
    assert vote.settings["members"] == ["m1 [text-classification, cpu, float32]", "m2 [text-classification, cpu, float32]",
                                        "m3 [text-classification, cpu, float32]"]
    assert vote.latency.p50_ms == pytest.approx(30.0) and vote.model == "ensemble-vote of m1 + m2 + m3"
    truth = [t[0] for t in sample.labels]
    assert mean.metrics.accuracy == pytest.approx(np.mean([p.labels[0] == t for p, t in zip(mean.predictions, truth)]))


def test_rules_first_takes_the_rule_where_it_fired_and_the_models_elsewhere():
    run, sample = hand_run()
    (ensemble,) = add_ensembles(run, sample, [EnsembleSpec("rules-first", ("r.yaml", "m1", "m2"))], settings=SETTINGS)
    rules, m1, m2 = run.results[3], run.results[0], run.results[1]
    mean = (probabilities(m1) + probabilities(m2)) / 2
    for row in range(len(sample)):
        if row % 3 == 0:
            assert ensemble.predictions[row].labels == rules.predictions[row].labels
        else:
            assert ensemble.predictions[row].labels == (LABELS[int(mean[row].argmax())],)
    assert ensemble.coverage == pytest.approx(1 / 3)
    (refused,) = add_ensembles(run, sample, [EnsembleSpec("rules-first", ("m1", "m2"))], settings=SETTINGS)
    assert not refused.ok and "needs a rules trial" in refused.error


def test_stacking_never_scores_a_row_with_a_model_fitted_on_it():
    """Members whose probabilities are a random fingerprint of each row (memorised rows, no signal): a
    stacker fitted on every row separates them perfectly; the cross-validated stacker stays near chance."""
    n, rng = 90, np.random.default_rng(1)
    truth = [LABELS[i % 3] for i in range(n)]
    sample = make_sample([f"row {i}" for i in range(n)], truth)
    fingerprints = [rng.dirichlet(np.ones(3) * 0.3, size=n) for _ in range(30)]
    members = [with_probabilities(make_trial(f"memoriser-{i}", sample, [LABELS[int(r.argmax())] for r in p]), p)
               for i, p in enumerate(fingerprints)]
    run = make_run(sample, members)
    features = np.hstack(fingerprints)
    leaky = LogisticRegression(max_iter=2000).fit(features, truth)
    assert leaky.score(features, truth) > 0.95  # scored on the rows it was fitted on, stacking looks perfect...
    (stack,) = add_ensembles(run, sample, [EnsembleSpec("stack")], settings=SETTINGS)
    assert stack.metrics.accuracy < 0.5  # ...held out, it is chance (1/3) within noise
    honest = cross_val_predict(LogisticRegression(max_iter=2000), features, truth,
                               cv=StratifiedKFold(5, shuffle=True, random_state=SETTINGS.seed))
    assert [p.labels[0] for p in stack.predictions] == list(honest)


def test_an_ensemble_that_cannot_be_built_is_an_error_row_with_a_sentence():
    run, sample = hand_run()
    old = run.results[0]
    old.predictions = [replace(p, probabilities=None) for p in old.predictions]
    built = add_ensembles(run, sample, [EnsembleSpec("mean", ("m1", "m2")), EnsembleSpec("vote", ("m1", "nope")),
                                        EnsembleSpec("vote", ("m1",))], settings=SETTINGS)
    assert "needs each member's probabilities; m1 [text-classification, cpu, float32] has none" in built[0].error
    assert "No single finished trial is called 'nope'" in built[1].error and "m2 [text-classification" in built[1].error
    assert "needs at least 2 finished trials" in built[2].error
    combined = with_ensembles(run, sample, [EnsembleSpec("vote")], settings=SETTINGS)
    assert combined.results[-1].kind == "ensemble-vote" and combined.results[-1].ok
    assert any("ensemble-vote" in (c.a, c.b) for c in combined.comparisons)


def test_rules_and_ensembles_from_the_cli_and_added_to_a_stored_run(env, synthetic_csv, rules_file, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = cli(["evaluate", "--data", str(synthetic_csv), "--rules", str(rules_file), "--ensemble", "vote",
                "--ensemble", "stack", "--out", str(out), "--quiet", "--store"])
    assert code == 0
    data = json.loads(out.read_text())
    validate(data)
    kinds = [t["kind"] for t in data["results"]]
    assert kinds == ["rules", "baseline-majority", "baseline-tfidf", "ensemble-vote", "ensemble-stack"]
    assert data["results"][3]["settings"]["members"] == ["ticket_rules.yaml", "baseline-tfidf"]
    assert all(len(p["probabilities"]) == 3 for t in data["results"] for p in t["predictions"])
    run_id = capsys.readouterr().out.split("stored as run ")[1].split()[0]
    store = Store()
    assert [t.kind for t in store.load_run(run_id).results][-2:] == ["ensemble-vote", "ensemble-stack"]
    added = add_to_stored_run(store, run_id, [EnsembleSpec("mean"), EnsembleSpec("vote")])
    assert [t.kind for t in added] == ["ensemble-mean"]  # the vote of the same members is there already
    stored = store.load_run(run_id)
    assert stored.results[-1].kind == "ensemble-mean" and any("ensemble-mean" in (c.a, c.b) for c in stored.comparisons)
    assert stored.results[-1].predictions == added[0].predictions
    assert "ensemble" not in json.dumps(store.load_plan(store.rerun(run_id)))  # a rerun runs models, not ensembles
    assert cli(["runs", "ensemble", run_id, "--ensemble", "rules-first"]) == 0
    assert store.load_run(run_id).results[-1].kind == "ensemble-rules-first"
    assert read_json(out).results[3].predictions[0].probabilities is not None
    validate(run_to_dict(stored))


def test_ensembles_cannot_be_queued_with_submit(env, synthetic_csv, capsys):
    code = cli(["evaluate", "--data", str(synthetic_csv), "--ensemble", "vote", "--submit"])
    assert code != 0 and "python -m core runs ensemble RUN_ID" in capsys.readouterr().err


def test_every_kind_stores_probabilities_that_agree_with_its_labels(synthetic_csv, trained_classifier, nli_model):
    sample = load_csv(synthetic_csv)
    run = run_plan(plan([str(trained_classifier)], baselines=True, batch_size=16) + plan([str(nli_model)], baselines=False,
                   kind="zero-shot-classification", batch_size=16), sample, settings=SETTINGS)
    assert all(t.ok for t in run.results), [t.error for t in run.results]
    for trial in run.results:
        for p in trial.predictions:
            assert len(p.probabilities) == len(sample.label_set)
            chosen = p.probabilities[sample.label_set.index(p.labels[0])]
            assert chosen == pytest.approx(max(p.probabilities), abs=1e-6) and chosen == pytest.approx(p.score, abs=1e-6)
    assert set(KEYWORDS) == set(sample.label_set)


# -- suggested keywords -----------------------------------------------------------------------


def test_suggested_keywords_are_each_labels_own_words_and_scored_on_rows_they_were_not_chosen_from(
        synthetic_csv, monkeypatch):
    from core import keywords

    sample = load_csv(synthetic_csv)
    seen: list[set[str]] = []
    choose = keywords.associated_words

    def recording(texts, labels, label_set, per_label):
        seen.append(set(texts))
        return choose(texts, labels, label_set, per_label)

    monkeypatch.setattr(keywords, "associated_words", recording)
    suggestion = keywords.suggest_keywords(sample, per_label=4, folds=5, resamples=50)
    for label, words in suggestion.keywords.items():
        assert words and set(words) <= set(KEYWORDS[label]), (label, words)
    folds, everything = seen[:-1], seen[-1]
    assert len(folds) == 5 and everything == set(sample.texts)
    held_out = [set(sample.texts) - chosen_from for chosen_from in folds]
    assert all(rows for rows in held_out) and set().union(*held_out) == set(sample.texts)  # every row held out once
    # the reported score is the rules' accuracy on held-out rows, recomputed here fold by fold
    rules_of_all = suggestion.as_rules()
    assert {rule.label for rule in rules_of_all.labels} == set(KEYWORDS)
    assert 0.0 < suggestion.scores.accuracy <= 1.0 and suggestion.folds == 5
