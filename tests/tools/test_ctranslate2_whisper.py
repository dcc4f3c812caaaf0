"""tools/ctranslate2_whisper.py and its reader, tools/ctranslate2_reader.py, on a tiny Whisper-shaped CTranslate2
file that this test writes itself, following the binary format (version 6) of ctranslate2's
`ModelSpec._serialize`; no real weights, no network."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ctranslate2_reader import read_ct2
from ctranslate2_whisper import encoder_state_dict, load_encoder, main, reference_encoder, save

D, HEADS, MELS, LAYERS, FFN, POSITIONS, VOCAB = 8, 2, 4, 2, 16, 10, 12
DTYPE_IDS = {torch.float32: 0, torch.int8: 1, torch.int16: 2, torch.int32: 3, torch.float16: 4, torch.bfloat16: 5}


def write_ct2(path: Path, variables: dict[str, torch.Tensor], aliases: dict[str, str], version: int = 6) -> Path:
    """Serialise like `ModelSpec._serialize`: sorted variables, then aliases; strings carry a trailing NUL."""
    def string(s: str) -> bytes:
        raw = s.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    out = [struct.pack("<I", version), string("WhisperSpec"), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, t in sorted(variables.items()):
        raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        out += [string(name), struct.pack("<B", t.dim()), *(struct.pack("<I", n) for n in t.shape),
                struct.pack("<B", DTYPE_IDS[t.dtype]), struct.pack("<I", len(raw)), raw]
    out.append(struct.pack("<I", len(aliases)))
    out += [string(a) + string(target) for a, target in aliases.items()]
    path.write_bytes(b"".join(out))
    return path


def tiny_whisper(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """CTranslate2 variables of a 2-layer, 8-wide Whisper (float16, a few other dtypes), and the q/k/v they fuse."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int, dtype: torch.dtype = torch.float16) -> torch.Tensor:
        return (torch.randn(shape, generator=g) * 0.5).to(dtype)

    v = {"encoder/num_heads": torch.tensor(HEADS, dtype=torch.int16),
         "decoder/num_heads": torch.tensor(HEADS, dtype=torch.int16),
         "decoder/activation": torch.tensor(1, dtype=torch.int8),
         "decoder/alignment_layer": torch.tensor(-1, dtype=torch.int32),
         "encoder/conv1/weight": r(D, MELS, 3), "encoder/conv1/bias": r(D),
         "encoder/conv2/weight": r(D, D, 3), "encoder/conv2/bias": r(D).float(),  # float16 values in float32
         "encoder/position_encodings/encodings": r(POSITIONS, D),
         "encoder/layer_norm/gamma": 1 + r(D), "encoder/layer_norm/beta": r(D),
         "decoder/embeddings/weight": r(VOCAB, D), "decoder/position_encodings/encodings": r(6, D),
         "decoder/layer_0/ffn/linear_0/weight": r(FFN, D),
         "decoder/layer_0/ffn/linear_0/bias": r(FFN, dtype=torch.bfloat16)}
    qkv = {}
    for i in range(LAYERS):
        p = f"encoder/layer_{i}/"
        q, k, val, qb, vb = r(D, D), r(D, D), r(D, D), r(D), r(D)
        qkv |= {f"{i}.q": q, f"{i}.k": k, f"{i}.v": val, f"{i}.qb": qb, f"{i}.vb": vb}
        v |= {p + "self_attention/linear_0/weight": torch.cat([q, k, val]),
              p + "self_attention/linear_0/bias": torch.cat([qb, torch.zeros(D, dtype=qb.dtype), vb]),
              p + "self_attention/linear_1/weight": r(D, D), p + "self_attention/linear_1/bias": r(D),
              p + "self_attention/layer_norm/gamma": 1 + r(D), p + "self_attention/layer_norm/beta": r(D),
              p + "ffn/linear_0/weight": r(FFN, D), p + "ffn/linear_0/bias": r(FFN),
              p + "ffn/linear_1/weight": r(D, FFN), p + "ffn/linear_1/bias": r(D),
              p + "ffn/layer_norm/gamma": 1 + r(D), p + "ffn/layer_norm/beta": r(D)}
    return v, qkv


