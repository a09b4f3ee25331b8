"""Image corruptions of Hendrycks & Dietterich (ICLR 2019) as the ``imagecorruptions`` package (1.1.2)
defines them, severity 1–5, for robustness evaluation (issue 27).

Written here rather than depended on: that package no longer imports on current Python stacks
(``pkg_resources``), three of its corruptions fail on NumPy 2 / scikit-image ≥ 0.19, and its random
numbers come from NumPy's global generator, which DataLoader workers share badly. Each function here
takes its generator explicitly (a ``RandomState``, whose stream is the one ``np.random.seed`` gives the
package, so results are comparable draw for draw) and uses the package's parameters per severity;
``tests/test_corruptions.py`` checks them against the package itself.

All 19: the noise family (4), gaussian, defocus, glass, zoom and motion blur, snow, frost, fog and
spatter, and the digital family (6, elastic transform included). Frost blends the package's own photographs, which are read from the installed package
(``pip install --no-deps imagecorruptions==1.1.2``) and checked by hash, not copied here.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ..errors import InputError

Corruption = Callable[[np.ndarray, int, np.random.RandomState], np.ndarray]


def _unit(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) / 255.0


def _to_uint8(x: np.ndarray) -> np.ndarray:
    # The package scales to [0, 255] and truncates (np.uint8 of a float), it does not round.
    return (np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------- noise
def gaussian_noise(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Additive Gaussian noise (σ of the [0, 1] image)."""
    scale = (0.08, 0.12, 0.18, 0.26, 0.38)[severity - 1]
    x = _unit(image)
    return _to_uint8(x + rng.normal(size=x.shape, scale=scale))


