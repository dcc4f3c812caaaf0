"""One synthetic chest radiograph, drawn from anatomy to film.

Each film is drawn in anatomical coordinates (x across the chest, y down it, about +-1 over the
thorax) as an attenuation map: soft tissue, air-filled lungs, mediastinum and heart, spine,
ribs, clavicles and vessel markings; pneumonia adds density inside the lungs (bacterial: one
dense lobar consolidation; viral: patchy bilateral perihilar haze). The map goes through an
exponential exposure curve, a random window and gamma, blur and film grain. Anatomy and disease
come from a per-patient RNG, pose and exposure from a per-image RNG, so a patient's films differ
the way follow-up films do, and everything is deterministic given the seed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

KINDS = ("normal", "bacteria", "virus")
Rng = np.random.Generator


def render_xray(kind: str, patient: int, index: int, size: int = 256, seed: int = 0) -> np.ndarray:
    """Draw one synthetic film.

    Args:
        kind: "normal", "bacteria" or "virus".
        patient: patient number (keys anatomy and disease).
        index: film number (keys pose, exposure and noise).
        size: nominal side; height and width vary around it (default 256).
        seed: corpus seed (default 0).

    Returns:
        uint8 array (H, W), H and W within about 0.95-1.25 x size. The same patient and index
        with kind "normal" give the same film without the opacity.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS}")
    body = np.random.default_rng([seed, 1, patient])  # the patient: anatomy and disease
    film = np.random.default_rng([seed, 2, index])  # this exposure: pose, window, noise
    height, width = int(size * film.uniform(0.95, 1.1)), int(size * film.uniform(1.0, 1.25))
    x, y = _coordinates(height, width, film)
    lung_r, lung_l = _lungs(x, y, body)
    lungs = lung_r + lung_l
    density = _anatomy(x, y, lungs, body)
    # Drawn for every kind, so the same (patient, index) as "normal" is the identical film minus
    # the opacity: a paired control for tests and saliency checks.
    visibility = film.uniform(0.85, 1.15)  # the same opacity shows a little differently per film
    if kind == "bacteria":
        density += _consolidation(x, y, (lung_r, lung_l), body) * visibility
    elif kind == "virus":
        density += _patchy_haze(x, y, lungs, body) * visibility
    return _expose(density, film)


def _coordinates(height: int, width: int, film: Rng) -> tuple[np.ndarray, ...]:
    """Anatomical x, y of every pixel under a random rotation, shift and zoom (patient pose)."""
    angle = np.deg2rad(film.uniform(-4, 4))
    scale = min(height, width) / 2 * film.uniform(0.93, 1.07)
    cols = (np.arange(width, dtype=np.float32) - width / 2) / scale
    rows = (np.arange(height, dtype=np.float32) - height / 2) / scale
    u, v = np.meshgrid(cols, rows)  # (H, W) each
    x = np.cos(angle) * u + np.sin(angle) * v - film.uniform(-0.06, 0.06)
    y = -np.sin(angle) * u + np.cos(angle) * v - film.uniform(-0.05, 0.05)
    return x, y


def _soft(signed: np.ndarray, edge: float) -> np.ndarray:
    """Soft inside-mask from a signed 'inside-ness' (positive inside), edge width in units."""
    return 0.5 + 0.5 * np.tanh(signed / edge)


def _field(x: np.ndarray, y: np.ndarray, rng: Rng, band: tuple) -> np.ndarray:
    """Smooth random field (about unit variance) in anatomical coordinates: a sum of cosines.

    Defined on x, y rather than pixels, so one patient's disease pattern moves with the pose.
    x and y are affine in the pixel indices, so each plane wave splits into a row and a column
    term (cos(a + b) = cos a cos b - sin a sin b) and the sum is two small tensor products.
    """
    n = 10
    freq = rng.uniform(*band, n) * 2 * np.pi
    theta, phase = rng.uniform(0, np.pi, n), rng.uniform(0, 2 * np.pi, n)
    kx, ky = freq * np.cos(theta), freq * np.sin(theta)
    rows = np.outer(kx, x[:, 0] - x[0, 0]) + np.outer(ky, y[:, 0] - y[0, 0])  # (n, H)
    cols = np.outer(kx, x[0]) + np.outer(ky, y[0]) + phase[:, None]  # (n, W)
    # einsum, not @: BLAS would start a thread per core in every worker process and thrash.
    waves = np.einsum("nh,nw->hw", np.cos(rows), np.cos(cols))  # (H, W)
    waves -= np.einsum("nh,nw->hw", np.sin(rows), np.sin(cols))
    return (waves * np.sqrt(2 / n)).astype(np.float32)


