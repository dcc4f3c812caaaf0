"""Channel augmentation on the training device: reverb, EQ, band limit, low rate, codec, noise, gain.

Crowd-sourced speakers each record through their own microphone, room, phone line and codec, so a
network can learn the channel instead of the voice; drawing a new channel per example per batch
(as in speaker and age recognition, e.g. Snyder et al., 2018) takes that shortcut away.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torchaudio
from torch import nn


def _span(name: str, value: Sequence[float], lo: float, hi: float) -> tuple[float, float]:
    """Check a (min, max) pair with lo <= min <= max <= hi; return it as floats."""
    if len(value) != 2 or not lo <= float(value[0]) <= float(value[1]) <= hi:
        raise ValueError(f"{name} must be (min, max) with {lo} <= min <= max <= {hi}, got {value}")
    return float(value[0]), float(value[1])


def _uniform(n: int, span: tuple[float, float], device: torch.device) -> torch.Tensor:
    """n draws from U(span) as a column (n, 1)."""
    return torch.empty(n, 1, device=device).uniform_(*span)


class ChannelAugment(nn.Module):
    """(B, L) float waveform in [-1, 1] -> (B, L) float32 through a random channel, per example.

    Each step is drawn independently per example with its own probability, in this order:
    reverb (a synthetic room), EQ (microphone colour), band limit (telephone / headset filters),
    resample (a low-rate recording), codec (G.711 mu-law), noise (white to brown), gain (level).
    Randomness comes from torch's global RNG on the input's device; identity in eval mode.

    Args:
        sample_rate: input rate in Hz (16000).
        p_reverb: probability of reverb (0.3).
        rt60: range of reverberation time in s, decay to -60 dB (0.15, 0.8).
        drr_db: range of the direct-to-reverberant energy ratio in dB (0, 12).
        p_eq: probability of a random EQ curve (0.5).
        eq_db: max boost or cut of the EQ curve in dB (10).
        p_bandlimit: probability of a band limit (0: off by default, see conf/model/voice_base.yaml).
        lowpass_hz: range of the low-pass cutoff in Hz (3400, 7500).
        highpass_hz: range of the high-pass cutoff in Hz (50, 300).
        p_resample: probability of a down-and-up resample (0.2).
        rates: lower sample rates to draw from, in Hz (8000, 11025, 12000).
        p_codec: probability of mu-law 8-bit companding (0: off by default).
        p_noise: probability of additive noise (0.5).
        snr_db: range of the signal-to-noise ratio in dB (5, 30).
        noise_alpha: range of the noise colour, power ~ 1/f^alpha: 0 white, 1 pink, 2 brown (0, 2).
        gain_db: random level change +-gain_db for every example (6); 0 disables.
    """

    eq_points = 8  # EQ anchors, log-spaced from eq_f_min to Nyquist: about one per octave
    eq_f_min = 50.0
    noise_f_min = 20.0  # noise below this is inaudible and outside the log-mel, so it is left out
    frame_s = 0.02  # frame length for the active-signal power behind the SNR
    active_db = 40.0  # frames within this many dB of a clip's loudest frame count as active
    mu = 255.0  # G.711 mu-law

    def __init__(
        self,
        sample_rate: int = 16000,
        p_reverb: float = 0.3,
        rt60: Sequence[float] = (0.15, 0.8),
        drr_db: Sequence[float] = (0.0, 12.0),
        p_eq: float = 0.5,
        eq_db: float = 10.0,
        p_bandlimit: float = 0.0,
        lowpass_hz: Sequence[float] = (3400.0, 7500.0),
        highpass_hz: Sequence[float] = (50.0, 300.0),
        p_resample: float = 0.2,
        rates: Sequence[int] = (8000, 11025, 12000),
        p_codec: float = 0.0,
        p_noise: float = 0.5,
        snr_db: Sequence[float] = (5.0, 30.0),
        noise_alpha: Sequence[float] = (0.0, 2.0),
        gain_db: float = 6.0,
    ) -> None:
        super().__init__()
        self.masked: bool | None = None  # select drawn rows by mask (None: off a CPU), see `_some`
        probs = dict(p_reverb=p_reverb, p_eq=p_eq, p_bandlimit=p_bandlimit, p_resample=p_resample,
                     p_codec=p_codec, p_noise=p_noise)
        for name, p in probs.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
        if eq_db < 0 or gain_db < 0:
            raise ValueError(f"eq_db and gain_db must be >= 0 dB, got {eq_db} and {gain_db}")
        nyquist = sample_rate / 2
        if not rates or any(not 0 < r < sample_rate for r in rates):
            raise ValueError(f"rates must be one or more rates in (0, {sample_rate}) Hz, got {rates}")
        self.sample_rate = sample_rate
        self.p_reverb, self.p_eq, self.p_bandlimit = p_reverb, p_eq, p_bandlimit
        self.p_resample, self.p_codec, self.p_noise = p_resample, p_codec, p_noise
        self.rt60 = _span("rt60", rt60, 1e-3, 10.0)
        self.drr_db = _span("drr_db", drr_db, -40.0, 60.0)
        self.lowpass_hz = _span("lowpass_hz", lowpass_hz, 0.0, nyquist)
        self.highpass_hz = _span("highpass_hz", highpass_hz, 0.0, nyquist)
        if self.highpass_hz[1] >= self.lowpass_hz[0]:
            raise ValueError(f"highpass_hz {highpass_hz} must lie below lowpass_hz {lowpass_hz}")
        self.snr_db = _span("snr_db", snr_db, -20.0, 100.0)
        self.noise_alpha = _span("noise_alpha", noise_alpha, 0.0, 3.0)
        self.eq_db, self.gain_db = float(eq_db), float(gain_db)
        # Kaiser-windowed sinc, cutoff at 0.9 x the low Nyquist: measured >= 75 dB below the input
        # above the low Nyquist, where torchaudio's default (Hann, 0.99) leaves about -20 dB.
        resample = dict(lowpass_filter_width=16, rolloff=0.9, resampling_method="sinc_interp_kaiser", beta=8.6)
        # kernels only when used: 16000 <-> 11025 (ratio 640/441) takes 0.5 s to build on a CPU
        used = rates if p_resample > 0 else ()
        self.down = nn.ModuleList(torchaudio.transforms.Resample(sample_rate, int(r), **resample) for r in used)
        self.up = nn.ModuleList(torchaudio.transforms.Resample(int(r), sample_rate, **resample) for r in used)
        for r in [*self.down, *self.up]:  # derived from the settings: keep them out of checkpoints
            r.register_buffer("kernel", r.kernel, persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) float in [-1, 1] -> (B, L) float32; not clipped, so it may exceed [-1, 1] (see `_gain`)."""
        if not self.training:
            return wave
        with torch.autocast(device_type=wave.device.type, enabled=False):
            x = wave.float()
            x = self._some(x, self.p_reverb, self._reverb)
            x = self._some(x, self.p_eq, self._eq)
            x = self._some(x, self.p_bandlimit, self._bandlimit)
            x = self._some(x, self.p_resample, self._resample)
            x = self._some(x, self.p_codec, self._mu_law)
            x = self._some(x, self.p_noise, self._noise)
            return self._gain(x) if self.gain_db > 0 else x

    def _some(self, x: torch.Tensor, p: float, step: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Apply `step` to the examples drawn with probability p.

        On a CPU only the drawn rows are computed (compute is what costs there). On an accelerator
        every row is computed and the drawn ones selected with a mask: finding the drawn rows would
        make the device wait for the host once per step, which costs more than the spare work.
        """
        if p <= 0:
            return x
        drawn = torch.rand(x.shape[0], device=x.device) < p  # (B,)
        if self._by_mask(x):
            return torch.where(drawn[:, None], step(x), x)
        rows = drawn.nonzero().squeeze(1)
        if rows.numel() in (0, x.shape[0]):  # none or all: skip the gather and scatter copies
            return step(x) if rows.numel() else x
        return x.index_copy(0, rows, step(x[rows]))

    def _by_mask(self, x: torch.Tensor) -> bool:
        """Whether drawn rows are selected by mask (every row computed) rather than gathered."""
        return self.masked if self.masked is not None else x.device.type != "cpu"

    def _freqs(self, n: int, device: torch.device) -> torch.Tensor:
        """rfft bin frequencies in Hz (n // 2 + 1,)."""
        return torch.fft.rfftfreq(n, 1.0 / self.sample_rate, device=device)

    @staticmethod
    def _filter(x: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        """Zero-phase filter (B, L) by amplitude gain (B, L // 2 + 1) over the whole clip (circular)."""
        return torch.fft.irfft(torch.fft.rfft(x) * gain, n=x.shape[1])

    def _reverb(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve with a synthetic room: direct impulse + exponentially decaying Gaussian tail."""
        b, length = x.shape
        k = min(math.ceil(self.rt60[1] * self.sample_rate), length)  # IR beyond L cannot reach y[:L]
        t = torch.arange(k, device=x.device) / self.sample_rate  # (K,)
        rt60 = _uniform(b, self.rt60, x.device)  # (b, 1)
        # amplitude falls 60 dB (a factor 1000) in rt60 seconds
        tail = torch.randn(b, k, device=x.device) * torch.exp(-math.log(1000.0) * t / rt60)  # (b, K)
        tail[:, 0] = 0.0
        drr = _uniform(b, self.drr_db, x.device)
        ir = tail * torch.sqrt(10 ** (-drr / 10) / tail.pow(2).sum(1, keepdim=True).clamp_min(1e-20))
        ir[:, 0] = 1.0  # direct path, unit energy: tail energy = 10^(-DRR/10)
        n = 1 << (length + k - 2).bit_length()  # power of two >= L + K - 1: linear, not circular
        y = torch.fft.irfft(torch.fft.rfft(x, n=n) * torch.fft.rfft(ir, n=n), n=n)[:, :length]  # (b, L)
        # keep the clip's RMS level; a silent clip stays silent
        return y * (x.pow(2).mean(1, keepdim=True) / y.pow(2).mean(1, keepdim=True).clamp_min(1e-20)).sqrt()

    def _eq(self, x: torch.Tensor) -> torch.Tensor:
        """Random smooth gain curve: U(-eq_db, eq_db) at log-spaced anchors, linear in log-frequency."""
        b, length = x.shape
        anchors_db = (torch.rand(b, self.eq_points, device=x.device) * 2 - 1) * self.eq_db  # (b, P)
        f = self._freqs(length, x.device).clamp_min(self.eq_f_min)
        span = math.log(self.sample_rate / 2 / self.eq_f_min)
        pos = torch.log(f / self.eq_f_min) / span * (self.eq_points - 1)  # (F,) in anchor units
        # linear interpolation as a product with hat functions: faster than a gather on a CPU
        anchor = torch.arange(self.eq_points, device=x.device)[:, None]  # (P, 1)
        hats = (1 - (pos - anchor).abs()).clamp_min(0)  # (P, F)
        curve_db = anchors_db @ hats  # (b, F)
        return self._filter(x, 10 ** (curve_db / 20))

    def _bandlimit(self, x: torch.Tensor) -> torch.Tensor:
        """Brick-wall band pass between a drawn high-pass and low-pass cutoff (telephone: 300-3400 Hz)."""
        b, length = x.shape
        f = self._freqs(length, x.device)  # (F,)
        low, high = _uniform(b, self.highpass_hz, x.device), _uniform(b, self.lowpass_hz, x.device)
        return self._filter(x, ((f >= low) & (f <= high)).float())  # (b, F) mask

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        """Down to a drawn lower rate and back: the band above its Nyquist is lost, without aliasing."""
        which = torch.randint(len(self.down), (x.shape[0],), device=x.device)  # (B,)
        y = torch.empty_like(x)
        for i, (down, up) in enumerate(zip(self.down, self.up)):  # one group per rate
            if self._by_mask(x):
                y = torch.where((which == i)[:, None], up(down(x))[:, : x.shape[1]], y)
                continue
            rows = (which == i).nonzero().squeeze(1)
            if rows.numel():
                y[rows] = up(down(x[rows]))[:, : x.shape[1]]  # round trip is >= L samples long
        return y

    def _mu_law(self, x: torch.Tensor) -> torch.Tensor:
        """G.711 mu-law telephone codec: 8 bits (sign + 127 magnitude steps) on a log scale, saturating.

        Quantisation noise follows the level (35-38 dB SNR from full scale down to -40 dB), unlike
        linear 8-bit PCM.
        """
        scale = math.log1p(self.mu)
        # companded magnitude in [0, 1] -> 127 mid-tread steps (silence stays exactly 0) -> expand
        steps = torch.round(torch.log1p(self.mu * x.abs().clamp_max(1.0)) * (127 / scale))
        return torch.copysign(torch.expm1(steps * (scale / 127)) / self.mu, x)

    def _noise(self, x: torch.Tensor) -> torch.Tensor:
        """Add 1/f^alpha noise at a drawn SNR relative to the clip's active-signal power.

        Signal power is the mean power of the 20-ms frames within 40 dB of the clip's loudest frame, so
        leading and trailing silence does not lower it; a silent clip gets no noise (SNR undefined).
        """
        b, length = x.shape
        f = self._freqs(length, x.device)
        alpha = _uniform(b, self.noise_alpha, x.device)  # (b, 1)
        # power ~ f^-alpha means amplitude ~ f^(-alpha/2)
        shape = torch.where(f >= self.noise_f_min, f.clamp_min(self.noise_f_min) ** (-alpha / 2), 0.0)
        # white Gaussian noise drawn directly as its spectrum (one FFT fewer), then coloured
        spectrum = torch.randn(b, f.shape[0], dtype=torch.complex64, device=x.device) * shape  # (b, F)
        noise = torch.fft.irfft(spectrum, n=length)  # (b, L)
        frame = max(1, min(round(self.frame_s * self.sample_rate), length))
        power = x[:, : length // frame * frame].reshape(b, -1, frame).pow(2).mean(2)  # (b, frames)
        active = power > power.amax(1, keepdim=True) * 10 ** (-self.active_db / 10)
        signal = (power * active).sum(1, keepdim=True) / active.sum(1, keepdim=True).clamp_min(1)
        snr = _uniform(b, self.snr_db, x.device)
        target = signal * 10 ** (-snr / 10)
        return x + noise * (target / noise.pow(2).mean(1, keepdim=True).clamp_min(1e-20)).sqrt()

    def _gain(self, x: torch.Tensor) -> torch.Tensor:
        """Random level U(-gain_db, gain_db) per example.

        Not clipped: the log-mel takes any float, and a positive gain can exceed 1.0 without harm;
        hard clipping would add a distortion the recordings do not have.
        """
        db = (torch.rand(x.shape[0], 1, device=x.device) * 2 - 1) * self.gain_db  # (B, 1)
        return x * 10 ** (db / 20)
