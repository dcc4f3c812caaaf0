"""A pretrained speech encoder (torchaudio's wav2vec 2.0, HuBERT, WavLM) with a SUPERB-style head.

Waveform -> convolutional feature extractor -> transformer layers -> a learned softmax-weighted sum
of the layers' outputs (Yang et al., 2021, SUPERB) -> mean + std pooling over the speech's frames
-> small MLP.
Weights come from torchaudio's download or a local file, never silently random.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn
from torchaudio.pipelines import Wav2Vec2ASRBundle, Wav2Vec2Bundle

from voxray.errors import PretrainedWeightsUnavailable, UserError
from voxray.features.speech_frames import speech_length
from voxray.models.weights import server_answers

# where torchaudio's bundles download from when their path is a bare file name
MODELS_URL = "https://download.pytorch.org/torchaudio/models"
FACTORIES = {"Wav2Vec2": torchaudio.models.wav2vec2_model, "WavLM": torchaudio.models.wavlm_model}
POOLINGS = ("stats", "attentive")


def encoder_names() -> list[str]:
    """torchaudio's pretrained encoder bundles (not the ASR fine-tuned ones): WAVLM_BASE_PLUS, HUBERT_BASE, ..."""
    return sorted(name for name, value in vars(torchaudio.pipelines).items()
                  if isinstance(value, Wav2Vec2Bundle) and not isinstance(value, Wav2Vec2ASRBundle))


