"""Hugging Face speech encoders: tiny random wav2vec 2.0 and Whisper folders load offline, pool over
a clip's speech only, refuse a wrong folder in one line, and train from a cache keyed by the weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

pytest.importorskip("transformers", reason="the hub group (uv sync --group hub; CI installs it)")
from transformers import BertConfig, Wav2Vec2Config, Wav2Vec2Model, WhisperConfig, WhisperModel  # noqa: E402

from tests.helpers.config import compose_cfg  # noqa: E402
from tests.helpers.voices import tone  # noqa: E402
from voxray.errors import PretrainedWeightsUnavailable, UserError  # noqa: E402
from voxray.models.hub_encoder import HubEncoder, HubEncoderClassifier  # noqa: E402
from voxray.predict import predict  # noqa: E402
from voxray.train import train  # noqa: E402


def tiny_wav2vec2(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide wav2vec 2.0 with random weights, saved as a hub folder."""
    torch.manual_seed(seed)
    config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                            feat_extract_norm="group")
    Wav2Vec2Model(config).save_pretrained(folder)
    return folder


def tiny_whisper(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide Whisper with random weights (Whisper's 80 mel bands and 1500 positions)."""
    torch.manual_seed(seed)
    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                           decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64, vocab_size=64,
                           pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
                           max_target_positions=16, num_mel_bins=80, max_source_positions=1500)
    WhisperModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hub")
    return {"wav2vec2": tiny_wav2vec2(root / "wav2vec2"), "whisper": tiny_whisper(root / "whisper")}


def voice(seconds: float, f0: float = 160.0) -> torch.Tensor:
    return torch.from_numpy(tone(f0, seconds, lead=0.0)[: int(seconds * 16000)])


@pytest.mark.parametrize("kind", ["wav2vec2", "whisper"])
def test_zeros_after_the_speech_do_not_change_the_pooled_statistics(folders: dict[str, Path], kind: str) -> None:
    encoder = HubEncoder(str(folders[kind])).eval()
    clip = voice(1.3)
    batch = torch.zeros(2, 48000)
    batch[0, : len(clip)] = clip
    batch[1, :40000] = voice(2.5, 120.0)[:40000]
    with torch.no_grad():
        alone = encoder.embed(clip[None])  # no padding at all
        padded = encoder.embed(batch)  # 1.7 s of zeros after it, beside a longer clip
    assert alone.shape == (1, 3, 64)
    torch.testing.assert_close(padded[0], alone[0], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(padded[1], alone[0], atol=1e-2), "another clip gives other numbers"


def test_whisper_takes_as_many_positions_as_the_clip_has_frames(folders: dict[str, Path]) -> None:
    encoder = HubEncoder(str(folders["whisper"])).eval()
    with torch.no_grad():
        states = encoder.states(voice(3.0)[None])
    assert [tuple(s.shape) for s in states] == [(1, 150, 32)] * 3  # 300 mel frames, conv stride 2


def test_a_wrong_folder_or_architecture_is_one_line_naming_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"without config.json: expected a Hugging Face model folder") as err:
        HubEncoder(str(tmp_path / "empty"))
    assert "\n" not in str(err.value)
    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path / "bert")
    with pytest.raises(UserError, match=r"is a 'bert' model; a speech encoder of one of .*'wav2vec2'.*'whisper'"):
        HubEncoder(str(tmp_path / "bert"))
    Wav2Vec2Config(hidden_size=32).save_pretrained(tmp_path / "no_weights")  # config.json alone
    with pytest.raises(PretrainedWeightsUnavailable, match=r"needs model.safetensors") as err:
        HubEncoder(str(tmp_path / "no_weights"))
    assert "\n" not in str(err.value)


