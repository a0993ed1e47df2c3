"""Every environment variable the project reads, with its default, in one place.

Settings are read when `get_settings()` is called, not at import, so tests and the
worker can change the environment and get fresh values. Hugging Face's own variables
(`HF_ENDPOINT`, `HF_HOME`, `HF_HUB_OFFLINE`, `HF_TOKEN`) are read by huggingface_hub
itself at import time; we only report on them and never copy the token anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InputError

#: Name of every setting, so messages can tell users which variable to change.
MAX_ROWS = "MSD_MAX_ROWS"
MAX_CELL_CHARS = "MSD_MAX_CELL_CHARS"
MAX_COLUMNS = "MSD_MAX_COLUMNS"
MAX_LABELS = "MSD_MAX_LABELS"
ALLOW_PICKLE = "MSD_ALLOW_PICKLE"
MAX_DOWNLOAD_MB = "MSD_MAX_DOWNLOAD_MB"
DATA_DIR = "MSD_DATA_DIR"
MODEL_DIRS = "MSD_MODEL_DIRS"
LATENCY_ROWS = "MSD_LATENCY_ROWS"
BOOTSTRAP_RESAMPLES = "MSD_BOOTSTRAP_RESAMPLES"
SEED = "MSD_SEED"
HUB_TIMEOUT_S = "MSD_HUB_TIMEOUT_S"
HUB_RETRY_BUDGET_S = "MSD_HUB_RETRY_BUDGET_S"
HUB_CACHE_TTL_S = "MSD_HUB_CACHE_TTL_S"
POPULAR_MIN_DOWNLOADS = "MSD_POPULAR_MIN_DOWNLOADS"
POPULAR_MIN_LIKES = "MSD_POPULAR_MIN_LIKES"
DOCUMENTED_MIN_CARD_CHARS = "MSD_DOCUMENTED_MIN_CARD_CHARS"
MAINTAINED_WITHIN_DAYS = "MSD_MAINTAINED_WITHIN_DAYS"
DATABASE_URL = "DATABASE_URL"
TRIAL_TIMEOUT_S = "MSD_TRIAL_TIMEOUT_S"
CPU_JOBS = "MSD_CPU_JOBS"
WORKER_POLL_S = "MSD_WORKER_POLL_S"
PLUGINS = "MSD_PLUGINS"
SIGN_IN = "MSD_SIGN_IN"
USER_HEADER = "MSD_USER_HEADER"
AUTO_RESUME_ATTEMPTS = "MSD_AUTO_RESUME_ATTEMPTS"
DOWNLOAD_DISK_MARGIN = "MSD_DOWNLOAD_DISK_MARGIN"
TRIAL_NICE = "MSD_TRIAL_NICE"
TRIAL_THREADS = "MSD_TRIAL_THREADS"
RAY_ADDRESS = "MSD_RAY_ADDRESS"
RAY_CPUS_PER_TRIAL = "MSD_RAY_CPUS_PER_TRIAL"
ONNX_CACHE_MB = "MSD_ONNX_CACHE_MB"
DEMO_BUILD = "MSD_DEMO_BUILD"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InputError(f"The setting {name}={raw!r} is not a whole number.", hint=f"Unset it, or give e.g. {name}={default}.") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise InputError(f"The setting {name}={raw!r} is not a number.", hint=f"Unset it, or give e.g. {name}={default}.") from None


def _bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _paths(name: str) -> tuple[Path, ...]:
    raw = os.environ.get(name, "")
    return tuple(Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip())


@dataclass(frozen=True)
class Settings:
    """A snapshot of the configuration. Field names carry their units."""

    max_rows: int = 20_000
    max_cell_chars: int = 20_000
    max_columns: int = 1_000
    #: Per-class scores, the confusion matrix and its chart grow with the square of this.
    max_labels: int = 500
    allow_pickle: bool = False
    max_download_mb: float = 5000.0
    #: A download must leave this many times its size free: the disk may also hold the results store.
    download_disk_margin: float = 1.2
    data_dir: Path = Path("data")
    model_dirs: tuple[Path, ...] = field(default_factory=tuple)
    latency_rows: int = 32
    bootstrap_resamples: int = 1000
    seed: int = 0
    hub_timeout_s: float = 10.0
    hub_retry_budget_s: float = 30.0
    hub_cache_ttl_s: float = 300.0
    popular_min_downloads: int = 1000
    popular_min_likes: int = 10
    documented_min_card_chars: int = 300
    maintained_within_days: int = 365
    database_url: str = ""
    trial_timeout_s: float = 3600.0
    cpu_jobs: int = 1
    worker_poll_s: float = 0.5
    plugins: tuple[str, ...] = field(default_factory=tuple)
    sign_in: str = ""  # "" (nobody signs in), "proxy" (a trusted user header) or "oidc" (st.login)
    user_header: str = "X-Forwarded-User"
    #: How often a run whose worker died is queued again by itself (0: never; resume by hand).
    auto_resume_attempts: int = 2
    #: Niceness added to trial processes, so the web server answers while trials use every core.
    trial_nice: int = 10
    #: torch threads per trial process; 0 keeps torch's default (one per core).
    trial_threads: int = 0
    #: A Ray cluster to run trials on (`auto`, `HOST:PORT` or `ray://HOST:10001`); "" runs them on this machine.
    ray_address: str = ""
    #: CPUs Ray reserves for a trial on the CPU (its torch threads); a CUDA trial reserves one GPU and one CPU.
    ray_cpus_per_trial: float = 1.0
    #: ONNX files exported for the onnxruntime runtime (<data dir>/onnx): the least recently used go past this.
    onnx_cache_mb: float = 4096.0
    #: Build the demo classifier in the background when the dashboard first starts (off: only on Home's button).
    demo_build: bool = True

    @property
    def hf_endpoint(self) -> str:
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")

    @property
    def hub_offline(self) -> bool:
        return _bool("HF_HUB_OFFLINE")

    @property
    def hf_hub_cache(self) -> Path:
        """The Hugging Face download cache, resolved as huggingface_hub does but at call time."""
        explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
        if explicit:
            return Path(os.path.expandvars(explicit)).expanduser()
        xdg_cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        home = os.environ.get("HF_HOME") or str(Path(xdg_cache) / "huggingface")
        return Path(os.path.expandvars(home)).expanduser() / "hub"

    @property
    def has_token(self) -> bool:
        """Whether huggingface_hub will send a token (HF_TOKEN, or the file `hf auth login` writes).

        Only its presence is kept: the token itself never leaves this call.
        """
        from huggingface_hub import get_token

        return get_token() is not None


def get_settings() -> Settings:
    """Read the current environment into a `Settings`."""
    data_dir = Path(os.environ.get(DATA_DIR, "data")).expanduser()
    return Settings(
        max_rows=_int(MAX_ROWS, 20_000),
        max_cell_chars=_int(MAX_CELL_CHARS, 20_000),
        max_columns=_int(MAX_COLUMNS, 1_000),
        max_labels=_int(MAX_LABELS, 500),
        allow_pickle=_bool(ALLOW_PICKLE),
        max_download_mb=_float(MAX_DOWNLOAD_MB, 5000.0),
        download_disk_margin=max(1.0, _float(DOWNLOAD_DISK_MARGIN, 1.2)),
        data_dir=data_dir,
        model_dirs=_paths(MODEL_DIRS),
        latency_rows=_int(LATENCY_ROWS, 32),
        bootstrap_resamples=_int(BOOTSTRAP_RESAMPLES, 1000),
        seed=_int(SEED, 0),
        hub_timeout_s=_float(HUB_TIMEOUT_S, 10.0),
        hub_retry_budget_s=_float(HUB_RETRY_BUDGET_S, 30.0),
        hub_cache_ttl_s=_float(HUB_CACHE_TTL_S, 300.0),
        popular_min_downloads=_int(POPULAR_MIN_DOWNLOADS, 1000),
        popular_min_likes=_int(POPULAR_MIN_LIKES, 10),
        documented_min_card_chars=_int(DOCUMENTED_MIN_CARD_CHARS, 300),
        maintained_within_days=_int(MAINTAINED_WITHIN_DAYS, 365),
        database_url=os.environ.get(DATABASE_URL, "") or f"sqlite:///{data_dir / 'runs.sqlite'}",
        trial_timeout_s=_float(TRIAL_TIMEOUT_S, 3600.0),
        cpu_jobs=max(1, _int(CPU_JOBS, 1)),
        worker_poll_s=_float(WORKER_POLL_S, 0.5),
        plugins=tuple(p.strip() for p in os.environ.get(PLUGINS, "").split(",") if p.strip()),
        sign_in=os.environ.get(SIGN_IN, "").strip().lower(),
        user_header=os.environ.get(USER_HEADER, "").strip() or "X-Forwarded-User",
        auto_resume_attempts=max(0, _int(AUTO_RESUME_ATTEMPTS, 2)),
        trial_nice=max(0, _int(TRIAL_NICE, 10)),
        trial_threads=max(0, _int(TRIAL_THREADS, 0)),
        ray_address=os.environ.get(RAY_ADDRESS, "").strip(),
        ray_cpus_per_trial=max(0.0, _float(RAY_CPUS_PER_TRIAL, 1.0)),
        onnx_cache_mb=max(0.0, _float(ONNX_CACHE_MB, 4096.0)),
        demo_build=os.environ.get(DEMO_BUILD, "").strip().lower() not in {"0", "off", "false", "no"},
    )
