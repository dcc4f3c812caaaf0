"""A Hugging Face speech encoder (wav2vec 2.0, HuBERT, WavLM, data2vec-audio, Whisper's encoder),
each clip encoded at its own length, pooled per layer over its real frames.

`HubEncoder.embed`: (B, L) float waveform, zeros after the speech -> (B, N, 2D): for each of the
encoder's N hidden states (the input embedding and every block), the mean and standard deviation
over the clip's frames of the layer-normalised features. Each clip goes through the encoder alone,
cut to its speech (up to its last non-zero sample): no padding frame enters a convolution's
normalisation, an attention or a statistic, so a clip and the same clip with more zeros after it
give the same numbers. Whisper's encoder gets its positional embeddings cut to the clip's frames
instead of a 30-s padded input: a 3-s clip costs a 3-s clip, not 30 s.

transformers is imported only here, and this module only when `model.net` names a hub encoder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from voxray.errors import PretrainedWeightsUnavailable, UserError
from voxray.features.speech_frames import speech_length
from voxray.models.weights import offline_unless_hub_answers

WAVEFORM_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")  # transformers' model_type
SUPPORTED = (*WAVEFORM_TYPES, "whisper")
MIN_SAMPLES = 400  # one wav2vec 2.0 frame's receptive field (25 ms at 16 kHz); shorter speech is zero-padded to it
EMBEDDING_VERSION = "1"  # part of the cache key: bump when `embed`'s numbers change for the same weights
# weights a checkpoint may lack without harm: Whisper's decoder (dropped), wav2vec 2.0's mask embedding
# (used only by pretraining's masking)
UNUSED_KEYS = ("decoder.", "masked_spec_embed")


def _config(source: str) -> Any:
    """The model's transformers config, from a local folder or the hub (offline: at once, one line)."""
    try:
        from transformers import AutoConfig
    except ImportError as err:
        raise UserError("model=hub_encoder needs transformers (the hub group): uv sync --group hub") from err

    folder = Path(source).expanduser()
    if folder.is_dir() and not (folder / "config.json").is_file():
        raise UserError(f"model.net.source={source} is a folder without config.json: expected a Hugging Face "
                        f"model folder (config.json + model.safetensors), e.g. one saved by save_pretrained")
    try:
        with offline_unless_hub_answers():
            config = AutoConfig.from_pretrained(str(folder) if folder.is_dir() else source)
    except OSError as err:
        raise PretrainedWeightsUnavailable(
            f"could not load {source!r} ({type(err).__name__}: {str(err).splitlines()[0]}). Offline? Download it "
            f"elsewhere (huggingface-cli download {source} --local-dir DIR) and pass model.net.source=DIR") from err
    if config.model_type not in SUPPORTED:
        raise UserError(f"model.net.source={source} is a {config.model_type!r} model; a speech encoder of "
                        f"one of {SUPPORTED} was expected")
    if hasattr(config, "layerdrop"):  # the layer mix needs every layer's output, in training too
        config.layerdrop = 0.0
    return config


def _load(source: str, config: Any, pretrained: bool) -> nn.Module:
    """The encoder with its weights (safetensors only), or random ones for a checkpoint's to replace;
    Whisper's decoder is dropped."""
    from transformers import AutoModel

    if not pretrained:
        model = AutoModel.from_config(config)
        return model.get_encoder() if config.model_type == "whisper" else model
    from transformers.utils import logging as hf_logging

    folder = Path(source).expanduser()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its report of Whisper's absent decoder; the encoder is checked below
    try:
        with offline_unless_hub_answers():
            model, info = AutoModel.from_pretrained(str(folder) if folder.is_dir() else source, config=config,
                                                    use_safetensors=True, output_loading_info=True)
    except OSError as err:  # no safetensors file, or no network and no cached copy
        raise PretrainedWeightsUnavailable(
            f"could not load the weights of {source!r} ({type(err).__name__}: {str(err).splitlines()[0]}); "
            f"a folder needs model.safetensors (pickled .bin weights are not loaded)") from err
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = [k for k in info["missing_keys"] if not k.startswith(UNUSED_KEYS)]
    if missing:
        raise UserError(f"model.net.source={source}: its weights lack {len(missing)} of the encoder's tensors, "
                        f"e.g. {sorted(missing)[0]}; it would train from random weights")
    return model.get_encoder() if config.model_type == "whisper" else model


