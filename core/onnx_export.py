"""A model's ONNX file for ONNX Runtime: exported once per model commit, head and dtype, then cached.

`torch.onnx.export(dynamo=True)` writes the graph with dynamic batch and sequence axes (the
TorchScript exporter bakes transformers 5's attention-mask shapes into the graph, and optimum's
exporter does not install beside transformers 5.23). int8 is ONNX Runtime's dynamic quantization
of the float32 export. Files live in `<data dir>/onnx/<key>/`, the key a hash of the model's commit
(or, for a local folder, its files' names, sizes and times) and what shapes the graph; the least
recently used are deleted when the folder grows past its size budget.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import ModelLoadError

MODEL_FILE = "model.onnx"
META_FILE = "export.json"
#: Bumped when the export changes, so files written by an older way are not reused.
EXPORT_VERSION = 1
OUTPUTS = {"classifier": "logits", "encoder": "last_hidden_state"}
#: Past this many bytes of weights the graph keeps them in a `.data` file beside it (protobuf stops at 2 GB).
EXTERNAL_DATA_BYTES = 1_500_000_000


@dataclass(frozen=True)
class OnnxExport:
    """An ONNX file ready to load, and what getting it cost this time."""

    path: Path
    cached: bool
    export_s: float  # seconds spent exporting (and quantizing) this time; 0 when the file was cached
    first_export_s: float  # what the export cost when it was made
    parameters: int
    size_mb: float
    made: str = "exported to ONNX"  # what this load did when the file was not cached

    def note(self) -> str:
        if self.cached:
            return (f"ONNX Runtime: used the cached ONNX file ({self.size_mb:.0f} MB; making it took "
                    f"{self.first_export_s:.1f} s the first time).")
        return f"ONNX Runtime: {self.made} in {self.export_s:.1f} s (included in the load time; cached for later trials)."


class ExportedHead(torch.nn.Module):
    """The model with named tensor inputs and one tensor output: what the exporter traces."""

    def __init__(self, model: torch.nn.Module, output: str) -> None:
        super().__init__()
        self.model, self.output = model, output

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        return getattr(self.model(input_ids=input_ids, attention_mask=attention_mask, **extra), self.output)


def cache_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "onnx"


def cache_key(identity: str, head: str, dtype: str, input_names: list[str], overrides: dict) -> str:
    """Which file a trial needs: the model's identity (commit or folder fingerprint) and what shapes the graph."""
    parts = {"model": identity, "head": head, "dtype": dtype, "inputs": sorted(input_names), "overrides": overrides,
             "torch": torch.__version__, "export": EXPORT_VERSION}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def folder_fingerprint(folder: Path) -> str:
    """A local folder's identity without a commit: every file's name, size and modification time."""
    entries = sorted((p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                     for p in folder.rglob("*") if p.is_file())
    return "folder:" + hashlib.sha256(json.dumps([str(folder.resolve()), entries]).encode()).hexdigest()


def cached_export(folder: Path) -> OnnxExport | None:
    """The export in `folder`, marked as just used, or None if it is not complete."""
    meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
    if not (meta_path.is_file() and model_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    folder.touch()  # last use: what eviction goes by
    return OnnxExport(model_path, True, 0.0, meta["export_s"], meta["parameters"], folder_size(folder) / 2**20)


def export_onnx(model: torch.nn.Module, head: str, input_names: list[str], target: Path) -> None:
    """Write `model` as ONNX to `target` with dynamic batch and sequence axes."""
    example = example_inputs(input_names, model.config)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with warnings.catch_warnings(), quiet_exporter():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                ExportedHead(model, OUTPUTS[head]).eval(), (), target, kwargs=example, input_names=list(example),
                output_names=[OUTPUTS[head]], dynamic_shapes={name: {0: batch, 1: sequence} for name in example},
                dynamo=True, optimize=True, external_data=weights_bytes(model) > EXTERNAL_DATA_BYTES, verbose=False,
            )
        except Exception as error:  # noqa: BLE001 - the exporter raises many kinds; the trial needs one sentence
            first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise ModelLoadError(f"This model could not be exported to ONNX ({type(error).__name__}: {first}).",
                                 hint="Run it with the torch runtime.") from error


def weights_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def example_inputs(input_names: list[str], config) -> dict[str, torch.Tensor]:
    """Two rows of eight tokens, the second padded: sizes the exporter must keep dynamic."""
    vocab = max(int(getattr(config, "vocab_size", 100) or 100), 10)
    ids = (torch.arange(16, dtype=torch.int64).reshape(2, 8) % (vocab - 5)) + 5
    mask = torch.ones(2, 8, dtype=torch.int64)
    mask[1, 5:] = 0
    example = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in input_names:
        example["token_type_ids"] = torch.zeros(2, 8, dtype=torch.int64)
    return example


class quiet_exporter:
    """Keep the exporter's progress lines, its "torchvision is not installed" warnings and the quantizer's
    advice to pre-process (we do not: it leaves large files in the working directory) out of the log."""

    names = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")

    def __enter__(self):
        self.levels = {name: logging.getLogger(name).level for name in self.names}
        for name in self.names:
            logging.getLogger(name).setLevel(logging.ERROR)
        logging.getLogger().addFilter(self.drop_advice)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger().removeFilter(self.drop_advice)
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)

    @staticmethod
    def drop_advice(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Please consider to run pre-processing")


def quantize_int8(source: Path, target: Path) -> None:
    """ONNX Runtime dynamic int8 quantization with per-channel weight scales (as the torch int8 path);
    its temporary files go to a temporary folder, never the working directory."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="msd-quantize-") as scratch, quiet_exporter():
        quantize_dynamic(source, Path(scratch) / MODEL_FILE, weight_type=QuantType.QInt8, per_channel=True,
                         use_external_data_format=folder_size(source.parent) > EXTERNAL_DATA_BYTES)
        for written in Path(scratch).iterdir():  # the graph, and its weights file when it has one
            shutil.move(str(written), target.parent / written.name)


def store_export(folder: Path, write, *, parameters: int, made: str, earlier_s: float = 0.0) -> OnnxExport:
    """Run `write(path)` into a temporary folder beside `folder`, then move it into place whole; its cost
    counts `earlier_s` too (the float32 export an int8 file is quantized from)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        write(staging / MODEL_FILE)
        export_s = time.perf_counter() - started + earlier_s
        (staging / META_FILE).write_text(json.dumps({"export_s": round(export_s, 3), "parameters": parameters}))
        shutil.rmtree(folder, ignore_errors=True)
        try:
            staging.rename(folder)
        except OSError:  # another trial process stored the same export meanwhile: use theirs
            found = cached_export(folder)
            if found is None:
                raise
            return found
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return OnnxExport(folder / MODEL_FILE, False, export_s, export_s, parameters, folder_size(folder) / 2**20, made)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def evict_oldest(root: Path, budget_bytes: int, *, keep: Path) -> list[Path]:
    """Delete the least recently used exports until the cache fits `budget_bytes`; `keep` stays."""
    entries = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime)
    total = sum(folder_size(p) for p in entries)
    removed = []
    for entry in entries:
        if total <= budget_bytes:
            break
        if entry.resolve() == keep.resolve():
            continue
        total -= folder_size(entry)
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed
