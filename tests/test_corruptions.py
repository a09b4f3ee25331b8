"""Our corruptions against the ``imagecorruptions`` package (1.1.2) itself, with the same random stream:
``np.random.seed(s)`` for the package, ``RandomState(s)`` for ours. The package is loaded with the
patches it needs on this stack (tests/reference_corruptions.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from reference_corruptions import load_imagecorruptions

from idrnet.data.corruptions import CORRUPTIONS, GROUPS, corrupt
from idrnet.errors import InputError


@pytest.fixture(scope="module")
def package():
    # no skip: scripts/setup.sh installs the package (without its dependencies) and the test extra scikit-image
    yield load_imagecorruptions()
    del np.float_


def _photo(h: int = 64, w: int = 80) -> np.ndarray:
    """A test image with smooth areas, edges, saturated and grey regions."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) % 97 * 2.6], axis=-1)
    image[10:30, 20:50] = (200, 30, 30)
    image[40:60, 5:25] = 128  # grey: hue undefined
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", [n for n in CORRUPTIONS if n != "impulse_noise"])
@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_equal_to_imagecorruptions(package, name, severity):
    image = _photo()
    np.random.seed(11)
    expected = package.corrupt(image, severity=severity, corruption_name=name)
    ours = corrupt(image, name, severity, seed=11)
    assert ours.dtype == np.uint8 and ours.shape == image.shape
    diff = np.abs(ours.astype(int) - expected.astype(int))
    # HSV round trips differ from scikit-image's in the last float bit: at most one level, rarely
    assert diff.max() <= 1 and (diff > 0).mean() < 0.002, (name, severity, diff.max(), (diff > 0).mean())


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_impulse_noise_is_scikit_images_salt_and_pepper(package, severity):
    """The package draws impulse noise from an unseeded generator; ours seeds scikit-image's algorithm."""
    import skimage.util

    image = _photo()
    amount = (0.03, 0.06, 0.09, 0.17, 0.27)[severity - 1]
    seed = np.random.RandomState(5).randint(0, 2**31 - 1)
    expected = (np.clip(skimage.util.random_noise(image / 255.0, mode="s&p", amount=amount, rng=seed), 0, 1) * 255)
    assert np.array_equal(corrupt(image, "impulse_noise", severity, seed=5), expected.astype(np.uint8))


def test_same_seed_same_image_and_careless_arguments():
    image = _photo()
    assert np.array_equal(corrupt(image, "shot_noise", 3, 4), corrupt(image, "shot_noise", 3, 4))
    assert not np.array_equal(corrupt(image, "shot_noise", 3, 4), corrupt(image, "shot_noise", 3, 5))
    with pytest.raises(InputError, match="'fgo'.*expected one of gaussian_noise"):
        corrupt(image, "fgo", 1)
    with pytest.raises(InputError, match="severity 6"):
        corrupt(image, "contrast", 6)
    assert set(CORRUPTIONS) == {n for names in GROUPS.values() for n in names} and len(CORRUPTIONS) == 19


def test_the_pipeline_step_is_seeded_by_the_sample_not_by_order_or_process():
    from idrnet.data.corruptions import Corrupt, corruption_seed

    image = _photo()
    step = Corrupt("gaussian_noise", 2)
    a = step({"id": "000012", "image": image}, np.random.default_rng(0))["image"]
    b = step({"id": "000012", "image": image}, np.random.default_rng(99))["image"]  # another worker's generator
    c = step({"id": "000013", "image": image}, np.random.default_rng(0))["image"]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert corruption_seed("000012", "gaussian_noise", 2) == 691694628  # crc32: stable across Python processes
    with pytest.raises(InputError, match="severity 0"):
        Corrupt("contrast", 0)