class StatsPool(nn.Module):
    """Mean and standard deviation over time, uniform or attention-weighted (Okabe et al., 2018).

    Args: dim (features per frame), attentive (False: plain statistics pooling), hidden (128: attention MLP width).
    """

    def __init__(self, dim: int, attentive: bool = False, hidden: int = 128) -> None:
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1)) if attentive else None

    def forward(self, x: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) and (B,) frames of speech at the start (None: all T) -> (B, 2D) in fp32: bf16
        loses the variance of features with a large mean. A clip with 0 speech frames pools all T."""
        x = x.float()
        valid = torch.ones_like(x[..., 0], dtype=torch.bool)  # (B, T)
        if frames is not None:
            valid = torch.arange(x.shape[1], device=x.device) < frames[:, None]
            valid = valid | ~valid.any(dim=1, keepdim=True)
        if self.attention is None:
            w = valid.float()[..., None] / valid.sum(dim=1)[:, None, None]  # (B, T, 1)
        else:
            w = self.attention(x).float().masked_fill(~valid[..., None], float("-inf")).softmax(dim=1)  # (B, T, 1)
        mean = (w * x).sum(1)  # (B, D)
        std = ((w * x * x).sum(1) - mean**2).clamp_min(1e-6).sqrt()
        return torch.cat([mean, std], dim=1)


class LayerMixHead(nn.Module):
    """The new part: softmax-weighted sum of the encoder's layers, pooling over time, MLP to logits.

    Args: num_layers and dim of the encoder, num_classes, pooling (stats | attentive), hidden (MLP
    width), dropout (before the last layer).
    """

    def __init__(self, num_layers: int, dim: int, num_classes: int, pooling: str, hidden: int, dropout: float) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.layer_logits = nn.Parameter(torch.zeros(num_layers))  # equal weights to start
        self.pool = StatsPool(dim, attentive=pooling == "attentive")
        # BatchNorm first: pooled statistics differ across clips by a small fraction of their size
        self.mlp = nn.Sequential(nn.BatchNorm1d(2 * dim), nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, num_classes))

    def layer_weights(self) -> torch.Tensor:
        """(num_layers,) non-negative, summing to 1."""
        return self.layer_logits.softmax(dim=0)

    def forward(self, layers: list[torch.Tensor], frames: torch.Tensor | None = None) -> torch.Tensor:
        """num_layers x (B, T, D) and (B,) speech frames (None: all) -> (B, num_classes)."""
        # each layer standardised first (as s3prl's featurizer does): their scales differ by 10x and more
        stacked = torch.stack([F.layer_norm(h, h.shape[-1:]) for h in layers])  # (N, B, T, D)
        mixed = (self.layer_weights().to(stacked.dtype)[:, None, None, None] * stacked).sum(0)  # (B, T, D)
        return self.mlp(self.pool(mixed, frames))


class SpeechEncoderClassifier(nn.Module):
    """A torchaudio speech encoder + `LayerMixHead`, on float waveforms at the bundle's rate (16 kHz).

    Args:
        num_classes: logits of the head.
        name: a bundle of `torchaudio.pipelines` (`encoder_names()`): WAVLM_BASE_PLUS, WAVLM_LARGE,
            WAV2VEC2_BASE, WAV2VEC2_LARGE, HUBERT_BASE, HUBERT_LARGE, ...
        pretrained: the bundle's weights, downloaded by torchaudio on first use (True).
        weights: a local state dict of the same architecture instead (implies pretrained); e.g. the
            file torchaudio caches, or `torch.save(bundle.get_model().state_dict(), FILE)`.
        arch: overrides of the bundle's architecture (`bundle._params`: encoder_num_layers,
            encoder_embed_dim, ...); a weights file must match them. None for the bundle's own.
        freeze_feature_extractor: keep pretrained convolutional features fixed through fine-tuning (True).
        pooling: stats (mean + std over time) | attentive (attention-weighted mean + std).
        hidden: width of the head's hidden layer (256).
        dropout: before the head's last layer (0.2).
    """

    def __init__(
        self,
        num_classes: int,
        name: str = "WAVLM_BASE_PLUS",
        pretrained: bool = True,
        weights: str | None = None,
        arch: Mapping[str, Any] | None = None,
        freeze_feature_extractor: bool = True,
        pooling: str = "stats",
        hidden: int = 256,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if name not in encoder_names():
            raise ValueError(f"unknown speech encoder {name!r}; one of {encoder_names()}")
        bundle = getattr(torchaudio.pipelines, name)
        params = {**bundle._params, **(arch or {})}
        # Hydra hands lists over as ListConfig; torchaudio unpacks (channels, kernel, stride) tuples
        params["extractor_conv_layer_config"] = [tuple(c) for c in params["extractor_conv_layer_config"]]
        model = FACTORIES[bundle._model_type](**params)
        if weights is not None:
            model.load_state_dict(_read_weights(weights, model, name))
        elif pretrained:
            model.load_state_dict(_download(bundle, name))
        self.has_pretrained_weights = pretrained or weights is not None  # read by BackboneFreeze
        # LV-60k, XLS-R and the HuBERT / WavLM Large models were trained on clips standardised to zero mean,
        # unit variance
        self.normalize_waveform = bundle._normalize_waveform
        self.feature_extractor, self.encoder = model.feature_extractor, model.encoder
        self.head = LayerMixHead(params["encoder_num_layers"], params["encoder_embed_dim"], num_classes,
                                 pooling, hidden, dropout)
        # random convolutions are trained like the rest; pretrained ones may stay as they are
        fixed = freeze_feature_extractor and self.has_pretrained_weights
        self.keep_frozen = ("feature_extractor",) if fixed else ()  # BackboneFreeze leaves these out
        self.feature_extractor.requires_grad_(not fixed)
        # read by voxray.export: measured with torch 2.11 (wav2vec 2.0 and HuBERT export and match)
        self.onnx_unsupported = (
            "torch.onnx.export cannot convert torchaudio's WavLM attention with a dynamic batch size "
            "(\"Cannot view a tensor ... as a tensor with shape (batch, frames, dim)\" in its decomposition); "
            "use the checkpoint in PyTorch (predict.py), or train a WAV2VEC2_* or HUBERT_* encoder to export"
        ) if bundle._model_type == "WavLM" else None

    def train(self, mode: bool = True) -> SpeechEncoderClassifier:
        """Training mode for what trains; a part with no trainable parameter (the encoder in the
        head-only epochs, a feature extractor kept frozen) stays in eval mode, so that its dropout
        and LayerDrop do not randomise the features a frozen encoder hands the head."""
        super().train(mode)
        for part in (self.feature_extractor, self.encoder):
            if mode and not any(p.requires_grad for p in part.parameters()):
                part.eval()
        return self

    def get_classifier(self) -> nn.Module:
        """Everything new (layer weights, pooling, MLP): what trains while the encoder is frozen."""
        return self.head

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) float waveform in [-1, 1], zeros after the speech -> (B, num_classes).

        The head pools over the frames whose receptive field lies inside the speech (up to its last
        non-zero sample); the encoder itself sees the padding, as pretrained models without an
        attention mask do."""
        # the convolutions on raw samples run in fp32, as fairseq keeps their GroupNorm in fp32:
        # the first layer's statistics over a whole clip are where half precision goes wrong
        with torch.autocast(device_type=wave.device.type, enabled=False):
            x = wave.float()
            length = speech_length(x)  # (B,)
            if self.normalize_waveform:
                x = _standardise_speech(x, length)
            x, frames = self.feature_extractor(x, length)  # (B, T, C), (B,) frames inside the speech
        return self.head(self.encoder.extract_features(x, None), frames)  # layers of (B, T, D) -> (B, k)


