"""Source-filter speech synthesiser behind the synthetic Common Voice corpus.

A Rosenberg glottal pulse train (f0 with intonation, jitter, shimmer, tremor, aspiration) drives a
cascade of formant resonators scaled by vocal-tract length; syllables are consonant noise or nasal
murmur followed by a vowel whose formants glide from a consonant locus. Age and gender change f0,
vocal-tract length, voice quality and speaking rate, with per-speaker spread so that neighbouring
age groups overlap. `record` then adds what real Common Voice clips have: silence, button clicks,
and the recording channel (`voxray.synth.channel`: device, room, noise, level).
"""

from dataclasses import dataclass

import numpy as np
from scipy import signal

from voxray.synth.channel import Channel, apply_channel, sample_channel

# Age-group trends, in Common Voice's order teens ... nineties.
_F0_MALE = (150, 120, 115, 112, 115, 125, 127, 129, 131)  # Hz
_F0_FEMALE = (235, 215, 208, 200, 192, 185, 183, 181, 179)  # Hz
_RATE = (5.4, 4.9, 4.4, 3.95, 3.55, 3.2, 2.95, 2.75, 2.6)  # syllables/s, pauses included
_JITTER = (0.5, 0.4, 0.5, 0.65, 0.85, 1.1, 1.4, 1.7, 2.0)  # local jitter, % of the period
_SHIMMER = (3.5, 3.0, 3.4, 4.0, 4.8, 5.8, 6.8, 7.8, 8.8)  # local shimmer, % of the amplitude
_BREATH = (0.03, 0.0, 0.02, 0.05, 0.08, 0.11, 0.14, 0.17, 0.20)  # added aspiration share
_TREMOR = (0.0, 0.0, 0.0, 0.2, 0.5, 1.0, 1.6, 2.2, 2.8)  # f0 modulation depth at 4-7 Hz, %
_N_AGES = len(_RATE)

# F1-F3: Peterson & Barney (1952) male averages; F4, F5 nominal. All for a ~17.5 cm tract (Hz).
_VOWELS = np.array(
    [
        [730, 1090, 2440, 3400, 4500],  # /a/
        [270, 2290, 3010, 3500, 4500],  # /i/
        [300, 870, 2240, 3400, 4500],  # /u/
        [530, 1840, 2480, 3500, 4500],  # /e/
        [570, 840, 2410, 3400, 4500],  # /o/
        [490, 1350, 1690, 3300, 4500],  # schwa-like /er/
    ],
    dtype=float,
)
_BANDWIDTHS = np.array([60.0, 90.0, 130.0, 180.0, 250.0])
_LOCUS_F2 = (900.0, 1700.0, 2200.0)  # labial, alveolar, velar F2 loci for a 17.5 cm tract
_BURST_BAND = ((500.0, 2500.0), (3000.0, 7000.0), (1500.0, 3500.0))  # plosive bursts by place
_FRICATIVE_BAND = ((3800.0, 8000.0), (2000.0, 4500.0), (1000.0, 7500.0))  # /s/, /sh/, /f/


@dataclass(frozen=True)
class Voice:
    """Per-speaker synthesis parameters, fixed over all of that speaker's clips."""

    f0: float  # mean fundamental frequency (Hz)
    vtl_cm: float  # vocal-tract length (cm); formants scale with 17.5 / vtl_cm
    rate: float  # speaking rate (syllables/s, pauses included)
    jitter: float  # cycle-to-cycle period perturbation (fraction)
    shimmer: float  # cycle-to-cycle amplitude perturbation (fraction)
    breathiness: float  # aspiration noise share of the glottal source (0..1)
    tremor: float  # slow f0 modulation depth (fraction)
    open_quotient: float  # open share of the glottal cycle; higher is softer and breathier
    pitch_range: float  # intonation spread (semitones)


