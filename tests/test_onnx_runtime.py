"""The onnxruntime runtime: the same predictions as torch, int8 agreement, the export cache and its budget,
zero-shot and the probe through the same task code, and the sentences for what cannot run."""

import os
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.compare import build_comparison
from core.charts import device_chart
from core.dataset import load_csv
from core.loading import ModelSpec, load_model
from core.onnx_export import MODEL_FILE, evict_oldest
from core.results import run_to_dict, validate
from core.runner import TrialSpec, assemble_run, plan, run_trial
from core.settings import get_settings
from core.tasks import get_kind
from core.tasks.base import TaskOptions


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    """One ONNX cache for the module, so each model is exported once; few timed rows and resamples."""
    return replace(get_settings(), data_dir=tmp_path_factory.mktemp("onnx-data"), latency_rows=3, bootstrap_resamples=50)


@pytest.fixture(scope="module")
def sample(synthetic_csv):
    return load_csv(synthetic_csv)


def outputs(kind_name, folder, sample, settings, **load):
    """The raw outputs (logits, or pooled embeddings) of every row, and the predictor that made them."""
    kind = get_kind(kind_name)
    loaded = load_model(ModelSpec(str(folder)), head=kind.head, settings=settings, **load)
    predictor = kind.prepare(loaded, sample, TaskOptions(batch_size=8))
    return predictor, predictor.run(sample.texts, sample.pairs, batch_size=8), loaded


def test_float32_logits_match_torch_and_the_second_load_is_cached(trained_classifier, sample, settings):
    _, torch_logits, _ = outputs("text-classification", trained_classifier, sample, settings)
    _, onnx_logits, first = outputs("text-classification", trained_classifier, sample, settings, runtime="onnxruntime")
    torch.testing.assert_close(onnx_logits, torch_logits, atol=1e-4, rtol=1e-4)
    assert not first.export.cached and first.export.export_s > 0
    assert any("exported to ONNX in" in note for note in first.notes)
    written_ns = first.export.path.stat().st_mtime_ns

    second = run_trial(TrialSpec(kind="text-classification", model=str(trained_classifier), runtime="onnxruntime"),
                       sample, settings=settings)
    assert second.ok, second.error
    assert second.stages["onnx_cached"] is True and second.stages["onnx_export_s"] == 0
    assert second.stages["onnx_first_export_s"] == pytest.approx(first.export.export_s, abs=1e-3)
    assert first.export.path.stat().st_mtime_ns == written_ns  # not exported again
    assert any("used the cached ONNX file" in note for note in second.notes)
    expected = torch.softmax(torch_logits, dim=-1).argmax(dim=-1)
    assert [p.labels[0] for p in second.predictions] == [sample.label_set[i] for i in expected.tolist()]


def test_int8_agreement_with_torch_float32_is_an_independent_count(trained_classifier, sample, settings):
    reference = run_trial(TrialSpec(kind="text-classification", model=str(trained_classifier)), sample, settings=settings)
    int8 = run_trial(TrialSpec(kind="text-classification", model=str(trained_classifier), dtype="int8",
                               runtime="onnxruntime"), sample, settings=settings)
    assert int8.ok, int8.error
    assert int8.runtime == "onnxruntime" and int8.key.endswith("[text-classification, cpu, int8, onnxruntime]")
    assert int8.size_mb == int8.stages["onnx_size_mb"] > 0  # the quantized file, not the float32 weights
    run = assemble_run(sample, [int8, reference])
    validate(run_to_dict(run))
    comparison = build_comparison(run)
    (group,) = comparison.devices
    assert group.reference_key == reference.key  # torch float32, though the int8 trial came first
    row = next(r for r in group.rows if r.runtime == "onnxruntime")
    same = np.array([a.labels == b.labels for a, b in zip(int8.predictions, reference.predictions)])
    assert row.agreement == pytest.approx(same.mean())
    assert row.agreement >= 0.9  # a trained model: int8 keeps nearly every prediction
    figure = device_chart(comparison)
    assert "cpu, int8, onnxruntime" in {trace.name for trace in figure.data}


