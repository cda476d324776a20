"""The Streamlit UI: a client of the HTTP API (the API process owns the index)."""