def weights_hash(module: nn.Module) -> str:
    """A hash of a module's tensors, names and shapes: what a cache of its features is keyed by."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


class WhisperLogMel(nn.Module):
    """Whisper's log-mel front end on a (1, L) waveform -> (1, n_mels, L // hop): power STFT (n_fft
    400, hop 160, Hann), Slaney mel filters, log10, floored 8 below the clip's maximum, (x + 4) / 4;
    the last frame dropped, as Whisper's feature extractor does."""

    def __init__(self, n_mels: int, source: str) -> None:
        super().__init__()
        from transformers import WhisperFeatureExtractor

        folder = Path(source).expanduser()
        if (folder / "preprocessor_config.json").is_file() or not folder.is_dir():
            with offline_unless_hub_answers():
                try:
                    fe = WhisperFeatureExtractor.from_pretrained(str(folder) if folder.is_dir() else source)
                except OSError:  # a hub repo without one: Whisper's standard front end
                    fe = WhisperFeatureExtractor(feature_size=n_mels)
        else:  # a converted folder (tools/ctranslate2_whisper.py) has none: Whisper's standard front end
            fe = WhisperFeatureExtractor(feature_size=n_mels)
        self.n_fft, self.hop = fe.n_fft, fe.hop_length
        self.register_buffer("filters", torch.from_numpy(fe.mel_filters).float().T.contiguous(), persistent=False)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        stft = torch.stft(wave, self.n_fft, self.hop, window=self.window, return_complex=True)
        mel = self.filters @ (stft[..., :-1].abs() ** 2)  # (1, n_mels, T)
        log = mel.clamp_min(1e-10).log10()
        log = torch.maximum(log, log.amax(dim=(1, 2), keepdim=True) - 8.0)
        return (log + 4.0) / 4.0


class HubEncoder(nn.Module):
    """A transformers speech encoder that maps each clip to its per-layer pooled statistics.

    Args:
        source: a hub id (`openai/whisper-base`, `microsoft/wavlm-base-plus`, ...) or a local folder
            with config.json and model.safetensors.
        pretrained: load its weights (False: its architecture alone, for a checkpoint's weights).
    """

    def __init__(self, source: str, pretrained: bool = True) -> None:
        super().__init__()
        config = _config(source)
        self.source, self.model_type = source, config.model_type
        self.model = _load(source, config, pretrained)
        self.whisper = self.model_type == "whisper"
        if self.whisper:
            self.logmel = WhisperLogMel(config.num_mel_bins, source)
            self.normalize = False
            self.num_states, self.dim = config.encoder_layers + 1, config.d_model
        else:
            # the feature extractor's zero-mean, unit-variance step (its config.json, else the model's
            # rule: models with a layer-norm feature extractor were trained on normalised clips)
            self.normalize = _feature_extractor_normalises(source, config)
            self.num_states, self.dim = config.num_hidden_layers + 1, config.hidden_size
        self.fingerprint = {"source_type": self.model_type, "weights": weights_hash(self.model),
                            "normalize": self.normalize, "pooling": "mean+std of layer-normalised frames",
                            "version": EMBEDDING_VERSION}

    def states(self, wave: torch.Tensor) -> list[torch.Tensor]:
        """(1, L) waveform of speech only -> the encoder's hidden states, each (1, T, D)."""
        if self.whisper:
            enc = self.model
            x = F.gelu(enc.conv2(F.gelu(enc.conv1(self.logmel(wave)))))  # (1, D, T)
            x = x.transpose(1, 2)
            if x.shape[1] > enc.embed_positions.num_embeddings:
                raise ValueError(f"a clip of {x.shape[1]} frames is longer than Whisper's 30 s")
            x = x + enc.embed_positions.weight[: x.shape[1]]
            states = [x]
            for layer in enc.layers:
                x = layer(x, None)
                x = x[0] if isinstance(x, tuple) else x
                states.append(x)
            states[-1] = enc.layer_norm(x)
            return states
        if self.normalize:
            wave = (wave - wave.mean()) / (wave.var(unbiased=False) + 1e-7).sqrt()
        return list(self.model(wave, output_hidden_states=True).hidden_states)

    def embed(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) float waveform, zeros after each clip's speech -> (B, N, 2D) float32."""
        out = []
        for clip, n in zip(wave, speech_length(wave).tolist(), strict=True):
            speech = F.pad(clip[:n].float(), (0, max(0, MIN_SAMPLES - n)))[None]  # (1, n)
            pooled = []
            for h in self.states(speech):
                h = F.layer_norm(h.float(), h.shape[-1:])[0]  # (T, D)
                pooled.append(torch.cat([h.mean(0), h.std(0, correction=0)]))
            out.append(torch.stack(pooled))  # (N, 2D)
        return torch.stack(out)