def test_an_unreachable_hub_stops_at_once_naming_a_local_folder(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setattr("voxray.models.weights._hub_answers", lambda: False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # no cached copy
    with pytest.raises(PretrainedWeightsUnavailable, match=r"Offline\? .* pass model.net.source=DIR") as err:
        HubEncoder("openai/whisper-base")
    assert "\n" not in str(err.value)


def test_a_frozen_encoder_stays_frozen_and_in_eval_mode(folders: dict[str, Path]) -> None:
    net = HubEncoderClassifier(2, str(folders["wav2vec2"]), freeze_encoder=True).train()
    assert not net.encoder.training and net.head.training
    assert not any(p.requires_grad for p in net.encoder.parameters())
    assert all(p.requires_grad for p in net.head.parameters())


def test_the_fingerprint_follows_the_weights(folders: dict[str, Path], tmp_path: Path) -> None:
    same = HubEncoder(str(folders["whisper"])).fingerprint
    assert HubEncoder(str(folders["whisper"])).fingerprint == same
    other = HubEncoder(str(tiny_whisper(tmp_path / "other", seed=1))).fingerprint
    assert other["weights"] != same["weights"]


# experiment=voice_gender_ssl on the 12-speaker test folder with a tiny Whisper: cache, head, test, predict
def ssl_overrides(root: Path, source: Path) -> list[str]:
    # the default logger: its sample figure once failed on inputs that are not images
    return ["experiment=voice_gender_ssl", f"model.net.source={source}", "trainer=cpu", "logger=tensorboard",
            "callbacks.progress_bar=null", f"data.root={root}", "data.num_workers=0", "data.clean.denoise=false",
            "data.batch_size=8", "model.n_boot=20", "trainer.max_epochs=6", "model.optimizer.lr=0.01"]


@pytest.fixture(scope="module")
def cached_run(tmp_path_factory: pytest.TempPathFactory, official_corpus_module: Path,
               folders: dict[str, Path]) -> Path:
    out = tmp_path_factory.mktemp("ssl_cached")
    train(compose_cfg("train", out, out / "cache", ssl_overrides(official_corpus_module, folders["whisper"])))
    return out


def test_the_head_trains_from_the_cache_and_learns(cached_run: Path) -> None:
    loss = pd.read_csv(cached_run / "epochs.csv")["train/loss"]
    assert len(loss) == 6 and loss.iloc[-1] < 0.7 * loss.iloc[0]
    stores = list((cached_run / "cache" / "encoded").iterdir())
    assert len(stores) == 1 and (stores[0] / "store.json").exists()
    summary = json.loads((stores[0] / "store.json").read_text())
    assert summary["shape"] == [3, 64] and summary["skipped"] == 0


def test_a_second_run_reads_the_cache_and_other_weights_make_another(
    cached_run: Path, official_corpus_module: Path, folders: dict[str, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = cached_run / "cache"
    with monkeypatch.context() as m:  # the same weights: not one clip encoded again
        m.setattr(HubEncoder, "embed", lambda *a: pytest.fail("encoded again"))
        train(compose_cfg("train", tmp_path / "again", cache,
                          [*ssl_overrides(official_corpus_module, folders["whisper"]), "trainer.max_epochs=1"]))
    assert len(list((cache / "encoded").iterdir())) == 1
    other = tiny_whisper(tmp_path / "other", seed=1)
    train(compose_cfg("train", tmp_path / "other_run", cache,
                      [*ssl_overrides(official_corpus_module, other), "trainer.max_epochs=1"]))
    assert len(list((cache / "encoded").iterdir())) == 2


def test_the_cache_and_the_encoder_on_audio_give_the_same_logits(cached_run: Path, tmp_path: Path) -> None:
    """What trained on the cache is what predict runs on audio: the checkpoint's model, encoder included."""
    from voxray.evaluate import build_model, load_run

    ckpt, cfg = load_run(str(cached_run / "checkpoints" / "best.ckpt"))
    model = build_model(ckpt, cfg).eval()
    from voxray.data.cache import cache_key
    from voxray.data.store.build import open_rows
    from voxray.data.store.encoded import ENCODED_FORMAT

    audio = next(p for p in (cached_run / "cache" / "prepared").iterdir() if (p / "store.json").exists())
    fingerprint = HubEncoder(cfg.model.net.source).fingerprint  # another test adds another encoder's store
    store = cached_run / "cache" / "encoded" / cache_key(audio.name, fingerprint, ENCODED_FORMAT)

    rows = np.arange(4)
    with torch.no_grad():
        from_cache = model(torch.from_numpy(np.asarray(open_rows(store)[rows])))
        from_audio = model(torch.from_numpy(np.asarray(open_rows(audio)[rows])))
    torch.testing.assert_close(from_cache, from_audio, rtol=1e-4, atol=1e-4)

    clip = tmp_path / "a.wav"
    sf.write(clip, tone(210.0, 2.0), 16000)
    table = predict(compose_cfg("predict", tmp_path / "pred", tmp_path / "cache",
                                [f"ckpt_path={cached_run / 'checkpoints' / 'best.ckpt'}", f"inputs=[{clip}]",
                                 "device=cpu"]))
    assert table["error"].tolist() == [""] and table["predicted"].isin(["female", "male"]).all()


def test_export_says_why_a_hub_encoder_is_not_exported(cached_run: Path, tmp_path: Path) -> None:
    from voxray.export import export

    ckpt = cached_run / "checkpoints" / "best.ckpt"
    with pytest.raises(UserError, match=r"cannot export .*its own length.*predict.py"):
        export(compose_cfg("export", tmp_path / "onnx", tmp_path / "cache", [f"ckpt_path={ckpt}"]))


def test_fine_tuning_from_audio_follows_the_freeze_schedule(official_corpus_module: Path, folders: dict[str, Path],
                                                            tmp_path: Path) -> None:
    """freeze_encoder=false with callbacks=finetune: the head alone in epoch 0, then the encoder too."""
    overrides = [*ssl_overrides(official_corpus_module, folders["wav2vec2"]), "model.net.freeze_encoder=false",
                 "data.encoder=null", "callbacks=finetune", "callbacks.backbone_freeze.unfreeze_at_epoch=1",
                 "trainer.max_epochs=2", "callbacks.early_stopping=null"]
    train(compose_cfg("train", tmp_path, tmp_path / "cache", overrides))
    assert not (tmp_path / "cache" / "encoded").exists(), "audio, not a cache"
    source = Wav2Vec2Model.from_pretrained(folders["wav2vec2"]).state_dict()
    key = "encoder.layers.0.attention.q_proj.weight"
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    groups = last["optimizer_states"][0]["param_groups"]
    assert len(groups) == 2, "the encoder joined the optimizer as a group of its own"
    assert groups[1]["initial_lr"] < 0.2 * groups[0]["initial_lr"], "at a fraction of the head's rate"
    assert not torch.equal(last["state_dict"][f"net.encoder.model.{key}"], source[key]), "the encoder was fine-tuned"


def test_eval_tests_the_checkpoint_on_the_same_cache_with_the_same_numbers(cached_run: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from voxray.evaluate import evaluate

    trained = json.loads((cached_run / "metrics.json").read_text())
    cache = cached_run / "cache"
    monkeypatch.setattr(HubEncoder, "embed", lambda *a: pytest.fail("encoded again"))
    metrics = evaluate(compose_cfg("eval", cached_run / "eval", cache,
                                   [f"ckpt_path={cached_run / 'checkpoints' / 'best.ckpt'}", "trainer=cpu"]))
    for name in ("test/uar", "test/loss", "test/speaker/uar"):
        assert metrics[name] == pytest.approx(trained[name], abs=1e-6), name
    pd.testing.assert_frame_equal(pd.read_csv(cached_run / "eval" / "test_predictions.csv"),
                                  pd.read_csv(cached_run / "test_predictions.csv"), atol=1e-6)