def _lungs(x: np.ndarray, y: np.ndarray, body: Rng) -> tuple[np.ndarray, ...]:
    """Right and left lung masks: egg shapes, narrow apex, deep lateral costophrenic angle."""
    rx, ry, cy = body.uniform(0.3, 0.36), body.uniform(0.58, 0.68), body.uniform(-0.12, -0.04)
    masks = []
    for side in (-1, 1):  # image left is the patient's right (radiographic convention)
        # The right hemidiaphragm sits higher (liver), so the right lung is a little shorter.
        height = ry * (0.94 if side < 0 else 1.0)
        lateral = side * (x - side * body.uniform(0.4, 0.46)) / rx  # +1 at the lateral edge
        down = (y - cy) / height
        width = 0.55 + 0.45 * np.clip((down + 1) / 2, 0, 1) ** 0.6
        down = down - 0.18 * lateral  # dome: the base dips laterally into the angle
        masks.append(_soft(1 - (lateral / width) ** 2 - down**2, 0.08))
    return masks[0], masks[1]


def _anatomy(x: np.ndarray, y: np.ndarray, lungs: np.ndarray, body: Rng) -> np.ndarray:
    """Attenuation of a normal chest (soft tissue about 1, aerated lung about 0.3)."""
    half_width = body.uniform(0.92, 1.02)
    trunk = _soft(1 - np.abs(x / half_width) ** 3 - ((y - 0.45) / 1.6) ** 2, 0.04)
    density = trunk - 0.72 * lungs
    mediastinum_half = 0.09 + 0.04 * np.clip(y + 0.3, 0, 1)
    density += 0.45 * _soft(mediastinum_half - np.abs(x - 0.02), 0.02) * _soft(0.45 - y, 0.05)
    hx, hy = body.uniform(0.1, 0.16), body.uniform(0.28, 0.36)  # heart: patient's left
    hr = body.uniform(0.3, 0.36), body.uniform(0.18, 0.24)
    density += 0.45 * _soft(1 - ((x - hx) / hr[0]) ** 2 - ((y - hy) / hr[1]) ** 2, 0.08)
    density += 0.25 * _soft(1 - ((x - 0.1) / 0.07) ** 2 - ((y + 0.38) / 0.06) ** 2, 0.15)  # aorta
    density -= 0.3 * _soft(0.035 - np.abs(x), 0.01) * _soft(-0.3 - y, 0.04)  # trachea (air)
    vertebrae = 0.8 + 0.2 * np.cos(2 * np.pi * y / body.uniform(0.11, 0.14))
    density += 0.3 * vertebrae * _soft(0.065 - np.abs(x), 0.015)
    density += _bones(x, y, half_width, body) * trunk
    # Vessel markings: fine branching-like texture, strongest at the hila, fading laterally.
    hila = np.exp(-((np.abs(x) - 0.15) ** 2) / 0.05 - (y + 0.05) ** 2 / 0.1)
    markings = np.maximum(_field(x, y, body, (5, 10)), 0) * (0.3 + hila)
    density += body.uniform(0.04, 0.08) * markings * lungs
    if body.random() < 0.35:  # benign soft-tissue (breast) shadows over both bases: a confounder
        bases = _soft(y - 0.15, 0.12) * _soft(np.abs(x) - 0.3, 0.1)
        density += body.uniform(0.04, 0.12) * bases * lungs
    return density


