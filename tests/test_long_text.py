"""Long texts: truncate, head-tail and chunks, checked against transformers' own pipeline."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from core.__main__ import main as cli
from core.compare import build_comparison
from core.dataset import load_csv
from core.long_text import Cutter, Windows
from core.results import read_json, validate
from core.runner import TrialSpec, plan, run_plan
from core.settings import Settings
from tests.tiny_models import FILLER, KEYWORDS

SETTINGS = Settings(bootstrap_resamples=50, latency_rows=4)
LIMIT = 16  # tokens: every long row below is about 5x longer


def long_sample(n_per_label: int = 8, seed: int = 0):
    """Half the rows short, half about 80 tokens with their label's keyword only near the end."""
    rng = random.Random(seed)
    rows = ["text,label"]
    for label, words in KEYWORDS.items():
        for i in range(n_per_label):
            filler = " ".join(rng.choice(FILLER) for _ in range(75 if i % 2 else 4))
            rows.append(f"{filler} {rng.choice(words)},{label}")
    return load_csv("\n".join(rows).encode())


def probabilities_of_texts(model_dir, texts: list[str]) -> np.ndarray:
    """transformers' own pipeline, one text at a time: probability of each label (id order)."""
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(model_dir), device="cpu", top_k=None, truncation=True,
                        max_length=LIMIT)
    scores = []
    for text in texts:
        entries = classify([text])[0]  # one text in, its scores for every label out
        by_label = {entry["label"]: entry["score"] for entry in entries}
        scores.append([by_label[label] for label in sorted(by_label, key=classify.model.config.label2id.get)])
    return np.array(scores)


def test_chunks_average_each_windows_probabilities_as_the_pipeline_gives_them(trained_classifier):
    sample = long_sample()
    spec = TrialSpec(kind="text-classification", model=str(trained_classifier), max_length=LIMIT, long_text="chunks")
    trial = run_plan([spec], sample, settings=SETTINGS).results[0]
    assert trial.ok, trial.error
    assert trial.truncated_rows == 0 and sorted(trial.long_rows) == [i for i, t in enumerate(sample.texts) if len(t.split()) > 20]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(trained_classifier))
    cutter = Cutter(tokenizer, LIMIT - tokenizer.num_special_tokens_to_add(pair=False))
    windows = Windows.of(cutter, sample.texts, None)
    assert all(len(tokenizer(w)["input_ids"]) <= LIMIT for w in windows.texts), "every window fits the limit"
    per_window = probabilities_of_texts(trained_classifier, windows.texts)
    for row, prediction in enumerate(trial.predictions):
        expected = per_window[windows.owner == row].mean(axis=0)
        assert np.allclose(prediction.probabilities, expected, atol=1e-4), row
    assert any("split into overlapping windows" in note for note in trial.notes)
    short = [row for row in range(len(sample)) if row not in trial.long_rows]
    assert all((windows.owner == row).sum() == 1 for row in short), "a row that fits is one window: itself"
    assert all(windows.texts[list(windows.owner).index(row)] == sample.texts[row] for row in short)


def test_head_tail_keeps_the_start_and_the_end(trained_classifier):
    sample = long_sample()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(trained_classifier))
    cutter = Cutter(tokenizer, LIMIT - tokenizer.num_special_tokens_to_add(pair=False))
    long_text = sample.texts[1]
    cut = cutter.head_tail(long_text)
    assert cut.split()[0] == long_text.split()[0] and cut.split()[-1] == long_text.split()[-1]
    assert len(tokenizer(cut)["input_ids"]) <= LIMIT
    spec = TrialSpec(kind="text-classification", model=str(trained_classifier), max_length=LIMIT, long_text="head-tail")
    trial = run_plan([spec], sample, settings=SETTINGS).results[0]
    expected = probabilities_of_texts(trained_classifier, [cutter.head_tail(t) for t in sample.texts])
    assert np.allclose([p.probabilities for p in trial.predictions], expected, atol=1e-4)


def test_strategies_side_by_side_from_the_cli_with_long_rows_accuracy(trained_classifier, encoder, nli_model, tmp_path):
    data, out = tmp_path / "long.csv", tmp_path / "r.json"
    sample = long_sample()
    data.write_text("text,label\n" + "".join(f"{t},{l[0]}\n" for t, l in zip(sample.texts, sample.labels)))
    code = cli(["evaluate", "--data", str(data), "--model", str(trained_classifier), "--max-length", str(LIMIT),
                "--long-text", "truncate", "--long-text", "head-tail", "--long-text", "chunks", "--no-baselines",
                "--out", str(out), "--quiet"])
    assert code == 0
    validate(json.loads(out.read_text()))
    run = read_json(out)
    assert [t.settings["long_text"] for t in run.results] == ["truncate", "head-tail", "chunks"]
    assert len({t.key for t in run.results}) == 3
    table = build_comparison(run).long_texts
    assert [row.strategy for row in table] == ["truncate", "head-tail", "chunks"]
    long_rows = set(run.results[0].long_rows)
    for row, trial in zip(table, run.results):
        right = [p.correct for p in trial.predictions if p.row in long_rows]
        assert row.long_rows == len(long_rows) and row.long_accuracy == pytest.approx(sum(right) / len(right))
    from core.report import ReportOptions, build_report, render_html, render_markdown

    report = build_report(run, options=ReportOptions())
    markdown, html = render_markdown(report), render_html(report)
    first = table[0]
    expected = f"{first.long_accuracy:.3f} [{first.long_accuracy_ci[0]:.3f}, {first.long_accuracy_ci[1]:.3f}]"
    section = markdown.split("## Long texts", 1)[1].split("\n## ", 1)[0]
    assert f"{first.long_accuracy_ci[0]:.3f}, {first.long_accuracy_ci[1]:.3f}" in section and "chunks" in section
    assert 'id="long-text-table"' in html and expected in html and ">chunks<" in html
    for kind, model, limit in (("zero-shot-classification", nli_model, 40), ("embedding-probe", encoder, LIMIT)):
        trial = run_plan([TrialSpec(kind=kind, model=str(model), max_length=limit, long_text="chunks")], sample,
                         settings=SETTINGS).results[0]
        assert trial.ok and trial.truncated_rows == 0, trial.error
        assert any("windows" in note for note in trial.notes)


def test_a_bad_strategy_is_refused(synthetic_csv, capsys):
    with pytest.raises(SystemExit) as exit_code:
        cli(["evaluate", "--data", str(synthetic_csv), "--long-text", "middle"])
    assert exit_code.value.code == 2 and "invalid choice: 'middle'" in capsys.readouterr().err


def test_fine_tune_refuses_a_long_text_strategy_with_a_sentence(encoder):
    trial = run_plan([TrialSpec(kind="fine-tune", model=str(encoder), long_text="chunks", folds=2, epochs=1)],
                     long_sample(), settings=SETTINGS).results[0]
    assert trial.status == "error" and "applies to classification, zero-shot and the probe" in trial.error
