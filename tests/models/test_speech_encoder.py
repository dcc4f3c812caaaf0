"""The speech-encoder network: weights from a file or torch's cache (never silently random), the
layer mix, the shared freeze schedule, and the whole path (train, predict, export) on CPU."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import soundfile as sf
import torch
import torchaudio
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from tests.helpers.config import compose_cfg
from tests.helpers.voices import tone
from voxray.callbacks.finetune import BackboneFreeze
from voxray.errors import PretrainedWeightsUnavailable, UserError
from voxray.export import export
from voxray.models.speech_encoder import FACTORIES, SpeechEncoderClassifier
from voxray.predict import predict
from voxray.train import train

# torchaudio's WavLM layout at 2 layers x 32 wide with 16-channel convolutions: ~45k parameters
TINY = {"extractor_conv_layer_config": [[16, 10, 5]] + [[16, 3, 2]] * 4 + [[16, 2, 2]] * 2,
        "encoder_embed_dim": 32, "encoder_num_heads": 2, "encoder_ff_interm_features": 64,
        "encoder_num_layers": 2, "encoder_pos_conv_kernel": 16, "encoder_pos_conv_groups": 4}


def saved_encoder(folder: Path, layers: int = 2, prefix: str = "", name: str = "WAVLM_BASE_PLUS"
                  ) -> tuple[Path, torch.nn.Module]:
    """A 'pretrained' tiny encoder, saved as a state dict (no download in tests); returns (file, model)."""
    torch.manual_seed(0)
    bundle = getattr(torchaudio.pipelines, name)
    model = FACTORIES[bundle._model_type](**{**bundle._params, **TINY, "encoder_num_layers": layers}).eval()
    # He initialisation keeps the signal's scale, as trained convolutions do: PyTorch's default
    # shrinks it ~1000x over the 7 layers, below the projection's LayerNorm eps, so every clip looks alike
    for conv in model.feature_extractor.conv_layers:
        torch.nn.init.kaiming_normal_(conv.conv.weight)
    path = folder / f"{name.lower()}_tiny_{layers}{prefix.strip('.')}.pth"
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, path)
    return path, model


def encoder(path: Path | None, **kwargs) -> SpeechEncoderClassifier:
    return SpeechEncoderClassifier(2, "WAVLM_BASE_PLUS", pretrained=path is not None, weights=path and str(path),
                                   arch=TINY, **kwargs)


def test_a_saved_encoder_loads_with_its_numbers(tmp_path: Path) -> None:
    """Also the keys of `bundle.get_model()`'s wrapper (prefixed `model.`), as a user may save them."""
    wave = torch.randn(2, 16000) * 0.1
    for prefix in ("", "model."):
        path, source = saved_encoder(tmp_path, prefix=prefix)
        net = encoder(path).eval()
        with torch.no_grad():
            want, _ = source.extract_features(wave)
            features, _ = net.feature_extractor(wave, None)
            got = net.encoder.extract_features(features, None)
        assert len(got) == 2
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_a_file_of_another_model_is_refused_with_its_reason(tmp_path: Path) -> None:
    three_layers, _ = saved_encoder(tmp_path, layers=3)
    with pytest.raises(UserError, match=r"does not fit WAVLM_BASE_PLUS.*unexpected encoder\.transformer\.layers\.2"):
        encoder(three_layers)
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    with pytest.raises(UserError, match="not a state dict torch.load can read"):
        encoder(text)


