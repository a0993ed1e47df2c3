"""Slices: every trial scored per metadata value and text-length quartile, what stands out said in
words, and the slices carried through the Compare page, every report format, the CLI and the Sample page.

The run here is hand-made (tests/report_fixtures.py style): model A wins overall and loses the
'chat' channel to model B; 'fax' has too few rows to rank. Per-slice numbers are checked against
scikit-learn on the same rows, picked by pandas from the CSV itself.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from sklearn.metrics import accuracy_score, f1_score

from core.compare import SliceTable, build_comparison
from core.compare.model import DROP, LEADER_CHANGE, MIN_SLICE_ROWS, TOO_SMALL
from core.dataset import load_csv
from core.markdown import md
from core.report import build_report, render_csv, render_html, render_json, render_markdown, report_from_dict
from core.results import run_from_dict, run_to_dict, validate
from core.slices import LENGTH_SLICE, length_buckets
from core.working_set import SampleFile, WorkingSet
from tests.report_fixtures import HYPERLINK, IMG, SCRIPT, hostile_run, make_run, make_trial

LABELS = ("bug", "feature", "question")
#: channel -> (rows, rows model A gets right, rows model B gets right)
CHANNELS = {"email": (70, 67, 49), "chat": (30, 15, 27), "fax": (5, 3, 4)}
MODEL_A, MODEL_B = "org/model-a", "org/model-b"


def channel_csv() -> bytes:
    """105 tickets: text lengths 3 to 19 words, labels cycling, a channel per row (email, chat, fax)."""
    channels = [channel for channel, (rows, _, _) in CHANNELS.items() for _ in range(rows)]
    lines = ["text,label,channel"]
    for i, channel in enumerate(channels):
        words = " ".join(f"w{j}" for j in range(3 + (i * 7) % 17))
        lines.append(f"ticket {words},{LABELS[i % 3]},{channel}")
    return ("\n".join(lines) + "\n").encode()


def predictions_for(truth: list[str], channels: list[str], right_of: int) -> list[str]:
    """Right on the first N rows of each channel (N from CHANNELS), a wrong label elsewhere."""
    seen: dict[str, int] = {}
    predicted = []
    for label, channel in zip(truth, channels):
        seen[channel] = seen.get(channel, 0) + 1
        right = seen[channel] <= CHANNELS[channel][right_of]
        predicted.append(label if right else LABELS[(LABELS.index(label) + 1) % 3])
    return predicted


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(channel_csv()), dtype=str)


@pytest.fixture(scope="module")
def run_and_sample(frame):
    sample = load_csv(channel_csv(), slice_columns=["channel"], source_name="tickets.csv")
    truth, channels = frame["label"].tolist(), frame["channel"].tolist()
    trials = [
        make_trial(MODEL_A, sample, predictions_for(truth, channels, 1), p50_ms=20.0),
        make_trial(MODEL_B, sample, predictions_for(truth, channels, 2), p50_ms=5.0),
        make_trial("baseline-majority", sample, ["bug"] * len(truth), kind="baseline-majority", dtype="n/a", p50_ms=0.01),
    ]
    run = make_run(sample, trials)  # with the run's slices, as assemble_run makes them
    return run, sample


@pytest.fixture(scope="module")
def comparison(run_and_sample):
    run, sample = run_and_sample
    return build_comparison(run, sample=sample)


def slice_of(table: SliceTable, column: str, value: str):
    return next(row for row in table.slices if (row.column, row.value) == (column, value))


# -- the numbers -------------------------------------------------------------------------------


def test_model_a_wins_overall(comparison):
    assert comparison.leaderboard[0].model == MODEL_A and comparison.leaderboard[1].model == MODEL_B
    assert comparison.leaderboard[0].accuracy == pytest.approx(85 / 105)


def test_every_trial_is_scored_on_every_slice_like_sklearn_on_the_same_rows(comparison, run_and_sample, frame):
    run, _ = run_and_sample
    table = comparison.slices
    assert table.keys == [r.key for r in comparison.ok_rows], "leaderboard order, baseline included"
    assert table.columns == ["channel", LENGTH_SLICE]
    assert [row.value for row in table.slices if row.column == "channel"] == ["chat", "email", "fax"]
    trials = {t.key: t for t in run.results}
    for channel, rows in frame.groupby("channel").groups.items():
        row = slice_of(table, "channel", channel)
        assert row.rows == len(rows) == CHANNELS[channel][0]
        truth = frame.loc[rows, "label"].tolist()
        for cell in row.cells:
            predicted = [trials[cell.key].predictions[i].labels[0] for i in rows]
            assert cell.rows == len(rows)
            assert cell.accuracy == pytest.approx(accuracy_score(truth, predicted))
            assert cell.macro_f1 == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0))
            assert cell.accuracy_ci[0] <= cell.accuracy <= cell.accuracy_ci[1]
    assert slice_of(table, "channel", "chat").cell(comparison.leaderboard[0].key).accuracy == pytest.approx(0.5)


def test_the_leader_changes_on_chat_and_is_called_out_by_name(comparison):
    a, b = comparison.leaderboard[0], comparison.leaderboard[1]
    chat = slice_of(comparison.slices, "channel", "chat")
    assert chat.leader == b.key and slice_of(comparison.slices, "channel", "email").leader == a.key
    changes = [c for c in comparison.slices.callouts if c.kind == LEADER_CHANGE]
    called = next(c for c in changes if (c.column, c.value) == ("channel", "chat"))
    assert called.trial == b.key
    assert called.sentence.startswith(f"On channel: chat (30 rows), {b.name} leads with accuracy 0.900 [")
    assert f"{a.name}, the most accurate overall, has 0.500 [" in called.sentence
    assert not any(c.value in ("email", "fax") for c in changes)


def test_a_drop_of_more_than_ten_points_with_separate_intervals_is_called_out(comparison):
    a = comparison.leaderboard[0]
    chat = slice_of(comparison.slices, "channel", "chat").cell(a.key)
    assert chat.accuracy_ci[1] < a.accuracy_ci[0], "the fixture's drop is real"
    drops = [c for c in comparison.slices.callouts if c.kind == DROP]
    called = next(c for c in drops if c.trial == a.key and c.value == "chat")
    assert f"{a.name} drops on channel: chat (30 rows): accuracy 0.500 [" in called.sentence
    assert f"against {a.accuracy:.3f} [" in called.sentence and "31 points lower" in called.sentence
    b = comparison.leaderboard[1]
    assert not any(c.trial == b.key and c.value == "email" for c in drops), "B's 6 points on email are no drop"


def test_a_small_slice_says_so_instead_of_ranking(comparison):
    fax = slice_of(comparison.slices, "channel", "fax")
    assert fax.rows == 5 < MIN_SLICE_ROWS and fax.small and fax.leader is None
    b = fax.cell(comparison.leaderboard[1].key)
    assert b.accuracy == pytest.approx(0.8), "B is ahead on fax, but that is not called a leader change"
    small = [c for c in comparison.slices.callouts if c.kind == TOO_SMALL]
    assert len(small) == 1 and "channel: fax (5 rows)" in small[0].sentence and "Too small to rank" in small[0].sentence
    assert not any(c.value == "fax" for c in comparison.slices.callouts if c.kind != TOO_SMALL)


def test_length_buckets_are_the_quartiles_pandas_qcut_finds(frame, comparison):
    words = frame["text"].str.split().str.len()
    codes = pd.qcut(words, 4, labels=False, duplicates="drop")
    buckets = length_buckets(words.tolist())
    for code, bucket in zip(codes, buckets):
        members = words[codes == code]
        assert bucket == f"Q{code + 1}: {members.min()}-{members.max()} tokens"
    assert len(set(buckets)) == 4
    rows = [row for row in comparison.slices.slices if row.column == LENGTH_SLICE]
    assert [row.value for row in rows] == sorted(set(buckets)) and sum(row.rows for row in rows) == len(frame)


def test_slice_intervals_are_the_percentile_bootstrap_of_the_same_rows(comparison, run_and_sample):
    from scipy import stats

    run, _ = run_and_sample
    trials = {t.key: t for t in run.results}
    for row in comparison.slices.slices:
        if row.column != "channel":
            continue
        rows = [i for i, value in enumerate(run.slices["channel"]) if value == row.value]
        for cell in row.cells:
            correct = np.array([trials[cell.key].predictions[i].correct for i in rows], dtype=float)
            resampled = stats.bootstrap((correct,), np.mean, n_resamples=20_000, method="percentile",
                                        rng=np.random.default_rng(1)).confidence_interval
            assert cell.accuracy_ci == pytest.approx((resampled.low, resampled.high), abs=1 / len(rows) + 1e-9)


def test_equal_lengths_make_one_bucket_and_no_rows_none():
    assert length_buckets([5, 5, 5]) == ["Q1: 5-5 tokens"] * 3 and length_buckets([]) == []


def test_without_the_sample_accuracy_is_still_sliced_but_macro_f1_is_unknown(run_and_sample, comparison):
    run, _ = run_and_sample
    bare = build_comparison(run)
    chat = slice_of(bare.slices, "channel", "chat")
    assert [c.accuracy for c in chat.cells] == [c.accuracy for c in slice_of(comparison.slices, "channel", "chat").cells]
    assert all(c.macro_f1 is None for c in chat.cells)
    assert bare.slices.sentences == comparison.slices.sentences


def test_a_run_without_slices_has_an_empty_table_with_a_note(run_and_sample):
    run, _ = run_and_sample
    bare = run_from_dict({**run_to_dict(run), "slices": {}})
    table = build_comparison(bare).slices
    assert table.slices == [] and table.callouts == [] and table.note


def test_slices_survive_the_results_json(run_and_sample, comparison):
    run, sample = run_and_sample
    data = json.loads(json.dumps(run_to_dict(run)))
    validate(data)
    again = run_from_dict(data)
    assert again.slices["channel"] == sample.metadata["channel"]
    assert build_comparison(again, sample=sample).slices == comparison.slices


# -- the report, in every format ----------------------------------------------------------------


@pytest.fixture(scope="module")
def report(run_and_sample):
    run, sample = run_and_sample
    return build_report(run, sample=sample, generated_at="2025-02-03T04:05:06+00:00")


def callout(report, kind: str, value: str) -> str:
    """The call-out of `kind` about slice `value` (the one too-small call-out names every small slice)."""
    return next(c.sentence for c in report.comparison.slices.callouts
                if c.kind == kind and (c.value == value or kind == TOO_SMALL and value in c.sentence))


def test_html_report_says_the_leader_changes_and_shows_the_table_and_heatmap(report):
    html = render_html(report)
    slices = html.split('<section id="slices">', 1)[1].split("</section>", 1)[0]
    for kind, value in ((LEADER_CHANGE, "chat"), (DROP, "chat"), (TOO_SMALL, "fax")):
        assert f"<li>{escape(callout(report, kind, value))}</li>" in slices
    assert 'data-chart="slice-accuracy"' in slices and html.count('id="slice-accuracy"') == 1
    a, b = report.comparison.leaderboard[0], report.comparison.leaderboard[1]
    chat = slice_of(report.comparison.slices, "channel", "chat")
    assert f"<td class=\"num\">★ {chat.cell(b.key).accuracy:.3f} [{chat.cell(b.key).accuracy_ci[0]:.3f}" in slices
    assert f"<td class=\"num\">{chat.cell(a.key).accuracy:.3f} [" in slices, "the overall leader has no star on chat"
    assert "channel: fax (too few rows to rank)" in slices


def test_markdown_report_says_so_too(report):
    text = render_markdown(report)
    slices = text.split("## Slices\n", 1)[1].split("\n## ", 1)[0]
    assert f"- {md(callout(report, LEADER_CHANGE, 'chat'))}" in slices
    assert f"- {md(callout(report, TOO_SMALL, 'fax'))}" in slices
    table = [line for line in slices.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(report.comparison.slices.slices)
    assert table[0] == "| slice | rows | " + " | ".join(md(n) for n in report.comparison.slices.names) + " |"


def test_csv_has_every_slice_and_trial_with_raw_numbers(report, frame):
    table = pd.read_csv(io.StringIO(render_csv(report)["slices"]))
    slices = report.comparison.slices
    assert len(table) == len(slices.slices) * len(slices.keys)
    chat = table[(table["slice_column"] == "channel") & (table["slice"] == "chat")].set_index("model")
    assert chat.loc[MODEL_B, "leads_slice"] and not chat.loc[MODEL_A, "leads_slice"]
    assert chat.loc[MODEL_A, "accuracy"] == pytest.approx(0.5) and (chat["rows"] == 30).all()
    assert table[table["slice"] == "fax"]["too_small_to_rank"].all()


def test_json_report_carries_the_slice_table_and_reads_back_the_same(report):
    data = json.loads(render_json(report))
    validate(data)
    block = data["report"]["slice_table"]
    assert [c["sentence"] for c in block["callouts"]] == report.comparison.slices.sentences
    assert len(block["slices"]) == len(report.comparison.slices.slices)
    again = report_from_dict(data)
    assert again.comparison.slices == report.comparison.slices
    assert render_markdown(again) == render_markdown(report)


def test_a_rebuilt_command_keeps_the_slice_columns(run_and_sample):
    run, sample = run_and_sample
    rebuilt = build_report(run_from_dict({**run_to_dict(run), "command": None}), sample=sample)
    assert "--slice-column channel" in rebuilt.reproduce


def test_hostile_slice_names_and_values_stay_inert():
    from core import charts

    run, sample = hostile_run()
    evil = build_report(run, sample=sample)
    column = f"channel {SCRIPT}"
    assert evil.comparison.slices.columns[0] == column
    html = render_html(evil)
    assert str(escape(f"{column}: {IMG}")) in html and f"{column}: {IMG}" not in html
    slices = render_markdown(evil).split("## Slices\n", 1)[1].split("\n## ", 1)[0]
    assert md(f"{column}: {HYPERLINK}") in slices and SCRIPT not in slices and IMG not in slices
    figure = charts.slice_chart(evil.comparison)
    assert all("<" not in label for label in [*figure.data[0].y, *figure.data[0].x])
    rows = pd.read_csv(io.StringIO(render_csv(evil)["slices"]), keep_default_na=False, dtype=str)
    assert "'" + HYPERLINK in set(rows["slice"]) and "-1" in set(rows["slice"]), "formulas defused, numbers kept"


# -- the command line ---------------------------------------------------------------------------


def test_cli_slice_column_reaches_the_results_file_and_the_callouts(tmp_path, capsys):
    from core.__main__ import main

    data, out = tmp_path / "tickets.csv", tmp_path / "results.json"
    data.write_bytes(channel_csv())
    assert main(["evaluate", "--data", str(data), "--slice-column", "channel", "--out", str(out), "--quiet"]) == 0
    written = json.loads(out.read_text())
    validate(written)
    assert written["slices"]["channel"] == [channel for channel, (rows, _, _) in CHANNELS.items() for _ in range(rows)]
    assert set(written["slices"]) == {"channel", LENGTH_SLICE}
    printed = capsys.readouterr().out
    assert "slice: Too small to rank" in printed and "channel: fax (5 rows)" in printed


@pytest.mark.parametrize(("column", "sentence"), [
    ("nope", "error: There is no column 'nope' to slice by."),
    ("label", "error: 'label' is the text or label column; slices need a metadata column."),
])
def test_cli_refuses_a_column_it_cannot_slice_by(tmp_path, capsys, column, sentence):
    from core.__main__ import main

    data, out = tmp_path / "tickets.csv", tmp_path / "results.json"
    data.write_bytes(channel_csv())
    assert main(["evaluate", "--data", str(data), "--slice-column", column, "--out", str(out), "--quiet"]) == 2
    assert sentence in capsys.readouterr().err and not out.exists()


# -- the working set keeps the choice ------------------------------------------------------------


def test_the_working_set_keeps_the_slice_columns_and_reads_older_documents():
    raw = channel_csv()
    sample = load_csv(raw, slice_columns=["channel"], source_name="t.csv")
    kept = WorkingSet(sample=SampleFile.of(sample, name="t.csv", raw=raw))
    assert kept.sample.slice_columns == ("channel",)
    back = WorkingSet.from_json(kept.to_json(), raw)
    assert back.sample == kept.sample and back.sample.load().metadata == sample.metadata
    older = json.loads(kept.to_json())
    del older["sample"]["slice_columns"]
    assert WorkingSet.from_json(json.dumps(older), raw).sample.load().metadata == {}


# -- the rules, one at a time ------------------------------------------------------------------


def test_slice_macro_f1_is_sklearns_over_the_labels_present():
    from sklearn.preprocessing import MultiLabelBinarizer

    from core.compare.slices import slice_macro_f1

    truth, predicted = ["bug", "bug", "feature", "bug"], ["bug", "feature", "feature", "question"]
    expected = f1_score(truth, predicted, average="macro")  # scikit-learn's labels: those in truth or predictions
    assert slice_macro_f1([(t,) for t in truth], [(p,) for p in predicted], list(LABELS), multi_label=False) == pytest.approx(expected)
    unknown = slice_macro_f1([("bug",), ("feature",)], [("bug",), ("spam",)], list(LABELS), multi_label=False)
    assert unknown == pytest.approx(f1_score(["bug", "feature"], ["bug", "spam"], labels=["bug", "feature"], average="macro"))
    multi_truth, multi_pred = [("bug", "feature"), ("bug",), ("feature",)], [("bug",), ("bug", "feature"), ("feature",)]
    binarizer = MultiLabelBinarizer(classes=["bug", "feature"])
    expected = f1_score(binarizer.fit_transform(multi_truth), binarizer.transform(multi_pred), average="macro")
    assert slice_macro_f1(multi_truth, multi_pred, list(LABELS), multi_label=True) == pytest.approx(expected)


def overall_row(accuracy: float, interval: tuple[float, float]):
    from core.compare import LeaderboardRow

    return LeaderboardRow(key="a", name="model a", model="a", kind="text-classification", device="cpu", dtype="float32",
                          status="ok", baseline=False, accuracy=accuracy, accuracy_ci=interval)


def test_a_drop_needs_both_more_than_ten_points_and_intervals_apart():
    from core.compare import SliceCell, SliceRow
    from core.compare.slices import drop

    def on_slice(accuracy, interval):
        cell = SliceCell("a", "model a", 40, accuracy, interval, None)
        return SliceRow("channel", "web", 40, False, "a", [cell]), cell

    overall = overall_row(0.80, (0.75, 0.85))
    assert drop(*on_slice(0.65, (0.50, 0.80)), overall) is None, "15 points, but the intervals overlap"
    assert drop(*on_slice(0.72, (0.60, 0.74)), overall) is None, "apart, but only 8 points"
    called = drop(*on_slice(0.65, (0.50, 0.74)), overall)
    assert called.kind == DROP and "model a drops on channel: web (40 rows): accuracy 0.650 [0.500, 0.740]" in called.sentence


def test_a_leader_change_within_overlapping_intervals_may_be_chance():
    from core.compare import SliceCell, SliceRow
    from core.compare.slices import leader_change

    cells = [SliceCell("a", "model a", 40, 0.70, (0.55, 0.85), None), SliceCell("b", "model b", 40, 0.75, (0.60, 0.88), None)]
    called = leader_change(SliceRow("channel", "web", 40, False, "b", cells), overall_row(0.8, (0.75, 0.85)))
    assert called.trial == "b" and called.sentence.endswith("Their intervals overlap, so the difference may be chance.")
    tied = [cells[0], SliceCell("b", "model b", 40, 0.70, (0.55, 0.85), None)]
    assert leader_change(SliceRow("channel", "web", 40, False, "b", tied), overall_row(0.8, (0.75, 0.85))) is None
