import math

import pytest
import torch

from voxray.features.channel import ChannelAugment

SR = 16000
OFF = dict(p_reverb=0.0, p_eq=0.0, p_bandlimit=0.0, p_resample=0.0, p_codec=0.0, p_noise=0.0, gain_db=0.0)
# two rates keep the grouping by rate; 11025 Hz is left out as its kernel takes 0.5 s to build
ALL_ON = dict(p_reverb=1.0, p_eq=1.0, p_bandlimit=1.0, p_resample=1.0, p_codec=1.0, p_noise=1.0, rates=(8000, 12000))


def only(**kw: object) -> ChannelAugment:
    """A module with every step off except those given."""
    return ChannelAugment(**{**OFF, **kw})


def white(b: int = 8, seed: int = 0) -> torch.Tensor:
    """(b, 1 s) white noise at -20 dBFS RMS."""
    return 0.1 * torch.randn(b, SR, generator=torch.Generator().manual_seed(seed))


def voiced(b: int = 8) -> torch.Tensor:
    """(b, 1 s) harmonic tones at different pitches, covering the whole clip."""
    t = torch.arange(SR) / SR
    f0 = torch.linspace(100, 250, b)[:, None]
    return sum(0.2 / h * torch.sin(2 * math.pi * f0 * h * t) for h in range(1, 6))


