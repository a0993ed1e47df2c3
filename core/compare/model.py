"""What a comparison holds: one dataclass per part, read alike by the Compare page and every report format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.results import ENSEMBLE_PREFIX, RunResult

if TYPE_CHECKING:
    from core.compare.long_texts import LongTextRow


#: "Within one accuracy point of the best" means at most this far below it.
ONE_POINT = 0.01
#: Tolerance for comparing accuracies that are equal up to floating-point noise.
EPSILON = 1e-9
REFERENCE_DEVICE, REFERENCE_DTYPE, REFERENCE_RUNTIME = "cpu", "float32", "torch"
EXAMPLES_PER_MODEL = 5
MAX_DISAGREEMENTS = 10
EXCERPT_CHARS = 300
NUMBER_WORDS = {2: "both", 3: "all three", 4: "all four", 5: "all five"}


@dataclass(frozen=True)
class LeaderboardRow:
    """One trial as the leaderboard shows it; error rows keep their sentence and no numbers."""

    key: str
    name: str
    model: str
    kind: str
    device: str
    dtype: str
    status: str
    baseline: bool
    error: str | None = None
    runtime: str = "torch"
    accuracy: float | None = None
    accuracy_ci: tuple[float, float] | None = None
    macro_f1: float | None = None
    macro_f1_ci: tuple[float, float] | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    throughput_per_s: float | None = None
    load_s: float | None = None
    memory_mb: float | None = None
    parameters: int | None = None
    size_mb: float | None = None
    cost_per_1k: float | None = None
    sha: str | None = None
    on_front: bool = False
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    coverage: float | None = None  # rules: the share of rows where a rule fired
    #: Raced runs: "stopped at N rows: worse than X, p=..." for a trial stopped early (core.racing).
    stopped: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def members(self) -> list[str]:
        """An ensemble's member trials (keys); empty for any other trial."""
        return list(self.settings.get("members", [])) if self.kind.startswith(ENSEMBLE_PREFIX) else []

    @property
    def combines(self) -> str:
        """What a rules or ensemble row is made of, in words (empty for a model)."""
        if self.members:
            return "ensemble of " + ", ".join(self.members)
        if self.coverage is not None:
            return f"rules fired on {self.coverage:.0%} of rows"
        return ""


@dataclass(frozen=True)
class DeviceRow:
    """One device x dtype x runtime of a model, against that model's reference trial (torch float32 on the CPU)."""

    key: str
    name: str
    device: str
    dtype: str
    accuracy: float
    p50_ms: float
    throughput_per_s: float
    latency_speedup: float | None
    throughput_speedup: float | None
    agreement: float | None
    runtime: str = "torch"

    @property
    def variant(self) -> str:
        """How the row is run, in words: "cpu, int8" or "cpu, int8, onnxruntime"."""
        return ", ".join([self.device, self.dtype, *([self.runtime] if self.runtime not in ("torch", "n/a") else [])])


@dataclass(frozen=True)
class DeviceGroup:
    model: str
    kind: str
    reference_key: str
    reference_name: str
    rows: list[DeviceRow]


@dataclass(frozen=True)
class ClassF1:
    """Per-class F1: one row per successful trial (leaderboard order), one column per label."""

    labels: list[str]
    keys: list[str]
    names: list[str]
    f1: list[list[float | None]]


@dataclass(frozen=True)
class PairedSummary:
    """The McNemar tests as a matrix, groups that cannot be told apart, and a sentence."""

    keys: list[str]
    names: list[str]
    p_holm: list[list[float | None]]
    groups: list[list[str]]
    sentence: str


@dataclass(frozen=True)
class Recommendation:
    most_accurate: str | None
    fastest_within_point: str | None
    under_budget: str | None
    latency_budget_ms: float | None
    sentences: list[str]


@dataclass(frozen=True)
class ErrorExample:
    row: int
    text: str
    pair: str | None
    truth: tuple[str, ...]
    predicted: tuple[str, ...]
    score: float
    others_right: list[str]


@dataclass(frozen=True)
class TrialErrors:
    """A trial's most confident mistakes (capped), and how many mistakes it made in all."""

    key: str
    name: str
    wrong: int
    mistakes: list[ErrorExample]


@dataclass(frozen=True)
class Disagreement:
    row: int
    text: str
    pair: str | None
    truth: tuple[str, ...]
    predictions: dict[str, tuple[tuple[str, ...], bool]]


@dataclass(frozen=True)
class ErrorExamples:
    included: bool
    per_trial: list[TrialErrors]
    disagreements: list[Disagreement]
    disagreeing_rows: int
    note: str | None = None


#: A slice with fewer rows is not ranked: at 20 rows a 95% interval of accuracy is still about 0.4 wide.
MIN_SLICE_ROWS = 20
#: A trial "drops" on a slice when its accuracy there is more than this far below its overall accuracy
#: (and the two intervals do not overlap).
SLICE_DROP = 0.10
LEADER_CHANGE, DROP, TOO_SMALL = "leader-change", "drop", "too-small"


@dataclass(frozen=True)
class SliceCell:
    """One trial on one slice: accuracy with its 95% percentile bootstrap interval (the leaderboard's
    method, computed exactly) and macro-F1 over the labels present in the slice (None when the sample's
    rows are not available)."""

    key: str
    name: str
    rows: int
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None
    macro_f1: float | None


@dataclass(frozen=True)
class SliceRow:
    """One value of one slice column (e.g. channel: email): its rows, and every trial on them in
    leaderboard order; `leader` is None for a slice too small to rank."""

    column: str
    value: str
    rows: int
    small: bool
    leader: str | None
    cells: list[SliceCell]

    @property
    def label(self) -> str:
        return f"{self.column}: {self.value}"

    def cell(self, key: str) -> SliceCell | None:
        return next((c for c in self.cells if c.key == key), None)


@dataclass(frozen=True)
class SliceCallout:
    """A finding about the slices, in words: the leader changes, a trial drops, or slices are too small."""

    kind: str
    sentence: str
    column: str | None = None
    value: str | None = None
    trial: str | None = None


@dataclass(frozen=True)
class SliceTable:
    """Every successful trial scored on every slice (metadata columns and text-length quartiles)."""

    keys: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    slices: list[SliceRow] = field(default_factory=list)
    callouts: list[SliceCallout] = field(default_factory=list)
    min_rows: int = MIN_SLICE_ROWS
    note: str | None = None

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(row.column for row in self.slices))

    @property
    def sentences(self) -> list[str]:
        return [callout.sentence for callout in self.callouts]


@dataclass(frozen=True)
class Comparison:
    """One run compared: `front` is the Pareto front's keys, fastest first; `names` maps keys to short names."""

    run: RunResult
    names: dict[str, str]
    leaderboard: list[LeaderboardRow]
    front: list[str]
    devices: list[DeviceGroup]
    class_f1: ClassF1
    paired: PairedSummary
    recommendation: Recommendation
    errors: ErrorExamples
    notes: list[str]
    latency_budget_ms: float | None = None
    price_per_hour: dict[str, float] = field(default_factory=dict)
    slices: SliceTable = field(default_factory=SliceTable)
    #: Each model trial on the rows longer than its model's limit and on the others (empty: none is long).
    long_texts: list[LongTextRow] = field(default_factory=list)

    def row(self, key: str) -> LeaderboardRow:
        return next(r for r in self.leaderboard if r.key == key)

    @property
    def ok_rows(self) -> list[LeaderboardRow]:
        return [r for r in self.leaderboard if r.ok]