ALIASES = {"decoder/projection/weight": "decoder/embeddings/weight"}


def test_every_tensor_round_trips(tmp_path: Path) -> None:
    variables, _ = tiny_whisper()
    m = read_ct2(write_ct2(tmp_path / "model.bin", variables, ALIASES))
    assert (m.spec, m.revision, m.aliases) == ("WhisperSpec", 3, ALIASES)
    assert set(m.variables) == set(variables) | set(ALIASES)
    for name, t in variables.items():
        assert m.variables[name].dtype == t.dtype and torch.equal(m.variables[name], t), name
    assert torch.equal(m.variables["decoder/projection/weight"], variables["decoder/embeddings/weight"])


def test_fused_qkv_splits_into_whisper_names(tmp_path: Path) -> None:
    variables, qkv = tiny_whisper()
    state = encoder_state_dict(read_ct2(write_ct2(tmp_path / "model.bin", variables, ALIASES)))
    assert len(state) == 7 + 15 * LAYERS and all(t.dtype == torch.float32 for t in state.values())
    for i in range(LAYERS):
        attn = f"encoder.layers.{i}.self_attn."
        for proj, key in [("q_proj.weight", "q"), ("k_proj.weight", "k"), ("v_proj.weight", "v"),
                          ("q_proj.bias", "qb"), ("v_proj.bias", "vb")]:
            assert torch.equal(state[attn + proj], qkv[f"{i}.{key}"].float()), attn + proj
        assert attn + "k_proj.bias" not in state  # Whisper's key projection has no bias
    save(tmp_path / "fp16", state, {}, float16=True)
    halves = load_file(tmp_path / "fp16" / "model.safetensors")
    assert all(torch.equal(halves[k].float(), t) for k, t in state.items())  # float16 values: stored losslessly


def test_converted_folder_matches_reference_forward(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="transformers is not installed (the hub group: uv sync --group hub)")
    variables, _ = tiny_whisper()
    main([str(write_ct2(tmp_path / "model.bin", variables, ALIASES)), str(tmp_path / "hf")])
    encoder = load_encoder(tmp_path / "hf")
    mel = torch.randn(3, MELS, 2 * POSITIONS, generator=torch.Generator().manual_seed(1))  # (B, n_mels, frames)
    with torch.inference_mode():
        theirs = encoder(mel, output_hidden_states=True).hidden_states
        ours = reference_encoder(read_ct2(tmp_path / "model.bin").variables, mel)
    assert len(ours) == len(theirs) == LAYERS + 1
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _trailing(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\0" * 7)


@pytest.mark.parametrize("spoil, says", [(_truncated, "truncated"), (_trailing, "7 bytes left"),
                                         (lambda p: write_ct2(p, *_variables_aliases(), version=5), "version 6"),
                                         (lambda p: p.write_bytes(b"PK\3\4" + bytes(40)), "version 6"),
                                         (lambda p: write_ct2(p, *_variables_aliases(k_bias=1.0)), "nonzero key")],
                         ids=["truncated", "trailing-bytes", "version-5", "zip-file", "key-bias"])
def test_bad_files_give_one_line_naming_the_file(tmp_path: Path, spoil, says: str) -> None:
    path = write_ct2(tmp_path / "model.bin", *_variables_aliases())
    spoil(path)
    with pytest.raises(SystemExit) as exit_:
        main([str(path), str(tmp_path / "hf")])
    message = str(exit_.value.code)
    assert str(path) in message and says in message and "\n" not in message, message
    assert not (tmp_path / "hf").exists()


def _variables_aliases(k_bias: float = 0.0) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    variables, _ = tiny_whisper()
    variables["encoder/layer_1/self_attention/linear_0/bias"][D : 2 * D] = k_bias
    return variables, ALIASES