def test_zero_shot_uses_the_same_scoring_on_the_exported_classifier(nli_model, sample, settings):
    torch_predictor, torch_logits, _ = outputs("zero-shot-classification", nli_model, sample, settings)
    onnx_predictor, onnx_logits, _ = outputs("zero-shot-classification", nli_model, sample, settings, runtime="onnxruntime")
    torch.testing.assert_close(onnx_logits, torch_logits, atol=1e-4, rtol=1e-4)
    ours, theirs = onnx_predictor.finish(onnx_logits), torch_predictor.finish(torch_logits)
    assert ours.labels == theirs.labels
    assert ours.scores == pytest.approx(theirs.scores, abs=1e-4)


def test_probe_pools_the_exported_encoder_like_torch(encoder, sample, settings):
    torch_predictor, torch_vectors, _ = outputs("embedding-probe", encoder, sample, settings)
    onnx_predictor, onnx_vectors, loaded = outputs("embedding-probe", encoder, sample, settings, runtime="onnxruntime")
    torch.testing.assert_close(onnx_vectors, torch_vectors, atol=1e-4, rtol=1e-4)
    assert loaded.export is not None
    ours, theirs = onnx_predictor.finish(onnx_vectors), torch_predictor.finish(torch_vectors)
    assert ours.labels == theirs.labels  # the same cross-validated logistic regression on the same vectors


def test_the_size_budget_evicts_the_least_recently_used(tmp_path):
    root = tmp_path / "onnx"
    folders = []
    for age, name in enumerate(["newest", "middle", "oldest"]):
        folder = root / name
        folder.mkdir(parents=True)
        (folder / MODEL_FILE).write_bytes(b"x" * 1000)
        os.utime(folder, (1_000_000 - age * 100, 1_000_000 - age * 100))
        folders.append(folder)
    newest, middle, oldest = folders
    assert evict_oldest(root, 2500, keep=newest) == [oldest]
    assert evict_oldest(root, 1500, keep=middle) == [newest]  # the one in use stays even when it is the oldest
    assert [p.name for p in root.iterdir()] == ["middle"]


def test_cuda_without_onnxruntime_gpu_is_an_error_row_that_says_so(trained_classifier, sample, settings, monkeypatch):
    monkeypatch.setattr("core.runtimes.available_providers", lambda: ["CPUExecutionProvider"])
    result = run_trial(TrialSpec(kind="text-classification", model=str(trained_classifier), device="cuda",
                                 runtime="onnxruntime"), sample, settings=settings)
    assert result.status == "error"
    assert result.error == (
        "ONNX Runtime cannot use cuda here: the installed onnxruntime has no CUDA execution provider (the onnxruntime-gpu "
        "package is not installed). Install onnxruntime-gpu in place of onnxruntime to run ONNX Runtime on the GPU, "
        "or run the onnxruntime trial on the CPU.")


@pytest.mark.parametrize("spec, says", [
    (TrialSpec(kind="text-classification", model="m", dtype="float16", runtime="onnxruntime"),
     "The onnxruntime runtime runs float32 and int8 here, not float16."),
    (TrialSpec(kind="fine-tune", model="m", runtime="onnxruntime"),
     "The onnxruntime runtime does not run fine-tune trials"),
    (TrialSpec(kind="text-classification", model="m", runtime="tensorrt"), "Unknown runtime 'tensorrt'. Use one of: torch, onnxruntime."),
])
def test_what_onnxruntime_cannot_run_is_refused_before_loading(spec, says, sample, settings):
    result = run_trial(spec, sample, settings=settings)
    assert result.status == "error" and says in result.error


def test_plan_crosses_runtimes_like_dtypes():
    specs = plan(["m"], kind="text-classification", dtypes=["float32", "int8"], runtimes=["torch", "onnxruntime"])
    models = [(s.dtype, s.runtime) for s in specs if s.model == "m"]
    assert models == [("float32", "torch"), ("float32", "onnxruntime"), ("int8", "torch"), ("int8", "onnxruntime")]
    assert {s.runtime for s in specs if s.model is None} == {"torch"}  # baselines: no runtime choice (shown as n/a)
