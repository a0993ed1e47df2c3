"""Entry point: page config, navigation over pages/, and the sidebar every page shares."""

import streamlit as st

st.set_page_config(page_title="Model selection dashboard", layout="wide")

navigation = st.navigation([st.Page("pages/home.py", title="Home", default=True)])
navigation.run()