def test_offline_without_a_file_stops_at_once_and_a_cached_copy_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args, **kwargs):
        raise socket.gaierror("network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    start = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailable) as caught:
        SpeechEncoderClassifier(2, "WAVLM_BASE_PLUS", pretrained=True, arch=TINY)
    assert time.monotonic() - start < 5
    message = str(caught.value)
    assert "\n" not in message and "download.pytorch.org" in message
    assert "model.net.weights=/path/to/wavlm_base_plus.pth" in message and "model.net.pretrained=false" in message

    # what torchaudio downloaded earlier loads without the network
    _, source = saved_encoder(tmp_path)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(source.state_dict(), tmp_path / "hub" / "checkpoints" / "wavlm_base_plus.pth")
    net = SpeechEncoderClassifier(2, "WAVLM_BASE_PLUS", pretrained=True, arch=TINY)
    torch.testing.assert_close(net.encoder.state_dict(), source.encoder.state_dict(), rtol=0, atol=0)


def test_layer_weights_sum_to_one_and_every_new_parameter_learns(tmp_path: Path) -> None:
    path, _ = saved_encoder(tmp_path)
    net = encoder(path, pooling="attentive")
    weights = net.head.layer_weights()
    assert weights.shape == (2,) and float(weights.detach().sum()) == pytest.approx(1.0)
    net(torch.randn(3, 16000) * 0.1).logsumexp(1).sum().backward()
    for name, p in net.head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert not any(p.requires_grad for p in net.feature_extractor.parameters()), "pretrained convolutions stay fixed"
    # random convolutions are no features to keep: without weights they train
    assert all(p.requires_grad for p in encoder(None).feature_extractor.parameters())


class Tiny(L.LightningModule):
    """The network alone under BackboneFreeze, recording what trains each epoch."""

    def __init__(self, net: SpeechEncoderClassifier) -> None:
        super().__init__()
        self.net, self.seen, self.encoder_modes = net, [], []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def on_train_epoch_start(self) -> None:
        groups = self.optimizers().optimizer.param_groups
        trainable = {n.split(".")[0] for n, p in self.net.named_parameters() if p.requires_grad}
        self.seen.append((trainable, [g["lr"] for g in groups]))
        self.encoder_modes.append(self.net.encoder.training)

    def configure_optimizers(self):
        return torch.optim.SGD([p for p in self.parameters() if p.requires_grad], lr=0.1)


@pytest.mark.parametrize("freeze_extractor", [True, False])
def test_head_first_then_the_encoder_at_a_lower_rate(tmp_path: Path, freeze_extractor: bool) -> None:
    path, source = saved_encoder(tmp_path)
    model = Tiny(encoder(path, freeze_feature_extractor=freeze_extractor))
    data = TensorDataset(torch.randn(4, 8000) * 0.1, torch.tensor([0, 1, 0, 1]))
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, default_root_dir=tmp_path,
                        callbacks=[BackboneFreeze(unfreeze_at_epoch=1, backbone_lr_ratio=0.05)])
    trainer.fit(model, DataLoader(data, batch_size=2))
    (first, lr0), (then, lr1) = model.seen
    assert first == {"head"} and lr0 == [0.1]
    assert then == ({"head", "encoder"} if freeze_extractor else {"head", "encoder", "feature_extractor"})
    assert lr1 == [0.1, pytest.approx(0.1 * 0.05)]
    assert model.encoder_modes == [False, True]  # no dropout or LayerDrop while frozen
    kept = torch.equal(model.net.feature_extractor.state_dict()["conv_layers.0.conv.weight"],
                       source.feature_extractor.state_dict()["conv_layers.0.conv.weight"])
    assert kept == freeze_extractor


def test_a_frozen_encoder_hands_the_head_the_same_features_twice(tmp_path: Path) -> None:
    """WavLM Base+ trains with dropout 0.1 and LayerDrop 0.05: left active while frozen, they would
    give the head-only epochs different features for the same clip at every step."""
    net = encoder(saved_encoder(tmp_path)[0]).train()
    wave = torch.randn(2, 8000) * 0.1

    def layers() -> list[torch.Tensor]:
        features, _ = net.feature_extractor(wave, None)
        return net.encoder.extract_features(features, None)

    net.encoder.requires_grad_(False)
    net.train()
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(layers(), layers()))
    net.encoder.requires_grad_(True)
    net.train()
    with torch.no_grad():
        assert not all(torch.equal(a, b) for a, b in zip(layers(), layers()))  # fine-tuning keeps its dropout


@pytest.mark.parametrize("pooling", ["stats", "attentive"])
def test_the_head_pools_over_the_speech_frames_only(pooling: str) -> None:
    """1 s of speech zero-padded to 3 s: the pooled statistics are those of the frames whose
    receptive field lies inside the speech, whatever frames follow them."""
    torch.manual_seed(0)
    net = encoder(None, pooling=pooling).eval()
    seen = []
    net.head.pool.register_forward_hook(lambda m, inp, out: seen.append((inp[0], out)))
    voice = torch.from_numpy(tone(150.0, 1.0, lead=0.0)[:16000])
    net(torch.cat([voice, torch.zeros(32000)])[None])
    frames, out = seen[0]
    n = 16000
    for _, kernel, stride in TINY["extractor_conv_layer_config"]:
        n = (n - kernel) // stride + 1
    assert frames.shape[1] > n + 50
    torch.testing.assert_close(out, net.head.pool(frames[:, :n]))


def test_the_waveform_is_standardised_over_its_speech() -> None:
    """Encoders trained on standardised clips get the speech at zero mean and unit variance, as if
    it had no padding, and the padding stays 0."""
    net = encoder(None).eval()
    net.normalize_waveform = True
    seen = []
    net.feature_extractor.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    voice = torch.from_numpy(tone(150.0, 1.0, lead=0.0)[:16000]) + 0.05
    net(torch.cat([voice, torch.zeros(32000)])[None])
    torch.testing.assert_close(seen[0][0, :16000], torch.nn.functional.layer_norm(voice, (16000,)))
    assert torch.equal(seen[0][0, 16000:], torch.zeros(32000))


