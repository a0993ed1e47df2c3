"""AppError and its children: the one place where failures become sentences for users.

Every error a user can see says what was wrong and how to fix it. Library exceptions
(huggingface_hub, transformers, torch) are turned into these at the boundary where
they happen, with the original kept as `__cause__` for the server log.
"""

from __future__ import annotations

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


_TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{6,}")


def redact(text: str) -> str:
    """Remove anything that looks like a Hugging Face token, and the configured one."""
    import os

    text = _TOKEN_PATTERN.sub("hf_***", str(text))
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        text = text.replace(token, "***")
    return text


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
