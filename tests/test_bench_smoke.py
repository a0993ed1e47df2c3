"""A smoke run of the benchmark with tiny models and a handful of rows, so bench/ cannot rot.

No timing asserts: only that every section runs through the real code path and the tables
have the rows and columns they should, with finite positive ratios.
"""

import math

import pytest

from bench.run import SECTIONS, BenchOptions, parse_args, run_benchmark
from bench.table import render


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    options = BenchOptions(
        rows=8, zs_rows=4, repeats=1, scale_rows=(6, 12), scale_repeats=1, multi_rows=6, tiny=True, isolate=False,
        models_dir=tmp_path_factory.mktemp("bench-models"), warmup_rows=4, log=False,
    )
    return run_benchmark(options)


def methods(result, section):
    return [(row.model, row.method) for row in result.speed if row.section == section]


def test_every_section_has_its_rows(result):
    classification = methods(result, "classification")
    assert len(classification) == 10  # 2 models x (engine, loop, batched pipeline, 2 bounds)
    assert [m for _, m in classification[:5]] == [
        "(c) engine", "(a) pipeline, one call per text", "(b) pipeline(batch_size=32)",
        "(d) bound: linear-layer FLOPs / matmul rate", "(d') bound incl. attention matmuls",
    ]
    assert [m for _, m in methods(result, "zero-shot")] == [
        "(c) engine", "(a) one model call per (text, label) pair", "(b) zero-shot pipeline(batch_size=32)",
        "(d) bound: linear-layer FLOPs / matmul rate", "(d') bound incl. attention matmuls",
    ]
    assert [m for _, m in methods(result, "precision")] == ["float32", "bfloat16", "int8"] * 2
    assert [r.rows for r in result.memory if r.section == "scale"] == [6, 12]
    assert len([r for r in result.memory if r.section == "models"]) == 6  # five models and the comparison
    assert set(result.breakdowns) == {"classification: DistilBERT-tiny (random)", "zero-shot: DistilBERT-tiny NLI (random)"}


def test_ratios_are_finite_positive_and_agreement_is_a_share(result):
    with_ratio = [row for row in result.speed if row.method != "(c) engine"]
    assert with_ratio and all(row.ratio is not None and math.isfinite(row.ratio) and row.ratio > 0 for row in with_ratio)
    assert all(row.seconds > 0 and math.isfinite(row.texts_per_s) for row in result.speed)
    assert all(0.0 <= row.agreement <= 1.0 for row in result.speed if row.agreement is not None)
    # the baselines predict with the same model, so they must agree with the engine row for row
    baselines = [row for row in result.speed if row.method.startswith(("(a)", "(b)"))]
    assert all(row.agreement == 1.0 for row in baselines)
    assert all(row.peak_rss_mb > 0 for row in result.memory)


def test_tables_render_with_their_columns(result):
    text = render(result)
    for title in ("Text classification", "Zero-shot classification", "Precision variants", "Where the engine's time goes", "Scale", "Models in sequence"):
        assert f"### {title}" in text
    assert "| model | method | texts (inputs) | median s | texts/s | this / engine | target |" in text
    assert "| what | rows | texts/s | peak RSS MB | trial memory MB | repeats | note |" in text


def test_the_command_line_checks_sections():
    options, _ = parse_args(["--sections", "classification,scale", "--scale", "10,20", "--rows", "5"])
    assert options.sections == ("classification", "scale") and options.scale_rows == (10, 20) and options.rows == 5
    assert set(SECTIONS) == {"classification", "zero-shot", "precision", "scale", "models"}
    with pytest.raises(SystemExit):
        parse_args(["--sections", "speed"])