# The voice_ssl experiment in about 25 s: the tiny Common Voice folder of tests.helpers.voices (12 speakers), a
# tiny wav2vec 2.0 from a file, the head alone for epoch 0, the encoder from epoch 1 (a higher rate
# than the default 1e-3: a random "pretrained" encoder gives the head weaker features than a real one).
def ssl_overrides(root: Path, weights: Path) -> list[str]:
    arch = ",".join(f"{k}:{json.dumps(v).replace(' ', '')}" for k, v in TINY.items())
    return ["experiment=voice_ssl", "data.target=gender", "model.net.name=WAV2VEC2_BASE", "trainer=cpu", "logger=csv",
            "callbacks.progress_bar=null",
            f"data.root={root}", "data.num_workers=0",
            "data.clean.denoise=false", "data.batch_size=8", "model.n_boot=20", "trainer.max_epochs=4",
            "model.optimizer.lr=0.003",
            "callbacks.backbone_freeze.unfreeze_at_epoch=1", "callbacks.early_stopping=null",
            f"model.net.weights={weights}", f"model.net.arch={{{arch}}}"]


@pytest.fixture(scope="module")
def ssl_run(tmp_path_factory: pytest.TempPathFactory, official_corpus_module: Path) -> Path:
    out = tmp_path_factory.mktemp("ssl_run")
    weights, _ = saved_encoder(out, name="WAV2VEC2_BASE")
    train(compose_cfg("train", out, out / "cache", ssl_overrides(official_corpus_module, weights)))
    return out


def test_voice_ssl_trains_end_to_end_and_its_loss_falls(ssl_run: Path) -> None:
    metrics = pd.read_csv(next(ssl_run.rglob("metrics.csv")))
    loss = metrics.dropna(subset=["train/loss"]).groupby("epoch")["train/loss"].mean()
    # measured: 0.74 -> 0.45 (the head alone at epoch 0, the encoder from epoch 1, channel augmentation on)
    assert list(loss.index) == [0, 1, 2, 3] and loss.iloc[-1] < 0.85 * loss.iloc[0]
    # the encoder joined the optimizer as its own group at 0.05 x the head's rate
    lrs = metrics.dropna(subset=["lr-AdamW/pg2"])
    assert len(lrs) == 2 and (lrs["lr-AdamW/pg2"] / lrs["lr-AdamW/pg1"]).round(6).eq(0.05).all()
    state = torch.load(ssl_run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    _, source = saved_encoder(ssl_run, name="WAV2VEC2_BASE")
    assert torch.equal(state["net.feature_extractor.conv_layers.0.conv.weight"],
                       source.feature_extractor.conv_layers[0].conv.weight), "feature extractor kept"
    assert not torch.equal(state["net.encoder.feature_projection.projection.weight"],
                           source.encoder.feature_projection.projection.weight), "encoder fine-tuned"


def test_predict_and_onnx_export_from_a_voice_ssl_checkpoint(ssl_run: Path, tmp_path: Path) -> None:
    ckpt = ssl_run / "checkpoints" / "last.ckpt"
    clip = tmp_path / "a.wav"
    sf.write(clip, tone(210.0, 2.0), 16000)
    table = predict(compose_cfg("predict", tmp_path / "pred", tmp_path / "cache",
                                [f"ckpt_path={ckpt}", f"inputs=[{clip}]", "device=cpu"]))
    assert table["error"].tolist() == [""] and table["predicted"].isin(["female", "male"]).all()
    assert float(table[["p_female", "p_male"]].sum(axis=1).iloc[0]) == pytest.approx(1.0, abs=1e-5)

    export(compose_cfg("export", tmp_path / "onnx", tmp_path / "cache", [f"ckpt_path={ckpt}"]))
    meta = json.loads((tmp_path / "onnx" / "model.json").read_text())
    assert meta["onnxruntime_max_abs_diff"] < 1e-3 and meta["class_names"] == ["female", "male"]
    assert meta["preparation"]["in_graph"] == ["int16 samples / 32768 to a float waveform",
                                               "the network (SpeechEncoderClassifier) to logits"]


def test_a_wavlm_checkpoint_says_why_it_cannot_be_exported(ssl_run: Path, tmp_path: Path) -> None:
    """The same run as if trained with WavLM: its attention does not convert (measured, torch 2.11)."""
    ckpt = torch.load(ssl_run / "checkpoints" / "last.ckpt", weights_only=True)
    config = ckpt["voxray"]["config"]
    config["model"]["net"].update(name="WAVLM_BASE_PLUS", weights=None)
    model = instantiate(OmegaConf.merge(OmegaConf.create(config).model, {"net": {"pretrained": False}}))
    ckpt["state_dict"] = model.state_dict()
    torch.save(ckpt, tmp_path / "wavlm.ckpt")
    with pytest.raises(UserError, match=r"cannot export .*WavLM attention.*WAV2VEC2_\* or HUBERT_\*"):
        export(compose_cfg("export", tmp_path / "onnx", tmp_path / "cache", [f"ckpt_path={tmp_path / 'wavlm.ckpt'}"]))
