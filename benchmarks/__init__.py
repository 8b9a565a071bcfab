"""Reproducible performance figures for the playground.

``python -m benchmarks`` measures per-model inference latency (one input, a batch of 256) and throughput,
NumPy-vs-PyTorch MLP training time at the same architecture and batch size, the app's memory with every
model loaded, and the speeds a user feels against their budgets (server time for a digit and a photo,
end of a stroke to the answers in a real browser). It prints a table and writes ``results.json`` and
``results.md`` (into this folder, or ``--out DIR``).

``python -m benchmarks --docs`` regenerates everything measured in docs/: the README screenshots,
docs/latency.json and docs/load_test.json (20 users at once).

The files: run.py (the command), training_ratio.py (NumPy vs PyTorch training time), report.py
(results.md), machine.py (what a figure was measured on), latency.py (the speeds and their budgets),
server.py (the app as a real server), browser.py (driving it in Chromium), app_ui.py (the page's selectors
and the digits drawn), load.py (many users at once), docs.py (the docs/ files).
"""
