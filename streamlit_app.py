"""Entry point: page config, navigation over pages/, and the sidebar every page shares."""

import streamlit as st

from pages import navigation, sidebar, state

st.set_page_config(page_title="Model selection dashboard", layout="wide")

page = navigation.build()
with state.through_entry_point():
    page.run()
sidebar.render()  # after the page, so it shows what the page just changed (shortlist, sample, queue)