def _feature_extractor_normalises(source: str, config: Any) -> bool:
    folder = Path(source).expanduser()
    if (folder / "preprocessor_config.json").is_file():
        import json

        return bool(json.loads((folder / "preprocessor_config.json").read_text()).get("do_normalize", True))
    return getattr(config, "feat_extract_norm", "group") == "layer"


class PooledLayerHead(nn.Module):
    """Per-layer pooled statistics (B, N, 2D) -> logits: a learned softmax-weighted sum of the layers
    (SUPERB's layer mix), BatchNorm, a small MLP. The only part that trains on a frozen encoder's cache.

    Args: num_states (N), dim (D), num_classes, hidden (MLP width), dropout (before the last layer).
    """

    def __init__(self, num_states: int, dim: int, num_classes: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.layer_logits = nn.Parameter(torch.zeros(num_states))  # equal weights to start
        self.mlp = nn.Sequential(nn.BatchNorm1d(2 * dim), nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, num_classes))

    def layer_weights(self) -> torch.Tensor:
        """(N,) non-negative, summing to 1."""
        return self.layer_logits.softmax(dim=0)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        mixed = (self.layer_weights()[None, :, None] * pooled.float()).sum(1)  # (B, 2D)
        return self.mlp(mixed)


class HubEncoderClassifier(nn.Module):
    """`HubEncoder` + `PooledLayerHead`, on float waveforms at 16 kHz, or on the pooled statistics a
    frozen encoder's cache holds (`voxray.data.store.encoded`).

    Args:
        num_classes: logits of the head.
        source: a hub id or a local folder (config.json + model.safetensors).
        pretrained: load the source's weights (False: only its config.json, as a checkpoint is loaded).
        freeze_encoder: keep the encoder fixed (its features can then come from the cache); False
            fine-tunes it with the `callbacks=finetune` schedule.
        hidden: width of the head's hidden layer.
        dropout: before the head's last layer.
    """

    def __init__(self, num_classes: int, source: str = "openai/whisper-base", pretrained: bool = True,
                 freeze_encoder: bool = True, hidden: int = 256, dropout: float = 0.2) -> None:
        super().__init__()
        self.encoder = HubEncoder(source, pretrained)
        self.head = PooledLayerHead(self.encoder.num_states, self.encoder.dim, num_classes, hidden, dropout)
        self.has_pretrained_weights = pretrained  # read by BackboneFreeze
        self.keep_frozen = ("encoder",) if freeze_encoder else ()  # BackboneFreeze leaves these out
        self.encoder.requires_grad_(not freeze_encoder)
        # read by voxray.export
        self.onnx_unsupported = (
            "a hub encoder runs each clip at its own length (a loop over the batch with data-dependent "
            "lengths, which torch.onnx.export cannot trace); use the checkpoint in PyTorch (predict.py)")

    def train(self, mode: bool = True) -> HubEncoderClassifier:
        """Training mode for what trains; a frozen encoder stays in eval mode (no dropout, no LayerDrop)."""
        super().train(mode)
        if mode and not any(p.requires_grad for p in self.encoder.parameters()):
            self.encoder.eval()
        return self

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L) float waveform, or (B, N, 2D) pooled statistics from the cache -> (B, num_classes)."""
        if x.dim() == 3:
            return self.head(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            pooled = self.encoder.embed(x)
        return self.head(pooled)
