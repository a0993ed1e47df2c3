"""The dashboard's shared helpers (session state, sidebar, sign-in, navigation, live progress): pages/ holds only page scripts."""
