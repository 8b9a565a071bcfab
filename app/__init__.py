"""The Streamlit app: ``streamlit run app/main.py``. Pages are thin; the logic lives in ``app.logic``."""