def _bones(x: np.ndarray, y: np.ndarray, half_width: float, body: Rng) -> np.ndarray:
    """Posterior and anterior ribs and clavicles as curved bright bands."""
    reach = np.abs(x) / half_width  # 0 at the spine, 1 at the chest wall
    spacing, top = body.uniform(0.12, 0.14), body.uniform(-0.95, -0.85)
    # Posterior ribs run out from the spine and curve down; anterior ones (fainter) slope down
    # medially. Ribs are evenly spaced, so one periodic band replaces a loop over ribs.
    posterior = y - (top - 0.06 * reach + 0.42 * reach**2)
    anterior = y - (top + 0.25 - 0.3 * np.clip(1 - reach, 0, 1) ** 1.5)
    bones = 0.12 * _rib_bands(posterior, spacing, 10) + 0.06 * _rib_bands(anterior, spacing, 7)
    bones *= _soft(1 - reach, 0.04) * _soft(np.abs(x) - 0.07, 0.02)
    clavicle_y = body.uniform(-0.8, -0.7) - 0.12 * np.abs(x)
    along = _soft(np.abs(x) - 0.06, 0.02) * _soft(0.6 - np.abs(x), 0.03)
    return bones + 0.35 * np.exp(-(((y - clavicle_y) / 0.035) ** 2)) * along


def _rib_bands(offset: np.ndarray, spacing: float, count: int) -> np.ndarray:
    """`count` bright bands of width 0.03 at offset 0, spacing, 2 * spacing, ..."""
    nearest = np.clip(np.rint(offset / spacing), 0, count - 1)
    return np.exp(-(((offset - nearest * spacing) / 0.03) ** 2))


def _consolidation(x: np.ndarray, y: np.ndarray, lungs: tuple, body: Rng) -> np.ndarray:
    """Bacterial lobar pneumonia: one dense, fairly uniform opacity within one lung zone."""
    side = int(body.integers(2))
    cx = (-1, 1)[side] * body.uniform(0.28, 0.5)
    cy = body.choice([-0.35, -0.05, 0.25]) + body.uniform(-0.08, 0.08)  # upper, middle, lower
    rx, ry = body.uniform(0.14, 0.28), body.uniform(0.12, 0.25)
    outline = 1 - ((x - cx) / rx) ** 2 - ((y - cy) / ry) ** 2 + 0.6 * _field(x, y, body, (1, 3))
    texture = 1 + 0.12 * _field(x, y, body, (8, 14))
    # Density from barely visible to dense: with 64 px inputs a small CNN reaches AUROC ~0.95
    # after 10 epochs (0.5 after one), so there is something to learn and subtle cases remain.
    return body.uniform(0.06, 0.65) * _soft(outline, 0.7) * texture * lungs[side]


def _patchy_haze(x: np.ndarray, y: np.ndarray, lungs: np.ndarray, body: Rng) -> np.ndarray:
    """Viral pneumonia: patchy, bilateral, perihilar interstitial haze with reticular texture."""
    patches = _soft(_field(x, y, body, (2, 4)) - body.uniform(-0.3, 0.5), 0.5)
    reticular = 0.6 + 0.6 * np.maximum(_field(x, y, body, (6, 11)), 0)
    perihilar = np.exp(-((np.abs(x) - 0.2) ** 2) / 0.09 - (y - 0.05) ** 2 / 0.2)
    return body.uniform(0.06, 0.5) * patches * reticular * (0.35 + perihilar) * lungs


def _expose(density: np.ndarray, film: Rng) -> np.ndarray:
    """Attenuation -> exposure curve, random window and gamma, blur, grain -> uint8."""
    image = 1 - np.exp(-film.uniform(1.1, 1.9) * np.maximum(density, 0))
    low, high = film.uniform(0, 0.12), film.uniform(0.88, 1.02)
    image = np.clip((image - low) / (high - low), 0, 1) ** film.uniform(0.8, 1.25)
    image = ndimage.gaussian_filter(image, film.uniform(0.4, 1.0))  # focal-spot unsharpness
    mottle = ndimage.gaussian_filter(film.standard_normal(image.shape), 2.0) * 3
    grain = film.uniform(0.01, 0.03) * (film.standard_normal(image.shape) + mottle)
    return np.clip((image + grain) * 255, 0, 255).astype(np.uint8)
