#!/usr/bin/env bash
# Set up the environment (first run: a few minutes) and launch the app on http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh requirements.txt
exec .venv/bin/python -m streamlit run app/main.py "$@"
