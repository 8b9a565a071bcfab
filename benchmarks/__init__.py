"""Reproducible performance figures for the playground: ``python -m benchmarks`` (``--help`` for flags).

Measures per-model inference latency (one input, a batch of 256) and throughput, NumPy-vs-PyTorch MLP
training time at the same architecture and batch size, the app's memory with every model loaded, and
(when the browser test has written docs/latency.json) the end-to-end draw-to-prediction time. Prints a
table and writes ``results.json`` and ``results.md`` (by default into this folder).
"""