def sample_voice(age_index: int, female: bool, rng: np.random.Generator) -> Voice:
    """Draw one speaker's voice for an age group (index into teens ... nineties) and sex."""
    if not 0 <= age_index < _N_AGES:
        raise ValueError(f"age_index must be in 0..{_N_AGES - 1}, got {age_index}")
    f0_mean = (_F0_FEMALE if female else _F0_MALE)[age_index]
    # Boys in their teens straddle the voice change, so their f0 spreads far more than adults'.
    # Spreads are tuned so that neighbouring age groups overlap, yet a model can beat chance
    # by 2x: with 10% f0 and 8% rate spreads even a feature+boosting probe stayed near 0.36 UAR.
    f0_spread = 0.12 if (age_index == 0 and not female) else 0.06
    if female:
        vtl_mean, vtl_sd = (14.0, 0.5) if age_index == 0 else (14.3 + 0.15 * age_index, 0.45)
    else:
        vtl_mean, vtl_sd = (16.0, 0.7) if age_index == 0 else (16.8 + 0.18 * age_index, 0.5)
    breath = (0.12 if female else 0.05) + _BREATH[age_index]
    open_quotient = 0.65 if female else 0.55
    return Voice(
        f0=float(f0_mean * np.exp(f0_spread * rng.standard_normal())),
        vtl_cm=float(vtl_mean + vtl_sd * rng.standard_normal()),
        rate=float(_RATE[age_index] * np.exp(0.06 * rng.standard_normal())),
        jitter=float(_JITTER[age_index] / 100 * np.exp(0.3 * rng.standard_normal())),
        shimmer=float(_SHIMMER[age_index] / 100 * np.exp(0.25 * rng.standard_normal())),
        breathiness=float(np.clip(breath + 0.03 * rng.standard_normal(), 0.01, 0.5)),
        tremor=float(_TREMOR[age_index] / 100 * rng.uniform(0.5, 1.5)),
        open_quotient=float(np.clip(open_quotient + 0.05 * rng.standard_normal(), 0.4, 0.8)),
        pitch_range=float(rng.uniform(1.0, 3.0)),
    )


def _formant_sos(freqs: np.ndarray, bandwidths: np.ndarray, sr: int) -> np.ndarray:
    """Cascade of unity-DC-gain (Klatt) resonators as second-order sections, shape (n, 6)."""
    keep = freqs < 0.45 * sr  # formants above Nyquist would alias; drop them at low rates
    f, bw = freqs[keep], bandwidths[keep]
    c = -np.exp(-2 * np.pi * bw / sr)
    b = 2 * np.exp(-np.pi * bw / sr) * np.cos(2 * np.pi * f / sr)
    a = 1 - b - c
    zeros = np.zeros_like(a)
    return np.stack([a, zeros, zeros, np.ones_like(a), -b, -c], axis=1)


