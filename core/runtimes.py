"""What runs a model's forward pass: torch (the default) or ONNX Runtime, an axis like devices and dtypes.

An ONNX Runtime model is an `OnnxModel`: called like a transformers model (`model(**batch).logits`
or `.last_hidden_state`), so batching, pooling, zero-shot scoring and the probe's cross-validation
are the same code for both runtimes; only the forward pass differs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch

from core.errors import DeviceError, ModelLoadError
from core.loading import (
    LoadedModel, ModelFiles, ModelSpec, check_architecture_known, config_overrides, load_tokenizer, read_config,
    read_model,
)
from core.onnx_export import (
    OUTPUTS, OnnxExport, cache_dir, cache_key, cached_export, evict_oldest, export_onnx, folder_fingerprint,
    quantize_int8, store_export,
)
from core.settings import Settings
from core.tokenizing import check_tokenizer_fits, resolve_max_length

TORCH, ONNXRUNTIME = "torch", "onnxruntime"
RUNTIMES = (TORCH, ONNXRUNTIME)
#: The evaluation kinds whose forward pass ONNX Runtime can run (a classifier's logits, an encoder's states).
ONNX_KINDS = ("text-classification", "zero-shot-classification", "embedding-probe", "auto")
ONNX_DTYPES = ("float32", "int8")
CUDA_PROVIDER = "CUDAExecutionProvider"


def check_runtime(runtime: str, device: str, dtype: str, kind: str) -> None:
    """Refuse, with the reason and the fix, a runtime this trial cannot use on this machine."""
    if runtime not in RUNTIMES:
        raise DeviceError(f"Unknown runtime {runtime!r}.", hint=f"Use one of: {', '.join(RUNTIMES)}.")
    if runtime == TORCH:
        return
    if kind not in ONNX_KINDS:
        raise DeviceError(f"The onnxruntime runtime does not run {kind} trials; it runs text-classification, "
                          "zero-shot-classification and embedding-probe.", hint="Run this kind with the torch runtime.")
    if dtype not in ONNX_DTYPES:
        raise DeviceError(f"The onnxruntime runtime runs float32 and int8 here, not {dtype}.",
                          hint=f"Pick float32 or int8 for onnxruntime, or run {dtype} with the torch runtime.")
    if device.strip().lower().startswith("cuda") and CUDA_PROVIDER not in available_providers():
        raise DeviceError(
            f"ONNX Runtime cannot use {device} here: the installed onnxruntime has no CUDA execution provider "
            "(the onnxruntime-gpu package is not installed).",
            hint="Install onnxruntime-gpu in place of onnxruntime to run ONNX Runtime on the GPU, "
                 "or run the onnxruntime trial on the CPU.")


def available_providers() -> list[str]:
    try:
        import onnxruntime
    except ImportError as error:
        raise DeviceError("The onnxruntime package is not installed.",
                          hint="Install the pinned requirements (pip install -r requirements.txt).") from error
    return list(onnxruntime.get_available_providers())


class OnnxModel:
    """An ONNX Runtime session with the call shape of a transformers model."""

    def __init__(self, session, config, output: str) -> None:
        self.session, self.config, self.output = session, config, output
        self.input_names = [i.name for i in session.get_inputs()]

    def __call__(self, **batch: torch.Tensor) -> SimpleNamespace:
        feeds = {name: batch[name].detach().cpu().numpy() for name in self.input_names}
        values = self.session.run([self.output], feeds)[0]
        return SimpleNamespace(**{self.output: torch.from_numpy(values)})


@dataclass(frozen=True)
class OnnxLoad:
    model: OnnxModel
    export: OnnxExport


def open_session(path: Path, device: torch.device):
    """An inference session on the trial's device, with as many threads as torch uses (a fair comparison)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: the optimizer's notes are not the user's concern
    providers: list = ["CPUExecutionProvider"]
    if device.type == "cuda":
        providers = [(CUDA_PROVIDER, {"device_id": device.index or 0}), "CPUExecutionProvider"]
    return onnxruntime.InferenceSession(str(path), options, providers=providers)


def onnx_file(files, head: str, dtype: str, input_names: list[str], overrides: dict, settings, read_torch) -> OnnxExport:
    """The cached ONNX file for this model, head and dtype; exported (and quantized) the first time."""
    identity = files.sha or folder_fingerprint(files.local_dir)
    root = cache_dir(settings.data_dir)
    folder = root / cache_key(identity, head, dtype, input_names, overrides)
    found = cached_export(folder)
    if found is None:
        if dtype == "int8":
            source = onnx_file(files, head, "float32", input_names, overrides, settings, read_torch)
            made = "quantized the cached float32 ONNX file to int8" if source.cached else "exported to ONNX and quantized to int8"
            found = store_export(folder, lambda target: quantize_int8(source.path, target), parameters=source.parameters,
                                 made=made, earlier_s=source.export_s)
        else:
            model = read_torch()
            parameters = sum(p.numel() for p in model.parameters())
            found = store_export(folder, lambda target: export_onnx(model, head, input_names, target), parameters=parameters,
                                 made="exported to ONNX")
    evict_oldest(root, int(settings.onnx_cache_mb * 2**20), keep=folder)
    return found


def load_onnx(files, head: str, device: torch.device, dtype: str, input_names: list[str], overrides: dict, settings,
              config, read_torch) -> OnnxLoad:
    """An `OnnxModel` for the trial: the cached (or newly exported) file in a session on `device`."""
    if head not in OUTPUTS:
        raise ModelLoadError(f"The onnxruntime runtime cannot run a {head} model.", hint="Use the torch runtime.")
    export = onnx_file(files, head, dtype, input_names, overrides, settings, read_torch)
    return OnnxLoad(OnnxModel(open_session(export.path, device), config, OUTPUTS[head]), export)


def load_onnx_model(spec: ModelSpec, files: ModelFiles, head: str, device: torch.device, dtype: str,
                    settings: Settings) -> LoadedModel:
    """The model as an ONNX Runtime session (core.runtimes): its torch weights are read only when the
    ONNX file for this commit is not cached yet; the load time includes any export."""
    started = time.perf_counter()
    config = read_checked_config(files, spec)
    tokenizer, notes = load_tokenizer(spec, files, settings)
    check_tokenizer_fits(tokenizer, config, spec.tokenizer or spec.source)
    max_length = resolve_max_length(spec, tokenizer, config)
    inputs = [k for k in tokenizer.model_input_names if k in ("input_ids", "attention_mask", "token_type_ids")]
    onnx = load_onnx(files, head, device, dtype, inputs, config_overrides(spec), settings, config,
                     lambda: read_model(files, spec, head, settings))
    notes = [*notes, onnx.export.note()]
    return LoadedModel(spec, files, onnx.model, tokenizer, str(device), dtype, max_length,
                       time.perf_counter() - started, onnx.export.parameters, notes, onnx.export)


def read_checked_config(files: ModelFiles, spec: ModelSpec):
    """The model's config with the spec's overrides, without its weights (no remote code)."""
    from transformers import AutoConfig

    check_architecture_known(read_config(files.local_dir, spec.source), spec)
    try:
        return AutoConfig.from_pretrained(files.local_dir, trust_remote_code=False, **config_overrides(spec))
    except (OSError, ValueError, KeyError) as error:
        raise ModelLoadError(f"{spec.source}: its config.json could not be read ({str(error).splitlines()[0][:200]}).",
                             hint="Re-save or re-download the model.") from error
