"""The sign-in gate in front of every page (see core/access.py for the modes)."""

import streamlit as st

from core.access import Visitor, identify
from core.settings import get_settings
from ui import navigation


def visitor() -> Visitor:
    settings = get_settings()
    oidc_user = None
    if settings.sign_in == "oidc" and st.user.is_logged_in:
        oidc_user = str(st.user.get("email") or st.user.get("name") or "") or None
    return identify(settings, headers=dict(st.context.headers), oidc_user=oidc_user)


def gate() -> bool:
    """True when the page may render; otherwise shows how to sign in, and nothing else."""
    who = visitor()
    if who.signed_in:
        return True
    navigation.build(visible=False)
    st.title("Sign in")
    st.info(who.sentence)
    if get_settings().sign_in == "oidc":
        st.button("Sign in", type="primary", on_click=st.login)
    return False