def shot_noise(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Poisson (photon) noise: fewer photons per level at higher severity."""
    photons = (60, 25, 12, 5, 3)[severity - 1]
    return _to_uint8(rng.poisson(_unit(image) * photons) / float(photons))


def impulse_noise(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Salt-and-pepper noise on a fraction of the values (each channel on its own), half salt, half pepper."""
    amount = (0.03, 0.06, 0.09, 0.17, 0.27)[severity - 1]
    x = _unit(image)
    generator = np.random.default_rng(rng.randint(0, 2**31 - 1))
    # scikit-image's 's&p' mode: which values flip, then salt or pepper for each
    flipped = generator.random(x.shape) <= amount
    salt = generator.random(x.shape) <= 0.5
    x = np.where(flipped, np.where(salt, 1.0, 0.0), x)
    return _to_uint8(x)


def speckle_noise(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Multiplicative Gaussian noise."""
    scale = (0.15, 0.2, 0.35, 0.45, 0.6)[severity - 1]
    x = _unit(image)
    return _to_uint8(x + x * rng.normal(size=x.shape, scale=scale))


# ----------------------------------------------------------------------------------------- blur
def gaussian_blur(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Gaussian blur of σ 1–6 pixels (edges repeated, kernel cut at 4σ), each channel on its own."""
    from scipy.ndimage import gaussian_filter

    sigma = (1, 2, 3, 4, 6)[severity - 1]
    return _to_uint8(gaussian_filter(_unit(image), sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0))


def _glass_sources(h: int, w: int, delta: int, iterations: int, rng: np.random.RandomState) -> np.ndarray:
    """For each pixel of an ``h``×``w`` image (flat index), the pixel whose value it ends up holding after
    glass blur's local shuffle.

    The package visits the pixels at least ``delta`` from the edges bottom-right to top-left and, at each,
    draws an offset in [−delta, delta) and writes the pixel at that offset into it. (Its ``a, b = b, a``
    on NumPy row views copies, it does not swap.) A pixel therefore takes the value of the one it reads as
    that one is at the moment of reading: the new value when it was visited earlier in the same pass, the
    old one otherwise. Following those "visited earlier" links to their end gives every pixel's final
    source at once; the links only go forward, so the chains are short (a dozen steps at 512²)."""
    rows, cols = np.arange(h - delta, delta, -1), np.arange(w - delta, delta, -1)
    sources = np.arange(h * w)
    if rows.size == 0 or cols.size == 0:
        return sources  # too small: the package visits no pixel and draws nothing
    rr, cc = (g.ravel() for g in np.meshgrid(rows, cols, indexing="ij"))
    visited = rr * w + cc
    order = np.arange(rr.size)
    visit = np.full(h * w, rr.size)  # when each pixel is visited in a pass; the border never is
    visit[visited] = order
    for _ in range(iterations):
        dx_dy = rng.randint(-delta, delta, size=(rr.size, 2))  # the package's draws, one (dx, dy) per visit
        read = (rr + dx_dy[:, 1]) * w + (cc + dx_dy[:, 0])
        earlier = visit[read]
        link = np.where(earlier < order, earlier, -1)
        end = order
        while True:  # one step along every chain at once; as many steps as the longest chain
            step = link[end]
            if (step < 0).all():
                break
            end = np.where(step >= 0, step, end)
        sources[visited] = sources[read[end]]
    return sources


def glass_blur(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Frosted glass: Gaussian blur (σ 0.7–1.5), pixels locally shuffled (up to 1–4 pixels, 1–3 passes),
    blurred again."""
    from scipy.ndimage import gaussian_filter

    sigma, delta, iterations = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))[severity - 1]
    blurred = _to_uint8(gaussian_filter(_unit(image), sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0))
    h, w = image.shape[:2]
    shuffled = blurred.reshape(h * w, -1)[_glass_sources(h, w, delta, iterations, rng)].reshape(image.shape)
    return _to_uint8(gaussian_filter(_unit(shuffled), sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0))


def _disk_kernel(radius: int, alias_blur: float) -> np.ndarray:
    """A normalised disk of ``radius`` on a grid of at least 17×17, antialiased by a small Gaussian."""
    import cv2

    half = max(radius, 8)
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = ((xx**2 + yy**2) <= radius**2).astype(np.float32)
    disk /= disk.sum()
    size = (3, 3) if radius <= 8 else (5, 5)
    return cv2.GaussianBlur(disk, ksize=size, sigmaX=alias_blur)


def defocus_blur(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Defocus: convolution with an antialiased disk of radius 3–10 (reflected edges)."""
    import cv2

    radius, alias_blur = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))[severity - 1]
    kernel = _disk_kernel(radius, alias_blur)
    # float64 image with a float32 kernel, as the package runs it; all channels at once
    return _to_uint8(cv2.filter2D(_unit(image), -1, kernel))


def _centre_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """The centre 1/``factor`` of ``x`` (H, W, C) enlarged by ``factor`` (bilinear); about ``x``'s size,
    a pixel more or less."""
    from scipy.ndimage import zoom

    h, w = x.shape[:2]
    ch, cw = int(np.ceil(h / factor)), int(np.ceil(w / factor))
    top, left = (h - ch) // 2, (w - cw) // 2
    return zoom(x[top:top + ch, left:left + cw], (factor, factor, 1), order=1)


def zoom_blur(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """The image averaged with centred enlargements of itself (zoom factors 1 to 1.1–1.3)."""
    factors = (np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
               np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03))[severity - 1]
    x = (image / 255.0).astype(np.float32)
    h, w = x.shape[:2]
    total = np.zeros_like(x)
    for factor in factors:  # a dozen zoom levels, each a whole-image operation
        layer = _centre_zoom(x, factor)[:h, :w]
        total[:layer.shape[0], :layer.shape[1]] += layer  # a layer may come out a pixel short
    return _to_uint8((x + total) / (len(factors) + 1))


def _shifted(x: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``x`` moved by (dx, dy) pixels, the uncovered border filled with the nearest edge row/column."""
    h, w = x.shape[:2]
    pad = ((max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0))) + ((0, 0),) * (x.ndim - 2)
    padded = np.pad(x, pad, mode="edge")
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[top:top + h, left:left + w]


def _motion_trail(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """A one-sided Gaussian-weighted trail of shifted copies of ``x`` (length 2·radius + 1) along
    ``angle`` degrees; float result."""
    import math

    width = 2 * radius + 1
    taps = np.exp(-np.arange(width) ** 2 / (2 * sigma**2)) / (np.sqrt(2 * np.pi) * sigma)
    taps = taps / taps.sum()
    along = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    length = math.hypot(*along)
    trail: np.ndarray = np.zeros(x.shape, np.float32)
    for i in range(width):  # one whole-image shift per tap of the trail
        dy = -math.ceil(i * along[0] / length - 0.5)
        dx = -math.ceil(i * along[1] / length - 0.5)
        if abs(dy) >= x.shape[0] or abs(dx) >= x.shape[1]:
            break  # the trail left the image
        trail = trail + taps[i] * _shifted(x, dx, dy)
    return trail


def motion_blur(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Linear motion blur along a random direction (±45°)."""
    radius, sigma = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))[severity - 1]
    angle = rng.uniform(-45, 45)
    return np.clip(_motion_trail(image, radius, sigma, angle), 0, 255).astype(np.uint8)


