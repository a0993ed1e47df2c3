"""AppError and its children: the one place where failures become sentences for users.

Every error a user can see says what was wrong and how to fix it. Library exceptions
(huggingface_hub, transformers, torch) are turned into these at the boundary where
they happen, with the original kept as `__cause__` for the server log.
"""

from __future__ import annotations

import logging
import re


class AppError(Exception):
    """An error with a message meant for the person using the tool."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        self.message = redact(message)
        self.hint = redact(hint)
        super().__init__(self.sentence)

    @property
    def sentence(self) -> str:
        return f"{self.message} {self.hint}".strip()


class InputError(AppError):
    """The labeled sample or the command-line arguments are unusable."""


class ModelLoadError(AppError):
    """A model, its config or its tokenizer could not be loaded."""


class UnsafeModelError(ModelLoadError):
    """A model was refused because loading it could run foreign code."""


class DeviceError(AppError):
    """A device or dtype was asked for that this machine cannot provide."""


class LabelMappingError(AppError):
    """A model's labels cannot be matched to the sample's labels."""


class HubError(AppError):
    """The Hugging Face Hub (or the configured mirror) could not answer as needed."""


class HubUnreachableError(HubError):
    """The Hub could not be reached at all (offline, timeout, connection refused)."""


class RateLimitedError(HubError):
    """The Hub kept answering 429 past the retry budget."""


class RepoNotFoundError(HubError):
    """The repository or revision does not exist, or is private."""


class GatedRepoError(HubError):
    """The repository is gated and no token with access is configured."""


class DownloadTooLargeError(ModelLoadError):
    """A model was refused before downloading: over the download budget or the free disk."""


#: Hugging Face tokens (user access tokens and the organization `api_org_` kind).
_TOKEN_PATTERN = re.compile(r"\b(hf|api_org)_[A-Za-z0-9]{6,}")
#: `user:secret@` in a URL.
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+@")
#: `token=...`, `access_token: ...`, `Authorization: Bearer ...` in URLs, headers and exception text.
_SECRET_FIELD = re.compile(
    r"(?i)\b((?:hf_|hugging_face_hub_|access_|auth_|api_)?token|api_key|apikey|password|secret|authorization)"
    r"(\s*[=:]\s*|\"\s*:\s*\"|'\s*:\s*')(bearer\s+|basic\s+)?[^\s&'\",;)}]+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
#: Environment variables huggingface_hub takes a token from.
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
#: Configured tokens shorter than this are not searched for (they would match ordinary text).
MIN_TOKEN_CHARS = 8


def redact(text: str) -> str:
    """Remove every configured token, anything that looks like a Hugging Face token, and
    credentials in URLs (`user:secret@host`, `?token=...`) and headers (`Authorization: Bearer ...`)."""
    text = str(text)
    for token in configured_tokens():
        text = text.replace(token, "***")
    text = _TOKEN_PATTERN.sub(lambda m: f"{m.group(1)}_***", text)
    text = _URL_CREDENTIALS.sub("***@", text)
    text = _SECRET_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}***", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} ***", text)


def configured_tokens() -> list[str]:
    """The tokens huggingface_hub would send: from the environment and from the token file of `hf auth login`."""
    import os
    from pathlib import Path

    tokens = [os.environ.get(name, "").strip() for name in TOKEN_VARIABLES]
    home = os.environ.get("HF_HOME") or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface")
    token_file = Path(os.environ.get("HF_TOKEN_PATH") or Path(home) / "token").expanduser()
    try:
        tokens.append(token_file.read_text(encoding="utf-8").strip() if token_file.is_file() else "")
    except (OSError, UnicodeDecodeError):
        pass
    return sorted({t for t in tokens if len(t) >= MIN_TOKEN_CHARS}, key=len, reverse=True)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """A log record with its message, traceback and stack redacted (formatted here, once)."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is logged as it is, redacted
        message = f"{record.msg} {record.args}"
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install_log_redaction() -> None:
    """Make every log record of this process redacted when it is created, whatever handler writes it.

    Called by every entry point that starts a process of ours (streamlit_app.py, `python -m core`
    with its worker, each trial's child process), not on import: a program that imports core keeps
    its own log record factory. Calling it again does nothing.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts", False):
        return

    def make_record(*args, **kwargs) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    make_record.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)



def explain_hub_error(error: BaseException, repo_id: str, *, revision: str | None = None) -> AppError:
    """Turn a huggingface_hub / HTTP exception about `repo_id` into a sentence for users."""
    from huggingface_hub import errors as hub_errors

    at = f" at revision {revision!r}" if revision else ""
    if isinstance(error, AppError):
        return error
    # GatedRepoError subclasses RepositoryNotFoundError: test it first.
    if isinstance(error, hub_errors.GatedRepoError):
        return GatedRepoError(
            f"{repo_id} is gated: its authors require you to accept their terms.",
            hint="Accept them on the model's Hub page, then set HF_TOKEN to a token of that account.",
        )
    if isinstance(error, hub_errors.RevisionNotFoundError):
        return RepoNotFoundError(f"{repo_id} has no revision {revision!r}.", hint="Check the branch, tag or commit sha.")
    if isinstance(error, hub_errors.RepositoryNotFoundError):
        return RepoNotFoundError(
            f"{repo_id} was not found on the Hub: it does not exist, or it is private.",
            hint="Check the spelling; for a private model set HF_TOKEN to a token with access.",
        )
    if isinstance(error, (hub_errors.EntryNotFoundError, hub_errors.RemoteEntryNotFoundError)):
        return RepoNotFoundError(f"{repo_id}{at} lacks a file the model needs: {error}.", hint="Check the revision.")
    if isinstance(error, (hub_errors.OfflineModeIsEnabled, hub_errors.LocalEntryNotFoundError)):
        return HubUnreachableError(
            f"{repo_id} is not in the local cache and the Hub cannot be reached.",
            hint="Connect to the Hub (or a mirror via HF_ENDPOINT), or use a local model folder.",
        )
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status == 429:
        return RateLimitedError(f"The Hub is rate limiting requests for {repo_id}.", hint="Wait a minute and retry.")
    if isinstance(error, hub_errors.HfHubHTTPError):
        return HubError(f"The Hub answered HTTP {status} for {repo_id}{at}.", hint="Retry later, or check HF_ENDPOINT.")
    return HubUnreachableError(
        f"The Hub could not be reached for {repo_id} ({type(error).__name__}).",
        hint="Check the network or HF_ENDPOINT, or use a local model folder.",
    )
