"""Log-mel front end with SpecAugment: int16 waveforms in, normalised mel images out, on device."""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from voxray.features.periodicity import Periodicity
from voxray.features.speech_frames import SpeechNorm, masked_mean, speech_frames, speech_length
from voxray.features.waveform import WaveformFrontEnd


class LogMel(nn.Module):
    """Waveform -> log-mel power in dB, matching `librosa.feature.melspectrogram` + `power_to_db`.

    Slaney mel scale and area normalisation are librosa's defaults, so features (and EDA plots made
    with librosa) agree. Args: sample_rate (16000), n_fft (512), win_length (400 = 25 ms),
    hop_length (160 = 10 ms), n_mels (64), f_min (20), f_max (sample_rate / 2), top_db (80).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        n_mels: int = 64,
        f_min: float = 20.0,
        f_max: float | None = None,
        top_db: float | None = 80.0,
    ) -> None:
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, win_length=win_length, hop_length=hop_length,
            f_min=f_min, f_max=f_max, n_mels=n_mels, power=2.0, center=True, pad_mode="reflect",
            norm="slaney", mel_scale="slaney",
        )
        self.to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=top_db)

    def describe(self) -> str:
        """This transform's settings, in words."""
        m, top_db = self.mel, self.to_db.top_db
        floor = f"floored {top_db:g} dB under the clip's peak" if top_db is not None else "no floor"
        return (f"log-mel: {m.n_mels} Slaney mel bands ({m.f_min:g}-{m.mel_scale.f_max:g} Hz) of the "
                f"{m.n_fft}-point power spectrum of {m.win_length}-sample Hann windows every "
                f"{m.hop_length} samples, centred (reflect-padded ends), in dB, {floor}")

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) float waveform in [-1, 1] -> (B, 1, n_mels, T) dB."""
        # (B, 1, L) keeps the top_db floor per clip: AmplitudeToDB takes the max over the last
        # three dims, so a (B, n_mels, T) input would clamp against the loudest clip in the batch.
        with torch.autocast(device_type=wave.device.type, enabled=False):
            return self.to_db(self.mel(wave.float().unsqueeze(1)))  # (B, 1, n_mels, T)


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al., 2019), `n_masks` of each, per example.

    Args: freq_mask (max bins, 8), time_mask (max frames, 30), n_masks (2).
    """

    def __init__(self, freq_mask: int = 8, time_mask: int = 30, n_masks: int = 2) -> None:
        super().__init__()
        # iid_masks=True draws a different mask for every example of the batch
        self.freq = torchaudio.transforms.FrequencyMasking(freq_mask, iid_masks=True)
        self.time = torchaudio.transforms.TimeMasking(time_mask, iid_masks=True)
        self.n_masks = n_masks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, F, T) -> same shape; masked bins set to 0 (the mean after normalisation)."""
        for _ in range(self.n_masks):
            x = self.time(self.freq(x))
        return x


class VoiceFrontEnd(nn.Module):
    """int16 waveform batch -> normalised log-mel image; channel augmentation and SpecAugment in training.

    Args:
        logmel: `LogMel` settings.
        specaugment: `SpecAugment` settings, or None for no masking.
        channel: waveform augmentation (`voxray.features.channel.ChannelAugment`: room, microphone,
            band limit, codec, noise, level), or None for none.
        utterance_norm: subtract each clip's mean log-mel over its speech frames, per mel band
            (cepstral mean normalisation): a fixed channel colour is a constant offset there (False).
        augment: apply channel augmentation, speed and SpecAugment in training (True); False for debug=overfit.
        speed: speed perturbation in training (`voxray.features.speed.SpeedPerturb`), or None (`WaveformFrontEnd`'s).
        pitch: `voxray.features.periodicity.Periodicity` rows stacked under the mel bands (after
            `utterance_norm`, which would erase a speaker's steady pitch), or None for the mel alone.
        repeat_pad: a short clip's speech repeated over its zero padding (`WaveformFrontEnd`'s).

    Every statistic over time (the utterance mean, the per-row normalisation) is over the speech
    frames only (`voxray.features.speech_frames`), and the frames after the speech leave as 0 in
    every row: the cue that lets a network pool over the speech alone (`MelCNN`).
    """

    def __init__(
        self, logmel: LogMel, specaugment: SpecAugment | None = None, channel: nn.Module | None = None,
        utterance_norm: bool = False, augment: bool = True, speed: nn.Module | None = None,
        pitch: Periodicity | None = None, repeat_pad: bool = False,
    ) -> None:
        super().__init__()
        if pitch is not None and pitch.hop_length != logmel.mel.hop_length:
            raise ValueError(f"pitch.hop_length={pitch.hop_length} must equal logmel.hop_length="
                             f"{logmel.mel.hop_length}: the pitch rows and mel bands share frames")
        self.waveform = WaveformFrontEnd(channel, augment, speed, repeat_pad)
        self.logmel, self.specaugment, self.pitch = logmel, specaugment, pitch
        self.utterance_norm, self.augment = utterance_norm, augment
        # Per-row standardisation learnt from the data (running stats), as in PANNs' bn0:
        # no dataset statistics pass is needed and the constants travel in the checkpoint.
        self.norm = SpeechNorm(logmel.mel.n_mels + (pitch.n_bins if pitch is not None else 0))

    def adapt_to(self, net: nn.Module) -> None:
        """Refuse a network whose head rows (`MelCNN(head_rows=...)`, which skip its convolutions)
        are not exactly this front end's pitch rows: other rows would be cut off silently."""
        rows, pitch_rows = getattr(net, "head_rows", 0), self.pitch.n_bins if self.pitch is not None else 0
        if rows and rows != pitch_rows:
            raise ValueError(f"model.net.head_rows={rows} must be the front end's pitch rows ({pitch_rows}; "
                             "model.frontend.pitch sets them) or 0")

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) int16 -> (B, 1, F, T) float32: F = n_mels (+ the pitch rows); frames after the speech 0."""
        with torch.autocast(device_type=wave.device.type, enabled=False):
            y = self.waveform(wave)  # (B, L), zeros after the speech in training too
            x = self.logmel(y)  # (B, 1, n_mels, T)
            speech = speech_frames(speech_length(y), y.shape[1], self.logmel.mel.hop_length, x.shape[-1])  # (B, T)
            if self.utterance_norm:
                x = x - masked_mean(x, speech)
            if self.pitch is not None:
                x = torch.cat([x, self.pitch(y)], dim=2)  # (B, 1, n_mels + n_bins, T)
            x = self.norm(x, speech)  # per row; padding frames 0
            if self.training and self.augment and self.specaugment is not None:
                x = self.specaugment(x)
            return x

    def describe(self) -> list[str]:
        """The steps of `forward` in evaluation (the exported graph), from this front end's own settings;
        training-only augmentation (speed, channel, SpecAugment) is not among them."""
        steps = [*self.waveform.describe(), self.logmel.describe()]
        if self.utterance_norm:
            steps.append("each mel band's mean over the speech frames subtracted (utterance normalisation)")
        if self.pitch is not None:
            steps.append(f"{self.pitch.describe()}, stacked under the mel bands")
        steps.append(f"each of the {self.norm.num_features} rows standardised with the mean and variance "
                     "of the training clips' speech frames")
        steps.append("the frames centred after the speech's last non-zero sample set to 0 in every row "
                     "(MelCNN's time statistics leave such frames out)")
        return steps
