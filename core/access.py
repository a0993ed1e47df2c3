"""Who is using the dashboard, under the sign-in the administrator chose (MSD_SIGN_IN).

- "" (default): nobody signs in; every run is visible to everyone on the server.
- "proxy": a reverse proxy in front of Streamlit signs people in and passes the user name in a
  header (MSD_USER_HEADER, default X-Forwarded-User). Only safe when Streamlit listens on an
  address the proxy alone can reach, since anyone else could send the header themselves.
- "oidc": Streamlit's own OpenID Connect sign-in (`st.login`, configured in .streamlit/secrets.toml).

With "proxy" or "oidc", nothing is shown and the Hub is not asked until someone is signed in;
runs record who started them and a user sees their own runs and the ones shared with everyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import InputError
from core.settings import SIGN_IN, Settings

MODES = ("", "proxy", "oidc")
#: Longest user name accepted from a header; longer ones are refused rather than cut.
MAX_USER_CHARS = 200


@dataclass(frozen=True)
class Visitor:
    """The person behind a session: `user` is None when sign-in is off or they have not signed in."""

    user: str | None
    signed_in: bool
    sentence: str = ""


def may_change_run(owner: str | None, user: str | None) -> bool:
    """Whether `user` may cancel, resume, share or delete a run that `owner` started.

    Signed in, only the owner may. With sign-in off (no user: also the command line, run by the
    server's administrator) anyone may, as every run is everyone's; a run started before sign-in
    was turned on has no owner and stays everyone's."""
    return user is None or owner is None or owner == user


def check_mode(settings: Settings) -> str:
    if settings.sign_in not in MODES:
        raise InputError(f"{SIGN_IN}={settings.sign_in!r} is not a sign-in mode.",
                         hint="Use proxy (a trusted user header), oidc (st.login) or leave it empty.")
    return settings.sign_in


def identify(settings: Settings, *, headers: Mapping[str, str], oidc_user: str | None) -> Visitor:
    """Who this is, from the request headers (proxy mode) or Streamlit's sign-in (oidc mode)."""
    mode = check_mode(settings)
    if mode == "":
        return Visitor(None, True)
    if mode == "oidc":
        if oidc_user:
            return Visitor(oidc_user, True)
        return Visitor(None, False, "Sign in to use the model selection dashboard.")
    return _from_header(settings.user_header, headers)


def _from_header(header: str, headers: Mapping[str, str]) -> Visitor:
    lowered = {name.lower(): value for name, value in headers.items()}
    user = (lowered.get(header.lower()) or "").strip()
    if not user:
        return Visitor(None, False, "This dashboard is reached through the company sign-in; open it from there.")
    if len(user) > MAX_USER_CHARS or any(ord(c) < 32 for c in user):
        return Visitor(None, False, "The sign-in header carries an unusable user name; ask the administrator.")
    return Visitor(user, True)