def band_power(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Mean power per bin in [lo, hi) Hz, per example (B,), Hann-windowed against leakage."""
    f = torch.fft.rfftfreq(x.shape[1], 1 / SR)
    win = torch.hann_window(x.shape[1], periodic=False)
    return torch.fft.rfft(x * win).abs().pow(2)[:, (f >= lo) & (f < hi)].mean(1)


def band_db(y: torch.Tensor, x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Power of y relative to x in [lo, hi) Hz, per example (B,)."""
    return 10 * torch.log10(band_power(y, lo, hi) / band_power(x, lo, hi))


def test_all_off_is_identity_and_eval_is_identity() -> None:
    x = white()
    assert torch.equal(only()(x), x)
    assert torch.equal(ChannelAugment(**ALL_ON).eval()(x), x)


def test_no_state_in_checkpoints() -> None:
    assert not ChannelAugment(**ALL_ON).state_dict(), "resample kernels follow from the settings"


def test_shape_dtype_finite_and_silence_stays_silent() -> None:
    torch.manual_seed(0)
    m = ChannelAugment(**ALL_ON)
    x = torch.cat([white(4).double(), torch.zeros(4, SR, dtype=torch.float64)])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
    assert y.shape == x.shape and y.dtype == torch.float32 and torch.isfinite(y).all()
    assert torch.equal(y[4:], torch.zeros(4, SR)), "no noise is added to a silent clip"


def test_examples_get_different_draws_and_the_seed_reproduces() -> None:
    m = ChannelAugment(**ALL_ON)
    x = white(1).repeat(8, 1)
    torch.manual_seed(1)
    a = m(x)
    torch.manual_seed(1)
    assert torch.equal(m(x), a)
    assert all(not torch.allclose(a[i], a[j]) for i in range(8) for j in range(i + 1, 8))


def test_bandlimit_removes_energy_outside_the_drawn_band() -> None:
    torch.manual_seed(0)
    x = white()
    y = only(p_bandlimit=1.0, lowpass_hz=(3000, 3000), highpass_hz=(200, 200))(x)
    assert (band_db(y, x, 3050, SR / 2) < -40).all()
    assert (band_db(y, x, 0, 150) < -40).all()
    assert (band_db(y, x, 300, 2900).abs() < 0.1).all(), "pass band untouched"


def test_resample_to_8k_leaves_nothing_above_4k() -> None:
    torch.manual_seed(0)
    x = white()
    y = only(p_resample=1.0, rates=(8000,))(x)
    assert (band_db(y, x, 4000, SR / 2) < -60).all()
    assert (band_db(y, x, 50, 3400).abs() < 0.5).all(), "pass band kept"


def test_noise_is_added_at_the_drawn_snr_over_the_active_part() -> None:
    torch.manual_seed(0)
    x = voiced()
    x[4:, SR // 2:] = 0.0  # half the clip silent: the SNR holds over the voiced half
    y = only(p_noise=1.0, snr_db=(10, 10))(x)
    noise = (y - x).pow(2)
    signal = x.pow(2)
    snr_full = 10 * torch.log10(signal[:4].mean(1) / noise[:4].mean(1))
    snr_half = 10 * torch.log10(signal[4:, : SR // 2].mean(1) / noise[4:].mean(1))
    assert (snr_full - 10).abs().max() < 0.5 and (snr_half - 10).abs().max() < 0.5


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_noise_colour_is_one_over_f_to_the_alpha(alpha: float) -> None:
    torch.manual_seed(0)
    x = voiced()
    noise = only(p_noise=1.0, noise_alpha=(alpha, alpha))(x) - x
    tilt = 10 * torch.log10(band_power(noise, 1000, 1100) / band_power(noise, 6000, 6600)).mean()
    assert abs(tilt - alpha * 10 * math.log10(6300 / 1050)) < 1.5  # dB between band centres, power ~ f^-alpha


@pytest.mark.parametrize("rt60", [0.3, 0.7])
def test_reverb_adds_a_tail_with_the_drawn_rt60(rt60: float) -> None:
    torch.manual_seed(0)
    impulse = torch.zeros(4, SR)
    impulse[:, 0] = 1.0
    m = only(p_reverb=1.0, rt60=(rt60, rt60), drr_db=(3, 3))
    y = m(impulse)
    energy = y.pow(2)
    assert (energy[:, int(0.1 * SR):].sum(1) / energy.sum(1) > 1e-3).all(), "energy after 100 ms"
    assert (y.abs().argmax(1) == 0).all(), "direct path first and strongest"
    # Schroeder backward integral; fit its slope between -10 and -30 dB
    edc = energy.flip(1).cumsum(1).flip(1)
    edc_db = 10 * torch.log10(edc / edc[:, :1])
    t = torch.arange(SR) / SR
    for row in edc_db:
        keep = (row < -10) & (row > -30)
        tk, dk = t[keep], row[keep]
        slope = ((tk - tk.mean()) * (dk - dk.mean())).sum() / (tk - tk.mean()).pow(2).sum()  # dB/s
        assert abs(-60 / slope - rt60) < 0.2 * rt60
    x = white()
    level = 10 * torch.log10(m(x).pow(2).mean(1) / x.pow(2).mean(1))
    assert level.abs().max() < 0.01, "RMS level kept"


def test_eq_is_a_smooth_curve_within_eq_db() -> None:
    torch.manual_seed(0)
    x = white()
    y = only(p_eq=1.0, eq_db=6.0)(x)
    gain_db = 20 * torch.log10(torch.fft.rfft(y).abs() / torch.fft.rfft(x).abs())  # (B, F)
    assert gain_db.abs().max() < 6.0 + 0.05
    assert (gain_db.abs().amax(1) > 1.0).all(), "not the identity"
    assert gain_db.diff(dim=1).abs().max() < 0.5, "smooth across neighbouring bins"


def test_codec_error_is_bounded_like_mu_law() -> None:
    torch.manual_seed(0)
    x = torch.rand(8, SR) * 2 - 1
    x = x * torch.logspace(-3, 0, 8)[:, None]  # -60 dB to full scale
    y = only(p_codec=1.0)(x)

    def compand(v: torch.Tensor) -> torch.Tensor:
        return torch.sign(v) * torch.log1p(255 * v.abs()) / math.log(256)

    step = (compand(y) - compand(x)).abs()
    assert step.max() <= 0.5 / 127 + 1e-5, "at most half a step on the mu-law scale"
    assert step.mean() > 0.1 / 127, "quantised, not the identity"
    err = (y - x).abs()
    assert err[0].max() < err[-1].max() / 50, "error follows the level"


def test_gain_scales_each_example_within_gain_db() -> None:
    torch.manual_seed(0)
    x = white()
    ratio = only(gain_db=6.0)(x) / x
    g = ratio[:, :1]
    torch.testing.assert_close(ratio, g.expand_as(ratio))
    assert (g.log10().abs() * 20 <= 6.0 + 1e-4).all() and g.unique().numel() == 8


@pytest.mark.parametrize(
    "kw",
    [dict(p_noise=1.5), dict(lowpass_hz=(3400, 9000)), dict(highpass_hz=(300, 4000)), dict(rates=(16000,)),
     dict(snr_db=(30, 5)), dict(eq_db=-1.0)],
)
def test_bad_settings_raise(kw: dict) -> None:
    with pytest.raises(ValueError, match="must"):
        ChannelAugment(**kw)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda() -> None:
    torch.manual_seed(0)
    m = ChannelAugment(**ALL_ON).to("cuda")
    x = torch.cat([white(4), torch.zeros(4, SR)]).cuda()
    y = m(x)
    assert y.device.type == "cuda" and y.shape == x.shape and torch.isfinite(y).all()
    assert torch.equal(y[4:], torch.zeros_like(y[4:]))


def test_the_masked_path_of_accelerators_draws_the_same_channels() -> None:
    """Off a CPU drawn rows are selected by mask (no host sync); with every step drawn for every
    example both paths consume the same random numbers and must agree."""
    gathered, masked = ChannelAugment(**ALL_ON), ChannelAugment(**ALL_ON)
    masked.masked = True
    x = white(4)
    torch.manual_seed(3)
    a = gathered(x)
    torch.manual_seed(3)
    torch.testing.assert_close(masked(x), a)


def test_masked_steps_leave_the_undrawn_examples_untouched() -> None:
    m = only(p_bandlimit=0.5)
    m.masked = True
    x = white(64)
    torch.manual_seed(4)
    y = m(x)
    same = (y == x).all(dim=1)
    assert 10 < int(same.sum()) < 54  # about half drawn, the others exactly as they were