def elastic_transform(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Pixels displaced by a smooth random field (uniform noise, Gaussian-smoothed with σ = 1 % of the
    size, scaled by 12.5–30), resampled bilinearly with reflected edges."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    x = (image / 255.0).astype(np.float32)
    h, w = x.shape[:2]
    sigma = np.array((h, w)) * 0.01
    scale = (250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12)[severity - 1]
    limit = h * 0.005  # the package bounds both directions by the height
    dx = (gaussian_filter(rng.uniform(-limit, limit, size=(h, w)), sigma, mode="reflect", truncate=3) * scale).astype(np.float32)
    dy = (gaussian_filter(rng.uniform(-limit, limit, size=(h, w)), sigma, mode="reflect", truncate=3) * scale).astype(np.float32)
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    coords = np.stack([(rows + dy).ravel(), (cols + dx).ravel()])
    channels = [map_coordinates(x[..., c], coords, order=1, mode="reflect").reshape(h, w) for c in range(x.shape[2])]
    return _to_uint8(np.stack(channels, axis=-1))


# -------------------------------------------------------------------------------------- weather
def _plasma_fractal(size: int, decay: float, rng: np.random.RandomState) -> np.ndarray:
    """A ``size``×``size`` (a power of 2) diamond-square height map in [0, 1]: each level fills square
    centres, then edge midpoints, with the mean of their neighbours plus noise that shrinks by ``decay``."""
    grid = np.zeros((size, size))
    step, wibble = size, 100.0

    def noisy_mean(total: np.ndarray) -> np.ndarray:
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:  # log2(size) levels, each a whole-grid operation
        half = step // 2
        corners = grid[0:size:step, 0:size:step]
        square = corners + np.roll(corners, -1, axis=0)
        square = square + np.roll(square, -1, axis=1)
        grid[half:size:step, half:size:step] = noisy_mean(square)
        centres = grid[half:size:step, half:size:step]
        grid[0:size:step, half:size:step] = noisy_mean(
            (centres + np.roll(centres, 1, axis=0)) + (corners + np.roll(corners, -1, axis=1)))
        grid[half:size:step, 0:size:step] = noisy_mean(
            (centres + np.roll(centres, 1, axis=1)) + (corners + np.roll(corners, -1, axis=0)))
        step //= 2
        wibble /= decay
    grid -= grid.min()
    peak = grid.max()
    return grid / peak if peak > 0 else grid  # a 1×1 grid is flat: no haze rather than NaN


def fog(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """A plasma-fractal haze added to the image, the result rescaled to the image's brightest value."""
    strength, decay = ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))[severity - 1]
    h, w = image.shape[:2]
    size = 1 << (max(h, w) - 1).bit_length()
    x = _unit(image)
    brightest = x.max()
    x = x + strength * _plasma_fractal(size, decay, rng)[:h, :w, None]
    return _to_uint8(x * brightest / (brightest + strength))


