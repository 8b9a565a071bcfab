"""Bending digits (models/perturb.py): each bend does what it says, identity settings change nothing, bad input
is refused."""

from __future__ import annotations

import numpy as np
import pytest

from models import perturb
from models.perturb import Bend, bend
from models.preprocessing import center_of_mass
from models.samples import load_digit_sample

DIGITS = load_digit_sample()[0][::25]  # 20 MNIST test digits, two of each class


def ink(x: np.ndarray) -> np.ndarray:
    """Total intensity of each digit, int64 (N,)."""
    return x.reshape(-1, 28 * 28).astype(np.int64).sum(axis=1)


@pytest.mark.parametrize(("dy", "dx"), [(3, 0), (0, -3), (-2, 3)])
def test_shift_moves_the_centre_of_mass_by_whole_pixels(dy: int, dx: int) -> None:
    whole_digits = [d for d in DIGITS if ink(perturb.shift(d, dy, dx)) == ink(d)]  # no ink pushed out of the field
    assert len(whole_digits) >= 10
    for d in whole_digits:
        moved = perturb.shift(d, dy, dx)
        np.testing.assert_allclose(center_of_mass(moved), np.add(center_of_mass(d), (dy, dx)), atol=1e-9)
        np.testing.assert_array_equal(perturb.shift(moved, -dy, -dx), d)


def test_shift_fills_with_black_and_can_push_everything_out() -> None:
    d = np.full((28, 28), 200, np.uint8)
    moved = perturb.shift(d, 2, -3)
    assert (moved[:2] == 0).all() and (moved[:, -3:] == 0).all() and (moved[2:, :-3] == 200).all()
    assert not perturb.shift(d, 0, 40).any()


@pytest.mark.parametrize("change", [
    lambda d: perturb.shift(d, 0, 0), lambda d: perturb.rotate(d, 0), lambda d: perturb.rotate(d, 360),
    lambda d: perturb.scale(d, 1), lambda d: perturb.thickness(d, 0), lambda d: perturb.noise(d, 0, seed=5),
    lambda d: perturb.erase(d, 3, 3, 0), lambda d: bend(d, Bend()),
], ids=["shift", "rotate-0", "rotate-360", "scale", "thickness", "noise", "erase-0", "bend"])
def test_identity_settings_change_nothing(change) -> None:
    for d in DIGITS:
        out = change(d)
        assert out.dtype == np.uint8 and out.shape == (28, 28)
        np.testing.assert_array_equal(out, d)


def test_thickening_adds_ink_and_thinning_removes_it() -> None:
    inks = np.stack([ink(perturb.thickness(DIGITS, k)) for k in range(-2, 4)])  # (6 amounts, 20 digits)
    assert (np.diff(inks, axis=0) > 0).all(), "ink must grow strictly with every step of thickness"
    thick, thin = perturb.thickness(DIGITS, 1), perturb.thickness(DIGITS, -1)
    assert (thick >= DIGITS).all() and (thin <= DIGITS).all()  # dilation only brightens, erosion only darkens


def test_thickness_of_one_pixel_widens_a_line_by_one_pixel_each_side() -> None:
    d = np.zeros((28, 28), np.uint8)
    d[5:20, 14] = 255
    assert np.array_equal(np.flatnonzero(perturb.thickness(d, 1)[12]), [13, 14, 15])
    d[5:20, 13:16] = 255
    assert np.array_equal(np.flatnonzero(perturb.thickness(d, -1)[12]), [14])


def test_erase_blacks_out_exactly_the_patch() -> None:
    d = np.full((28, 28), 255, np.uint8)
    out = perturb.erase(d, 10, 4, 5)
    expected = d.copy()
    expected[10:15, 4:9] = 0
    np.testing.assert_array_equal(out, expected)
    assert (perturb.erase(d, 25, 26, 6) == 0).sum() == 3 * 2  # cut at the border
    assert d.min() == 255  # the input is untouched


def test_rotation_is_counter_clockwise_about_the_centre_of_mass() -> None:
    d = np.zeros((28, 28), np.uint8)
    d[12:17, 12:17] = 255  # a square at the centre ...
    d[14, 21] = 255  # ... and a dot 7 pixels to its right
    turned = perturb.rotate(d, 90)
    np.testing.assert_allclose(center_of_mass(turned), center_of_mass(d), atol=0.5)  # turned about (14, 14)
    assert turned[6:9, 13:16].sum() >= 250  # the dot went up, about 7 pixels above the centre of mass,
    assert not turned[:, 19:].any() and not turned[19:].any()  # not down (clockwise), and nothing stayed


