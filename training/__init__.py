"""Offline training and evaluation CLIs: ``python -m training.train <model>``, ``python -m training.evaluate``."""
