"""What tests ask of a measured figure: that it was measured and recorded, never how fast it is."""

from __future__ import annotations

import math


def assert_measured(value: object) -> None:
    """A real measurement: a finite number above zero (not None, NaN or a placeholder 0)."""
    assert isinstance(value, int | float) and math.isfinite(value) and value > 0, f"not a measured figure: {value!r}"
