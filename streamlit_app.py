"""Entry point: page config, sign-in, navigation over pages/, and the sidebar every page shares."""

import streamlit as st

from core.errors import install_log_redaction
from ui import demo, failures, navigation, sidebar, signin, state

install_log_redaction()  # the token never reaches a log, whatever handler writes it
st.set_page_config(page_title="Model selection dashboard", layout="wide")
if not signin.gate():
    st.stop()  # nothing else renders, and the Hub is not asked, before sign-in

page = navigation.build()
with failures.reported("demo classifier"):
    demo.start_build_at_first_start()  # in the background, once per server: Home shows its progress
with failures.reported("working set"):
    state.restore_working_set()  # once per session: what this person had before a reload or in another tab
with state.through_entry_point(), failures.reported(f"{page.title} page"):
    page.run()
with failures.reported("working set"):
    state.save_working_set()  # before the sidebar: its self-refreshing part can cut a busy run short
with failures.reported("sidebar"):
    sidebar.render()  # after the page, so it shows what the page just changed (shortlist, sample, queue)