def _bandpass_noise(
    n: int, band: tuple[float, float], sr: int, rng: np.random.Generator
) -> np.ndarray:
    """Unit-RMS white noise band-limited to band (Hz), clamped below Nyquist."""
    hi = min(band[1], 0.45 * sr)
    lo = min(band[0], 0.5 * hi)
    # Two cascaded RBJ band-pass biquads: written out, because designing a Butterworth filter per
    # consonant took a fifth of the synthesis time.
    w0 = 2 * np.pi * np.sqrt(lo * hi) / sr
    alpha = np.sin(w0) * (hi - lo) / (2 * np.sqrt(lo * hi))
    section = np.array([alpha, 0.0, -alpha, 1 + alpha, -2 * np.cos(w0), 1 - alpha]) / (1 + alpha)
    noise = signal.sosfilt(np.stack([section, section]), rng.standard_normal(n))
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _ramp(n: int, attack: int, release: int) -> np.ndarray:
    """Raised-cosine attack and release around a flat top, length n."""
    env = np.ones(n)
    attack, release = min(attack, n // 2), min(release, n // 2)
    env[:attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / max(attack, 1))
    env[n - release :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(release) / max(release, 1))
    return env


def _glottal_source(
    f0: np.ndarray, voice: Voice, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """Glottal flow derivative with jitter, shimmer and pulsed aspiration for a per-sample f0."""
    # Jitter is drawn once per cycle: index each sample by the cycle it falls in, then re-integrate.
    # Perturbations are divided by 1.13 because the mean |T_i - T_i+1| of iid normals is 1.13 sd.
    cycle = np.cumsum(f0 / sr).astype(np.int64)
    f0 = f0 * (1 + voice.jitter / 1.13 * rng.standard_normal(cycle[-1] + 1))[cycle]
    phase = np.cumsum(f0 / sr)
    cycle = phase.astype(np.int64)
    p = phase - cycle
    speed_quotient = 2.5  # opening lasts 2.5x the closing, typical of modal voice
    t_open = voice.open_quotient * speed_quotient / (1 + speed_quotient)
    t_close = voice.open_quotient / (1 + speed_quotient)
    flow = np.where(
        p < t_open,
        0.5 - 0.5 * np.cos(np.pi * p / t_open),
        np.where(p < t_open + t_close, np.cos(0.5 * np.pi * (p - t_open) / t_close), 0.0),
    )
    flow *= (1 + voice.shimmer / 1.13 * rng.standard_normal(cycle[-1] + 1))[cycle]
    derivative = np.diff(flow, prepend=0.0) * sr / f0  # per cycle, so the level ignores f0
    # Aspiration is turbulence at the open glottis, so it is modulated by the flow itself.
    breath = signal.lfilter([1.0, -0.9], [1.0], rng.standard_normal(len(f0))) * (0.3 + flow)
    breath *= np.sqrt(np.mean(derivative**2) / (np.mean(breath**2) + 1e-12))
    return (1 - voice.breathiness) * derivative + voice.breathiness * 1.5 * breath


def speak(voice: Voice, duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Synthesise up to duration_s seconds of babble (syllables, pauses); returns float64 (n,)."""
    scale = 17.5 / voice.vtl_cm
    syllable_s = 0.85 / voice.rate  # the other ~15% of the time goes to pauses
    slow = 4.0 / voice.rate  # older, slower talkers also pause longer
    # Plan: (start_s, consonant kind, place of articulation, consonant_s, vowel_s, stress).
    plan, t, end, until_phrase = [], 0.0, 0.0, int(rng.integers(4, 11))
    while True:
        d = syllable_s * float(np.exp(0.25 * rng.standard_normal()))
        kind = rng.choice(["plosive", "fricative", "nasal", "none"], p=[0.35, 0.25, 0.15, 0.25])
        cons = 0.0 if kind == "none" else d * rng.uniform(0.25, 0.4)
        vowel = max(d - cons, 0.05)
        if plan and t + cons + vowel > duration_s:  # stop short rather than overrun the clip length
            break
        plan.append((t, kind, int(rng.integers(3)), cons, vowel, rng.uniform(0.6, 1.0)))
        t = end = t + cons + vowel
        until_phrase -= 1
        if until_phrase == 0:
            t += rng.uniform(0.15, 0.4) * slow
            until_phrase = int(rng.integers(4, 11))
        elif rng.random() < 0.3:
            t += rng.uniform(0.02, 0.08) * slow
    n = int(np.ceil(end * sr)) + 1

    # Intonation: a random pitch target per syllable, declining over the utterance, plus tremor.
    centres = np.array([s + c + v / 2 for s, _, _, c, v, _ in plan])
    targets = voice.pitch_range * rng.standard_normal(len(plan)) - 2.0 * centres / max(end, 1e-3)
    grid = np.arange(0.0, end + 0.01, 0.01)  # smooth on a 10 ms grid: per sample is 100x dearer
    window = np.hanning(11) / np.hanning(11).sum()
    contour = np.convolve(np.interp(grid, centres, targets), window, "same")
    times = np.arange(n) / sr
    semitones = np.interp(times, grid, contour)
    tremor_hz, tremor_phase = rng.uniform(4, 7), rng.uniform(0, 2 * np.pi)
    tremor = voice.tremor * np.sin(2 * np.pi * tremor_hz * times + tremor_phase)
    source = _glottal_source(voice.f0 * 2 ** (semitones / 12) * (1 + tremor), voice, sr, rng)

    bandwidths = _BANDWIDTHS * (1 + 2 * voice.breathiness)  # leaky glottis damps the formants
    # The resonator cascade stops at F5 and would leave nothing above ~5 kHz; real vowels keep some
    # energy there (higher formants), so a high-passed copy of the source stands in for it.
    air_sos = signal.butter(2, min(4000.0 * scale, 0.4 * sr), "highpass", fs=sr, output="sos")
    air = 0.05 * signal.sosfilt(air_sos, source)
    nasal_sos = _formant_sos(
        np.array([250.0, 1100.0 * scale, 2500.0 * scale]), np.array([100.0, 200.0, 300.0]), sr
    )
    voiced, noise = np.zeros(n), np.zeros(n)
    warm = int(0.02 * sr)  # resonators settle on the source before the segment starts
    for start, kind, place, cons, vowel, stress in plan:
        i0, i1 = int(start * sr), int((start + cons) * sr)
        i2 = min(int((start + cons + vowel) * sr), n)
        if kind == "fricative":
            band = tuple(f * scale for f in _FRICATIVE_BAND[place])
            seg = _bandpass_noise(i1 - i0, band, sr, rng)
            seg *= _ramp(i1 - i0, int(0.02 * sr), int(0.015 * sr))
            noise[i0:i1] += (0.12 if place == 2 else 0.3) * stress * seg
        elif kind == "plosive":  # closure is silence; a decaying burst releases it
            m = min(int(0.015 * sr), i1 - i0)
            burst = _bandpass_noise(m, tuple(f * scale for f in _BURST_BAND[place]), sr, rng)
            noise[i1 - m : i1] += 0.5 * stress * burst * np.exp(-np.arange(m) / (0.004 * sr))
        elif kind == "nasal":
            j0 = max(i0 - warm, 0)
            seg = signal.sosfilt(nasal_sos, source[j0:i1])[i0 - j0 :]
            voiced[i0:i1] += 0.3 * stress * seg * _ramp(i1 - i0, int(0.015 * sr), int(0.01 * sr))
        # Vowel: formants glide from the consonant's locus to the vowel target (and maybe onwards).
        target = _VOWELS[rng.integers(len(_VOWELS))] * scale
        anchors, positions = [target], [0.35]
        if kind != "none":
            onset = target.copy()
            onset[0] *= 0.6
            onset[1] += 0.5 * (_LOCUS_F2[place] * scale - onset[1])
            anchors, positions = [onset, target], [0.0, 0.35]
        if rng.random() < 0.25:  # diphthong
            anchors.append(_VOWELS[rng.integers(len(_VOWELS))] * scale)
            positions.append(1.0)
        m, j0 = i2 - i1, max(i1 - warm, 0)
        u = np.arange(m) / max(m, 1)
        seg = np.zeros(m)
        for k, formants in enumerate(anchors):
            weight = np.interp(u, positions, np.eye(len(anchors))[k])
            sos = _formant_sos(formants, bandwidths, sr)
            seg += weight * signal.sosfilt(sos, source[j0:i2])[i1 - j0 :]
        voiced[i1:i2] += stress * (seg + air[i1:i2]) * _ramp(m, int(0.015 * sr), int(0.035 * sr))

    level = np.sqrt(np.mean(voiced[voiced != 0] ** 2)) + 1e-12
    return voiced / level + noise


def _click(sr: int, rng: np.random.Generator) -> np.ndarray:
    """A record-button click: a few ms of broadband crackle over a short low thump."""
    n = int(0.03 * sr)
    t = np.arange(n) / sr
    crackle = rng.standard_normal(n) * np.exp(-t / rng.uniform(0.001, 0.004))
    thump = np.sin(2 * np.pi * rng.uniform(80, 250) * t) * np.exp(-t / 0.006)
    return crackle + rng.uniform(0.3, 1.0) * thump


def record(voice: Voice, sr: int, rng: np.random.Generator, channel: Channel | None = None) -> np.ndarray:
    """One clip of voice as Common Voice records it; returns float32 (n,), 3-7 s, in [-1, 1].

    Args:
        voice: the speaker.
        sr: sample rate (Hz).
        rng: this clip's generator.
        channel: the speaker's recording set-up; None draws one for this clip alone.
    """
    total = 3.0 + 4.0 * rng.beta(2.0, 3.0)  # 3-7 s, skewed short like Common Voice (mean 4.6 s)
    lead, trail = 0.2 + 1.3 * rng.beta(1.5, 3.0, size=2)  # 0.2-1.5 s of silence, mostly under 1 s
    speech = speak(voice, max(total - lead - trail, 0.8), sr, rng)
    n_lead, n_trail = int(lead * sr), int(trail * sr)
    spare = max(int(total * sr) - len(speech) - n_lead - n_trail, 0)  # speech stopped short
    x = np.concatenate(
        [np.zeros(n_lead + spare // 2), speech, np.zeros(n_trail + spare - spare // 2)]
    )
    peak = np.max(np.abs(speech))
    for at in (rng.uniform(0.05, 0.8 * lead), len(x) / sr - rng.uniform(0.05, 0.8 * trail)):
        if rng.random() < 0.7:  # the record button, heard through the same microphone
            i = int(at * sr)
            click = _click(sr, rng)[: len(x) - i]
            x[i : i + len(click)] += rng.uniform(0.1, 0.6) * peak * click
    x = apply_channel(x, np.sqrt(np.mean(speech**2)), channel or sample_channel(rng), sr, rng)
    x /= max(1.0, np.max(np.abs(x)) / 0.9)  # never clip, with headroom for MP3 overshoot
    return x.astype(np.float32)