@pytest.mark.parametrize("name", ["glass_blur", "zoom_blur", "snow", "fog", "motion_blur", "elastic_transform", "pixelate", "spatter"])
def test_equal_at_an_odd_size(package, name):
    """Sizes that are no power of two and not divisible by the zoom factors (layers a pixel short)."""
    image = _photo(67, 93)
    for severity in (2, 5):
        np.random.seed(3)
        expected = package.corrupt(image, severity=severity, corruption_name=name)
        diff = np.abs(corrupt(image, name, severity, seed=3).astype(int) - expected.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.002, (name, severity)


def test_corruption_names_are_matched_as_papers_spell_them():
    from idrnet.data.corruptions import select_corruptions

    assert select_corruptions(["Gaussian-Noise", "motion blur", " JPEG_compression", "Noise"]) == \
        ["gaussian_noise", "shot_noise", "impulse_noise", "motion_blur", "jpeg_compression"]
    with pytest.raises(InputError, match="unknown corruption 'Rain'; expected all"):
        select_corruptions(["Rain"])


def test_frost_photographs_are_found_checked_and_their_absence_named(tmp_path, monkeypatch):
    import idrnet.data.corruptions as corruptions

    image = _photo()
    assert corruptions.frost_available()  # scripts/setup.sh installs the package without its dependencies
    assert "frost" in corruptions.select_corruptions(["weather"])
    monkeypatch.setenv("IDRNET_FROST_DIR", str(tmp_path))
    corruptions._frost_photo.cache_clear()
    try:
        with pytest.warns(UserWarning, match="frost is left out"):
            assert "frost" not in corruptions.select_corruptions(["all"])
        with pytest.raises(InputError, match="pip install --no-deps imagecorruptions==1.1.2"):
            corruptions.select_corruptions(["frost"])
        for name in corruptions.FROST_PHOTOS:  # photographs that are not the package's are refused
            (tmp_path / name).write_bytes(b"not the photograph")
        with pytest.raises(InputError, match="SHA-256 differs"):
            corrupt(image, "frost", 2, seed=0)
    finally:
        corruptions._frost_photo.cache_clear()


def test_glass_blur_is_exact_at_any_size_and_needs_no_pixel_loop(package):
    """Glass blur's definition writes pixels one after another (a copy, not the swap it looks like); ours
    resolves those chains with whole-array steps and must agree value for value, also where the image is
    too small for the shuffle to visit any pixel (which the package refuses below 32 pixels)."""
    from idrnet.data.corruptions import _glass_sources

    image = _photo(40, 36)
    for severity in (1, 4):
        np.random.seed(0)
        expected = package.corrupt(image, severity=severity, corruption_name="glass_blur")
        assert np.array_equal(corrupt(image, "glass_blur", severity, seed=0), expected)
    for h, w in ((1, 1), (3, 9), (9, 3), (5, 5)):
        assert corrupt(np.zeros((h, w, 3), np.uint8), "glass_blur", 5, seed=0).shape == (h, w, 3)
    # a sequential reference of the copy loop itself, on the pixel indices, at the largest offset
    rng_ours, rng_loop = np.random.RandomState(3), np.random.RandomState(3)
    h, w, delta = 20, 23, 4
    grid = np.arange(h * w).reshape(h, w)
    for _ in range(2):
        for y in range(h - delta, delta, -1):
            for x in range(w - delta, delta, -1):
                dx, dy = rng_loop.randint(-delta, delta, size=(2,))
                grid[y, x] = grid[y + dy, x + dx]
    assert np.array_equal(_glass_sources(h, w, delta, 2, rng_ours), grid.ravel())


@pytest.mark.parametrize("shape", [(1, 40, 3), (40, 1, 3), (1, 1, 3), (3, 3, 3)])
def test_tiny_and_one_pixel_images_get_every_corruption_without_nan(shape):
    """A 1-pixel side made pixelate fail (resized to 0) and fog / spatter divide by a zero peak (NaN cast
    to uint8: garbage). Such images do occur (thin crops, strips)."""
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's "invalid value encountered" included
        for name in CORRUPTIONS:
            for severity in (1, 5):
                out = corrupt(image, name, severity, seed=1)
                assert out.shape == image.shape and out.dtype == np.uint8, name
