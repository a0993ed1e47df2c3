"""The rules editor on Evaluate and the ensemble control on Compare, through Streamlit's AppTest."""

from __future__ import annotations

import pytest

from core.dataset import load_csv
from core.rules import parse_rules_text
from core.settings import get_settings
from core.store import Store
from tests.test_pages import (  # noqa: F401 - fixtures
    app_on, assert_no_failure, catalog, env, fake_hub, upload_sample, wait_until_finished, worker_stopper,
)
from tests.test_strategies import RULES_YAML, independent_rules


def run_id_of(app) -> str:
    value = app.query_params["run"]
    return value[0] if isinstance(value, list) else value


def test_rules_alone_from_the_editor_then_an_ensemble_added_on_compare(env, worker_stopper, synthetic_csv):
    app = app_on("sample")
    upload_sample(app, "synthetic.csv", synthetic_csv.read_bytes())
    app.switch_page("pages/evaluate.py").run()
    assert_no_failure(app)
    assert any("score rules alone" in i.value for i in app.info)
    next(b for b in app.button if b.label == "Suggest keywords").click()
    app.run()
    sample = load_csv(synthetic_csv)
    shown = next(c.value for c in app.caption if c.value.startswith("Suggested keywords"))
    assert "on rows they were not chosen from (5-fold cross-validation)" in shown
    app.file_uploader[0].upload("ticket_rules.yaml", RULES_YAML.encode(), "application/x-yaml")
    app.run()
    document = app.session_state["rules_document"]
    assert document["name"] == "ticket_rules.yaml" and document["labels"]["bug"]["keywords"] == ["crash", "error", "broken"]
    assert document["fallback"] == "general_inquiry"
    saved = next(b for b in app.get("download_button") if b.label == "Save rules file (YAML)")
    assert saved is not None
    next(b for b in app.button if b.label == "Run evaluation").click()
    app.run()
    run_id = run_id_of(app)
    wait_until_finished(run_id)
    store = Store(settings=get_settings())
    stored = store.load_run(run_id)
    rules_trial = stored.results[0]
    assert rules_trial.kind == "rules" and rules_trial.ok
    assert [p.labels for p in rules_trial.predictions] == [independent_rules(t) for t in sample.texts]
    assert parse_rules_text(RULES_YAML, name="x").labels == parse_rules_text(
        __import__("yaml").safe_dump({k: v for k, v in rules_trial.settings["rules"].items() if k != "name"}), name="x").labels

    app.switch_page("pages/compare.py").run()
    assert_no_failure(app)
    assert next(s for s in app.multiselect if s.label == "Members").value == ["ticket_rules.yaml", "baseline-tfidf"]
    next(s for s in app.multiselect if s.label == "Ensemble methods").set_value(["vote", "rules-first"])
    next(b for b in app.button if b.label == "Add ensembles").click()
    app.run()
    assert_no_failure(app)
    board = app.dataframe[0].value.set_index("trial")
    stored = store.load_run(run_id)
    for kind in ("ensemble-vote", "ensemble-rules-first"):
        trial = next(t for t in stored.results if t.kind == kind)
        assert board.loc[kind, "accuracy"] == pytest.approx(trial.metrics.accuracy)
        assert board.loc[kind, "rules / ensemble"] == "ensemble of ticket_rules.yaml, baseline-tfidf"
    coverage = stored.results[0].coverage
    assert board.loc["ticket_rules.yaml", "rules / ensemble"] == f"rules fired on {coverage:.0%} of rows"
    rules_first = next(t for t in stored.results if t.kind == "ensemble-rules-first")
    tfidf = next(t for t in stored.results if t.kind == "baseline-tfidf")
    for rule, model, both in zip(rules_trial.predictions, tfidf.predictions, rules_first.predictions):
        assert both.labels == (rule.labels if any(rule.probabilities) else model.labels)