def snow(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Falling snow: a thresholded, enlarged noise layer smeared downwards (motion trail at −135…−45°),
    added twice (once turned by 180°) to an image whitened towards its grey version."""
    import cv2

    mean, spread, enlarge, threshold, radius, sigma, keep = (
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55))[severity - 1]
    x = (image / 255.0).astype(np.float32)
    h, w = x.shape[:2]
    flakes = _centre_zoom(rng.normal(size=(h, w), loc=mean, scale=spread)[..., None], enlarge)
    flakes[flakes < threshold] = 0
    flakes = np.clip(flakes[..., 0], 0, 1)
    flakes = _motion_trail(flakes, radius, sigma, rng.uniform(-135, -45))
    flakes = (np.round(flakes * 255).astype(np.uint8) / 255.0)[:h, :w, None]  # stored as 8-bit, as drawn
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(h, w, 1)
    x = keep * x + (1 - keep) * np.maximum(x, grey * 1.5 + 0.5)
    if flakes.shape[:2] == (h, w):
        return _to_uint8(x + flakes + np.rot90(flakes, k=2))
    x[:flakes.shape[0], :flakes.shape[1]] += flakes + np.rot90(flakes, k=2)  # the layer came out short
    return _to_uint8(x)


def spatter(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Drops on the lens: a smoothed, thresholded noise layer drawn as pale-turquoise water with shaded
    rims (severities 1–3) or as opaque mud (4–5)."""
    import cv2
    from scipy.ndimage import gaussian_filter

    mean, spread, smooth, threshold, strength, mud = (
        (0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1))[severity - 1]
    x = (image / 255.0).astype(np.float32)
    liquid = gaussian_filter(rng.normal(size=x.shape[:2], loc=mean, scale=spread), smooth, mode="nearest", truncate=4.0)
    liquid[liquid < threshold] = 0
    if not mud:
        liquid = (liquid * 255).astype(np.uint8)
        # the drops' rims: distance to the layer's edges, capped, equalised and embossed
        distance = cv2.distanceTransform(255 - cv2.Canny(liquid, 50, 150), cv2.DIST_L2, 5)
        _, distance = cv2.threshold(distance, 20, 20, cv2.THRESH_TRUNC)
        distance = cv2.equalizeHist(cv2.blur(distance, (3, 3)).astype(np.uint8))
        emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
        distance = cv2.blur(cv2.filter2D(distance, cv2.CV_8U, emboss), (3, 3)).astype(np.float32)
        water = liquid * distance  # float32: uint8 × float32
        peak = water.max()  # zero on a tiny image with no drop: no spatter rather than NaN
        water = water / peak * strength if peak > 0 else water
        colour = np.array([175, 238, 238], np.float32) / 255.0  # pale turquoise
        return _to_uint8(x + water[..., None] * colour)
    drops = gaussian_filter(np.where(liquid > threshold, 1, 0).astype(np.float32), strength, mode="nearest", truncate=4.0)
    drops[drops < 0.8] = 0
    colour = np.array([63, 42, 20], np.float64) / 255.0 * drops[..., None]  # mud brown
    return _to_uint8(x * (1 - drops[..., None]) + colour)


# -------------------------------------------------------------------------------------- digital
def _rgb_to_hsv(x: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] → HSV in [0, 1] (hue as a fraction of a turn; grey pixels get hue and saturation 0)."""
    high = x.max(axis=-1)
    low = x.min(axis=-1)
    delta = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        saturation = np.where(delta == 0, 0.0, delta / high)
        r, g, b = x[..., 0], x[..., 1], x[..., 2]
        hue = np.where(x[..., 0] == high, (g - b) / delta,
                       np.where(x[..., 1] == high, 2.0 + (b - r) / delta, 4.0 + (r - g) / delta))
    hue = np.where(delta == 0, 0.0, (hue / 6.0) % 1.0)
    return np.stack([hue, saturation, high], axis=-1)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_rgb_to_hsv`."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    sector = np.floor(h * 6.0)
    f = h * 6.0 - sector
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    sector = sector.astype(int) % 6
    choices = [np.stack(c, axis=-1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))]
    out = np.zeros_like(hsv)
    for i, rgb in enumerate(choices):  # six sectors of the hue circle, each a whole-image select
        out = np.where((sector == i)[..., None], rgb, out)
    return out


def brightness(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Brighter: the HSV value raised by 0.1–0.5."""
    shift = (0.1, 0.2, 0.3, 0.4, 0.5)[severity - 1]
    hsv = _rgb_to_hsv(_unit(image))
    hsv[..., 2] = np.clip(hsv[..., 2] + shift, 0, 1)
    return _to_uint8(_hsv_to_rgb(hsv))


def contrast(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Less contrast: each channel pulled towards its mean, keeping 0.4–0.05 of the deviation."""
    keep = (0.4, 0.3, 0.2, 0.1, 0.05)[severity - 1]
    x = _unit(image)
    means = x.mean(axis=(0, 1), keepdims=True)
    return _to_uint8((x - means) * keep + means)


def saturate(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """HSV saturation scaled (and shifted): less saturated at severities 1–2, more at 3–5."""
    scale, shift = ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2))[severity - 1]
    hsv = _rgb_to_hsv(_unit(image))
    hsv[..., 1] = np.clip(hsv[..., 1] * scale + shift, 0, 1)
    return _to_uint8(_hsv_to_rgb(hsv))


def jpeg_compression(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """JPEG at quality 25–7 (Pillow's encoder), decoded again."""
    quality = (25, 18, 15, 10, 7)[severity - 1]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def pixelate(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Box-downsampled to 0.6–0.25 of the size, then enlarged again with nearest neighbours."""
    factor = (0.6, 0.5, 0.4, 0.3, 0.25)[severity - 1]
    h, w = image.shape[:2]
    small = Image.fromarray(image).resize((max(1, int(w * factor)), max(1, int(h * factor))), Image.BOX)
    return np.asarray(small.resize((w, h), Image.NEAREST))


# The frost photographs of imagecorruptions 1.1.2 (Apache-2.0), by SHA-256: read from that package where it
# is installed (pip install --no-deps imagecorruptions==1.1.2) or from a folder named by IDRNET_FROST_DIR.
FROST_PHOTOS = {
    "frost1.png": "ff9f907860bd7a835d459e32f9d588062b7f61ee267343cc7222b56753a14755",
    "frost2.png": "fe211a89b336999c207a852ce05818d4545d0b57c5beadd824b4cc9d9a9b6137",
    "frost3.png": "2d0d50b4a9bb213f38b024ef7768731bb83cc08d2f26b5766bbc167cdfa0e504",
    "frost4.jpg": "3f8b91ca1a9fa7167b09e773da53f5ae60d0a1fd88f02a783f6e328a72887f6e",
    "frost5.jpg": "5fc6a19df4a429ba68abdcc8f8a4278d4c9f81c9ccafd2c92ab0c8cf8992ebd2",
}
FROST_INSTALL = "pip install --no-deps imagecorruptions==1.1.2"


def frost_folder() -> Path | None:
    """Where the frost photographs are: ``IDRNET_FROST_DIR``, else the installed imagecorruptions
    package's folder (found without importing it); None when neither holds them."""
    import importlib.util
    import os

    named = os.environ.get("IDRNET_FROST_DIR")
    if named:
        return Path(named) if all((Path(named) / f).is_file() for f in FROST_PHOTOS) else None
    try:
        spec = importlib.util.find_spec("imagecorruptions")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "frost"
    return folder if all((folder / f).is_file() for f in FROST_PHOTOS) else None


def _frost_missing() -> InputError:
    return InputError(f"corruption 'frost' needs the frost photographs of imagecorruptions 1.1.2: {FROST_INSTALL} "
                      "(or set IDRNET_FROST_DIR to a folder holding frost1.png … frost5.jpg)")


@functools.lru_cache(maxsize=None)
def _frost_photo(name: str) -> np.ndarray:
    """One frost photograph (BGR, as the package reads it), checked against its SHA-256."""
    import hashlib

    import cv2

    folder = frost_folder()
    if folder is None:
        raise _frost_missing()
    data = (folder / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != FROST_PHOTOS[name]:
        raise InputError(f"{folder / name}: not the frost photograph of imagecorruptions 1.1.2 (its SHA-256 differs)")
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def frost(image: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """A frost photograph (one of five, enlarged 1.1× beyond the image when smaller), randomly cropped
    and blended over the darkened image."""
    import cv2

    keep, amount = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))[severity - 1]
    photo = _frost_photo(list(FROST_PHOTOS)[rng.randint(5)])
    (ph, pw), (h, w) = photo.shape[:2], image.shape[:2]
    if ph >= h and pw >= w:
        factor = 1.0
    elif ph < h and pw >= w:
        factor = h / ph
    elif ph >= h and pw < w:
        factor = w / pw
    else:
        factor = max(h / ph, w / pw)
    factor *= 1.1
    size = (int(np.ceil(pw * factor)), int(np.ceil(ph * factor)))
    enlarged = cv2.resize(photo, dsize=size, interpolation=cv2.INTER_CUBIC)
    top, left = rng.randint(0, enlarged.shape[0] - h), rng.randint(0, enlarged.shape[1] - w)
    crop = enlarged[top:top + h, left:left + w][..., ::-1]
    return np.clip(keep * image.astype(np.float64) + amount * crop, 0, 255).astype(np.uint8)


def frost_available() -> bool:
    """Whether the frost photographs are at hand (see :func:`frost_folder`)."""
    return frost_folder() is not None


# name → function, in the package's order; its groups
CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur, "glass_blur": glass_blur, "brightness": brightness, "contrast": contrast,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression, "speckle_noise": speckle_noise, "gaussian_blur": gaussian_blur,
    "saturate": saturate, "zoom_blur": zoom_blur, "fog": fog, "motion_blur": motion_blur,
    "elastic_transform": elastic_transform, "snow": snow, "frost": frost, "spatter": spatter,
}
GROUPS: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
    "validation": ("speckle_noise", "gaussian_blur", "spatter", "saturate"),
}


def select_corruptions(names: Sequence[str]) -> list[str]:
    """The corruptions named by ``names``: ``all``, group names (noise, blur, weather, digital,
    validation) and corruption names, in the benchmark's order, each once. ``all`` and the groups cover
    what is available (frost is left out, with a warning, when its photographs are not installed); names
    are matched ignoring case, with "-" or " " for "_"; an unknown name lists the valid ones."""
    order = [name for group in GROUPS.values() for name in group]
    if not any(str(n).strip() for n in names):  # a report of no cells at all (mPC "–") was written for it
        raise InputError(f"no corruption named; expected all, a group ({', '.join(GROUPS)}) or one of {', '.join(CORRUPTIONS)}")
    chosen: set[str] = set()
    given = names
    # "Gaussian-Noise", "motion blur": the spellings of papers and of imagecorruptions' own names.
    names = [n.strip().lower().replace("-", "_").replace(" ", "_") for n in names]
    for name, as_given in zip(names, given):
        if name == "all":
            chosen.update(order)
        elif name in GROUPS:
            chosen.update(GROUPS[name])
        elif name in CORRUPTIONS:
            chosen.add(name)
        else:
            raise InputError(f"unknown corruption {as_given!r}; expected all, a group ({', '.join(GROUPS)}) or one of "
                             f"{', '.join(CORRUPTIONS)}")
    if "frost" in chosen and not frost_available():
        if "frost" in names:
            raise _frost_missing()
        import warnings

        warnings.warn(f"frost is left out: its photographs are not installed ({FROST_INSTALL})", stacklevel=2)
        chosen.discard("frost")
    return [name for name in order if name in chosen]


def corrupt(image: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """``image`` (H, W, 3) uint8 under corruption ``name`` at ``severity`` (1–5), the same for the same
    ``seed`` in any process."""
    if name not in CORRUPTIONS:
        raise InputError(f"corruption {name!r}: expected one of {', '.join(CORRUPTIONS)}")
    if severity not in (1, 2, 3, 4, 5):
        raise InputError(f"severity {severity!r}: expected 1, 2, 3, 4 or 5")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    return CORRUPTIONS[name](image, severity, np.random.RandomState(seed))


def corruption_seed(sample_id: str, name: str, severity: int, seed: int = 0) -> int:
    """The seed of one (image, corruption, severity): a stable hash (not Python's salted ``hash``), so
    any process — a DataLoader worker, a resumed run — corrupts an image the same way."""
    import zlib

    return zlib.crc32(f"{sample_id}\0{name}\0{severity}\0{seed}".encode())


class Corrupt:
    """A pipeline step (before normalisation) that corrupts ``sample["image"]`` with ``name`` at
    ``severity``, seeded by the sample's id (:func:`corruption_seed`), not by the pipeline's generator."""

    def __init__(self, name: str, severity: int, seed: int = 0) -> None:
        corrupt(np.zeros((32, 32, 3), np.uint8), name, severity)  # unknown names and severities fail here
        self.name, self.severity, self.seed = name, severity, seed

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:  # noqa: ARG002 - seeded by the id
        seed = corruption_seed(str(sample["id"]), self.name, self.severity, self.seed)
        return {**sample, "image": corrupt(sample["image"], self.name, self.severity, seed)}