def test_four_quarter_turns_give_the_digit_back() -> None:
    kept = 0
    for d in DIGITS:
        turns = [d]
        for _ in range(4):
            turns.append(perturb.rotate(turns[-1], 90))
        if all(ink(t) == ink(d) for t in turns):  # nothing turned out of the field
            kept += 1
            np.testing.assert_array_equal(turns[-1], d)  # quarter turns move whole pixels: nothing is lost
            np.testing.assert_array_equal(turns[2], perturb.rotate(d, 180))
    assert kept >= 15


def test_scale_changes_the_size_about_the_centre_of_mass() -> None:
    for d in DIGITS:
        small = perturb.scale(d, 0.5)
        assert ink(small) == pytest.approx(ink(d) / 4, rel=0.1)  # area shrinks by factor^2
        np.testing.assert_allclose(center_of_mass(small), center_of_mass(d), atol=0.5)
        height = np.ptp(np.flatnonzero(d.any(axis=1))) + 1
        assert np.ptp(np.flatnonzero(small.any(axis=1))) + 1 <= height / 2 + 2
    assert ink(perturb.scale(DIGITS, 1.2)).sum() > ink(DIGITS).sum() * 1.3  # 1.2^2 = 1.44, less what is cut off


def test_noise_has_the_asked_spread_and_is_reproducible() -> None:
    grey = np.full((20, 28, 28), 128, np.uint8)
    noisy = perturb.noise(grey, 0.1, seed=1)
    assert (noisy.astype(float) - 128).std() == pytest.approx(25.5, rel=0.05)  # sigma 0.1 of 255
    np.testing.assert_array_equal(noisy, perturb.noise(grey, 0.1, seed=1))
    assert not np.array_equal(noisy, perturb.noise(grey, 0.1, seed=2))
    assert not np.array_equal(noisy[0], noisy[1])  # each digit of a batch gets its own noise
    strong = perturb.noise(DIGITS, 5.0, seed=0)
    assert strong.dtype == np.uint8
    assert (strong == 0).mean() > 0.4 and (strong == 255).mean() > 0.4  # clipped, not wrapped around


def test_batches_give_what_single_digits_give() -> None:
    for change in (lambda x: perturb.rotate(x, 25), lambda x: perturb.scale(x, 0.7),
                   lambda x: perturb.thickness(x, 2), lambda x: perturb.shift(x, 1, -2)):
        np.testing.assert_array_equal(change(DIGITS), np.stack([change(d) for d in DIGITS]))


def test_bend_applies_the_documented_order() -> None:
    settings = Bend(shift=(2, -1), angle=20, scale=0.8, thickness=1, noise=0.2, erase=(5, 6, 4), seed=3)
    for d in DIGITS[:5]:
        expected = perturb.thickness(d, 1)
        expected = perturb.turn(expected, 20, 0.8)
        expected = perturb.shift(expected, 2, -1)
        expected = perturb.erase(expected, 5, 6, 4)
        expected = perturb.noise(expected, 0.2, seed=3)
        np.testing.assert_array_equal(bend(d, settings), expected)


def test_float_digits_under_the_contract_give_the_same_result() -> None:
    settings = Bend(angle=-15, thickness=-1, noise=0.1)
    np.testing.assert_array_equal(bend(DIGITS / 255.0, settings), bend(DIGITS, settings))


@pytest.mark.parametrize("digit", [
    np.zeros((28, 27), np.uint8), np.zeros((2, 2, 28, 28), np.uint8), np.full((28, 28), 255.0),
    np.full((28, 28), np.nan), np.zeros((28, 28), np.int64), np.zeros((28, 28), bool),
], ids=["shape", "4-d", "float-0-255", "nan", "int64", "bool"])
def test_digits_outside_the_contract_are_refused(digit: np.ndarray) -> None:
    with pytest.raises(ValueError):
        bend(digit, Bend(angle=10))
    with pytest.raises(ValueError):
        perturb.shift(digit, 1, 1)


@pytest.mark.parametrize("change", [
    lambda d: perturb.scale(d, 0), lambda d: perturb.scale(d, float("nan")), lambda d: perturb.noise(d, -0.1),
    lambda d: perturb.shift(d, 1.5, 0), lambda d: perturb.thickness(d, 0.5), lambda d: perturb.erase(d, 28, 0, 3),
    lambda d: perturb.erase(d, 0, 0, -1),
], ids=["scale-0", "scale-nan", "sigma<0", "half-pixel-shift", "half-pixel-thickness", "erase-outside", "size<0"])
def test_impossible_settings_are_refused(change) -> None:
    with pytest.raises(ValueError):
        change(DIGITS[0])
