"""Plain logic behind the app's pages: no Streamlit import anywhere in this package (a test checks it)."""