def _standardise_speech(x: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """(B, L) -> each clip's speech at zero mean and unit variance, its padding still 0 (per clip:
    torchaudio's wrapper normalises the whole batch, padding included)."""
    speech = (torch.arange(x.shape[1], device=x.device) < length[:, None]).float()  # (B, L)
    n = speech.sum(dim=1, keepdim=True).clamp_min(1)
    mean = (x * speech).sum(dim=1, keepdim=True) / n
    var = (((x - mean) * speech) ** 2).sum(dim=1, keepdim=True) / n
    return (x - mean) / (var + 1e-5).sqrt() * speech


def _url(bundle: Wav2Vec2Bundle) -> str:
    """Where torchaudio downloads the bundle's weights from (its own rule)."""
    return bundle._path if bundle._path.startswith("https") else f"{MODELS_URL}/{bundle._path}"


def _download(bundle: Wav2Vec2Bundle, name: str) -> dict[str, torch.Tensor]:
    """The bundle's state dict from torch.hub's cache or download.pytorch.org; fails at once offline."""
    url = _url(bundle)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if not cached.is_file() and not server_answers(url):
        raise _unavailable(name, url, f"{url} does not answer and {cached} does not exist")
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", weights_only=True)
    except OSError as err:  # URLError, a broken connection, a full disk
        raise _unavailable(name, url, f"{type(err).__name__}: {err}") from err


def _unavailable(name: str, url: str, reason: str) -> PretrainedWeightsUnavailable:
    return PretrainedWeightsUnavailable(
        f"could not download {name}'s weights ({reason}). Offline? Fetch {url} elsewhere and pass "
        f"model.net.weights=/path/to/{Path(url).name}, or train from scratch with model.net.pretrained=false."
    )


def _read_weights(weights: str, model: nn.Module, name: str) -> dict[str, torch.Tensor]:
    """A state dict for `model` from a file; a file of another architecture is a UserError naming the first misfit."""
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model.net.weights={weights} is not a file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle, zip and format errors all mean "not a state dict"
        raise UserError(f"model.net.weights={weights} is not a state dict torch.load can read "
                        f"with weights_only=True ({type(err).__name__}: {err})") from err
    if not isinstance(state, Mapping):
        raise UserError(f"model.net.weights={weights} holds a {type(state).__name__}, not a state dict")
    if state and all(k.startswith("model.") for k in state):  # saved from bundle.get_model()'s wrapper
        state = {k.removeprefix("model."): v for k, v in state.items()}
    own = model.state_dict()
    misfits = ([f"missing {k}" for k in own.keys() - state.keys()]
               + [f"unexpected {k}" for k in state.keys() - own.keys()]
               + [f"{k} is {tuple(state[k].shape)}, not {tuple(own[k].shape)}"
                  for k in own.keys() & state.keys() if state[k].shape != own[k].shape])
    if misfits:
        raise UserError(
            f"model.net.weights={weights} does not fit {name} (with any model.net.arch overrides): "
            f"{len(misfits)} misfits, e.g. {sorted(misfits)[0]}; pass the file torchaudio downloads for "
            f"{name}, or set model.net.name (and model.net.arch) to the model it was saved from"
        )
    return dict(state)

