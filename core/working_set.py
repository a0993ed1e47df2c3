"""A person's working set - shortlist, sample and its columns, label descriptions, the rules being
edited, the run they watch - as one JSON document plus the sample file's bytes, so a reload or a new tab picks up where
they were. The results store keeps it (Store.save_working_set) under a key: the user when sign-in
is on, else a random id the browser keeps in a cookie.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime

from core import dataset
from core.dataset import LabeledSample
from core.hub import Check, ModelCandidate
from core.shortlist import Shortlist, ShortlistEntry

VERSION = 1
_DATES = ("last_modified", "created")
_TUPLES = ("languages", "base_models", "tags", "kinds", "labels")


@dataclass(frozen=True)
class SampleFile:
    """The uploaded file and the choices that made the sample from it."""

    name: str
    raw: bytes
    text_column: str
    label_column: str
    text_pair_column: str | None = None
    label_sep: str | None = None
    sha256: str = ""  # of `raw`: a changed file changes the working set's fingerprint
    slice_columns: tuple[str, ...] = ()  # metadata columns to slice the scores by

    def load(self) -> LabeledSample:
        return dataset.load_csv(self.raw, text_column=self.text_column, text_pair_column=self.text_pair_column,
                        label_column=self.label_column, label_sep=self.label_sep, source_name=self.name,
                        slice_columns=list(self.slice_columns))

    @classmethod
    def of(cls, sample: LabeledSample, *, name: str, raw: bytes) -> SampleFile:
        columns = sample.columns
        return cls(name, raw, columns.text, columns.label, columns.text_pair, sample.label_sep, hashlib.sha256(raw).hexdigest(),
                   tuple(sample.metadata))


@dataclass(frozen=True)
class WorkingSet:
    shortlist: Shortlist = field(default_factory=Shortlist)
    sample: SampleFile | None = None
    label_descriptions: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    rules: dict | None = None  # the rules editor's document (core.rules.rules_as_settings layout)

    def to_json(self) -> str:
        sample = None if self.sample is None else {k: v for k, v in asdict(self.sample).items() if k != "raw"}
        document = {"version": VERSION, "shortlist": [entry_to_dict(e) for e in self.shortlist.entries], "sample": sample,
                    "label_descriptions": self.label_descriptions, "run_id": self.run_id, "rules": self.rules}
        return json.dumps(document, sort_keys=True, ensure_ascii=False)

    def fingerprint(self) -> str:
        """Changes whenever anything worth saving changes (the sample file through its sha256)."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_json(cls, text: str, sample_raw: bytes | None) -> WorkingSet:
        document = json.loads(text)
        if document.get("version") != VERSION:
            return cls()
        sample = document.get("sample")
        return cls(
            shortlist=Shortlist([entry_from_dict(e) for e in document.get("shortlist", [])]),
            sample=sample_file_from(sample, sample_raw) if sample and sample_raw is not None else None,
            label_descriptions=dict(document.get("label_descriptions") or {}),
            run_id=document.get("run_id"),
            rules=document.get("rules"),
        )


def sample_file_from(document: dict, raw: bytes) -> SampleFile:
    """The sample file of a stored working set (one saved before slices has no slice columns)."""
    return SampleFile(raw=raw, **{**document, "slice_columns": tuple(document.get("slice_columns") or ())})


def entry_to_dict(entry: ShortlistEntry) -> dict:
    data = asdict(entry)
    candidate = data["candidate"]
    for name in _DATES:
        candidate[name] = candidate[name].isoformat() if candidate[name] else None
    return data


def entry_from_dict(data: dict) -> ShortlistEntry:
    candidate = dict(data["candidate"])
    for name in _DATES:
        candidate[name] = datetime.fromisoformat(candidate[name]) if candidate.get(name) else None
    for name in _TUPLES:
        candidate[name] = tuple(candidate[name]) if candidate.get(name) is not None else None
    candidate["checks"] = tuple(Check(**check) for check in candidate.get("checks") or ())
    known = {f.name for f in fields(ModelCandidate)}
    model = ModelCandidate(**{k: v for k, v in candidate.items() if k in known and v is not None or k == "labels"})
    entry = {k: v for k, v in data.items() if k != "candidate"}
    return ShortlistEntry(candidate=model, **entry)
