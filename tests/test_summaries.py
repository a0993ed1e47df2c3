"""Summarize-then-classify: summaries equal transformers' own greedy generation, both stages timed, cached."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.dataset import load_csv
from core.loading import ModelSpec, load_model
from core.runner import plan, run_plan
from core.settings import Settings
from core.summaries import generate_summaries
from tests.model_zoo import build_bart_summarizer, build_t5_summarizer
from tests.test_long_text import LIMIT, long_sample, probabilities_of_texts
from tests.test_pages import catalog, env, fake_hub, worker_stopper  # noqa: F401 - fixtures

TEXTS = ["the app crash when i export my report on mobile today", "please add an option", "price of the plan"]


@pytest.fixture(scope="module")
def summarizers(tmp_path_factory):
    root = tmp_path_factory.mktemp("summarizers")
    return {"bart": build_bart_summarizer(root / "bart"), "t5": build_t5_summarizer(root / "t5")}


def reference_summary(folder, text: str, max_new_tokens: int) -> str:
    """Plain transformers, one text at a time: greedy `generate`, as the summarization pipeline called it."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    prefix = getattr(model.config, "prefix", None) or ""
    with torch.inference_mode():
        ids = model.generate(**tokenizer(prefix + text, return_tensors="pt"), num_beams=1, do_sample=False,
                             max_new_tokens=max_new_tokens)[0]
    return tokenizer.decode(ids, skip_special_tokens=True).strip()


@pytest.mark.parametrize("family", ["bart", "t5"])
def test_batched_summaries_equal_plain_transformers_one_text_at_a_time(summarizers, family):
    loaded = load_model(ModelSpec(str(summarizers[family])), head="seq2seq")
    ours = generate_summaries(loaded, TEXTS, max_new_tokens=10)
    assert ours == [reference_summary(summarizers[family], text, 10) for text in TEXTS]
    assert all(0 < len(loaded.tokenizer(s, add_special_tokens=False)["input_ids"]) <= 10 for s in ours), "capped"


def test_summarize_then_classify_beside_the_plain_model(summarizers, trained_classifier, tmp_path, monkeypatch):
    monkeypatch.setenv("MSD_DATA_DIR", str(tmp_path / "data"))
    settings = Settings(bootstrap_resamples=50, latency_rows=4, data_dir=tmp_path / "data")
    sample = long_sample()
    specs = plan([str(trained_classifier)], baselines=False, summarizer=str(summarizers["bart"]), max_length=LIMIT,
                 summary_tokens=8)
    plain, summarized = run_plan(specs, sample, settings=settings).results
    assert plain.ok and summarized.ok, summarized.error
    assert plain.summaries == {} and summarized.key != plain.key and "summarized by" in summarized.key
    assert sorted(summarized.summaries) == summarized.long_rows == plain.long_rows
    assert summarized.stages["summarized_rows"] == len(plain.long_rows) and summarized.stages["summarize_s"] > 0
    assert summarized.stages["summaries_cached"] is False
    texts = [summarized.summaries.get(row, text) for row, text in enumerate(sample.texts)]
    expected = probabilities_of_texts(trained_classifier, texts)
    assert np.allclose([p.probabilities for p in summarized.predictions], expected, atol=1e-4)
    again = run_plan(specs[1:], sample, settings=settings).results[0]  # another trial of the run: the cache
    assert again.stages["summaries_cached"] is True and again.summaries == summarized.summaries


def test_a_summarizer_that_is_not_seq2seq_is_a_sentence(trained_classifier, tmp_path, monkeypatch):
    monkeypatch.setenv("MSD_DATA_DIR", str(tmp_path / "data"))
    settings = Settings(bootstrap_resamples=50, latency_rows=4, data_dir=tmp_path / "data")
    plain, summarized = run_plan(plan([str(trained_classifier)], baselines=False, summarizer=str(trained_classifier),
                                      max_length=LIMIT), long_sample(), settings=settings).results
    assert plain.ok and summarized.status == "error"
    assert "is not a sequence-to-sequence model" in summarized.error and "BART or T5" in summarized.error


def test_the_dashboard_runs_summarized_and_entity_trials(env, worker_stopper, summarizers, trained_classifier, tmp_path):
    from core.settings import get_settings
    from core.store import Store
    from tests.test_pages import assert_no_failure, on_evaluate_with, wait_until_finished

    sample = long_sample()
    csv = "text,label\n" + "".join(f"{t},{l[0]}\n" for t, l in zip(sample.texts, sample.labels))
    app = on_evaluate_with(trained_classifier, "long.csv", csv.encode())
    next(n for n in app.number_input if n.label.startswith("Maximum length")).set_value(LIMIT)
    app.text_input(key="summarizer").set_value(str(summarizers["t5"]))
    app.text_input(key="ner-model").set_value(str(trained_classifier))  # not an NER model: a sentence, the rest runs
    app.run()
    next(b for b in app.button if b.label == "Run evaluation").click()
    app.run()
    assert_no_failure(app)
    value = app.query_params["run"]
    run_id = value[0] if isinstance(value, list) else value
    wait_until_finished(run_id)
    results = Store(settings=get_settings()).load_run(run_id).results
    plain, summarized, entities = results[:3]
    assert plain.ok and summarized.ok and summarized.settings["summarizer"] == str(summarizers["t5"])
    assert summarized.stages["summarized_rows"] == len(plain.long_rows) > 0 and summarized.stages["summarize_s"] > 0
    assert entities.kind == "entities" and "not a token-classification (NER) model" in entities.error


def test_a_summarizer_from_the_hub_summarizes_as_its_folder_does(summarizers, tmp_path, monkeypatch):
    """The real huggingface_hub client downloads the summarizer from the fake Hub on 127.0.0.1."""
    from core.summaries import summarize_rows
    from tests.fakehub import FakeHub, repo_from_folder
    from tests.hub_fixtures import guard_network

    refused = guard_network(monkeypatch)
    with FakeHub({"acme/tiny-bart-summarizer": repo_from_folder(summarizers["bart"], "acme/tiny-bart-summarizer")}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        monkeypatch.setenv("MSD_DATA_DIR", str(tmp_path / "data"))
        from core.settings import get_settings

        sample = load_csv(("text,label\n" + "".join(f"{t},x\n" for t in TEXTS) + "y,z\n").encode())
        from_hub = summarize_rows("acme/tiny-bart-summarizer", sample, [0, 1, 2], settings=get_settings(), max_new_tokens=10)
    loaded = load_model(ModelSpec(str(summarizers["bart"])), head="seq2seq")
    assert [from_hub.summaries[row] for row in range(3)] == generate_summaries(loaded, TEXTS, max_new_tokens=10)
    assert not refused
