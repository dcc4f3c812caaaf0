"""Read a CTranslate2 binary model (`model.bin`, binary version 6) into tensors.

The reader follows the format that ctranslate2's `ModelSpec._serialize` writes: the version, the spec
name, its revision, then each variable (name, rank, shape, dtype id, byte count, bytes), then the
aliases. It checks what it reads (byte counts against shapes, every byte consumed), so the `ctranslate2`
package is not needed. `tools/ctranslate2_whisper.py` converts the Whisper models it reads.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

VERSION = 6
# The order of the DataType enum in ctranslate2's include/ctranslate2/types.h
DTYPES = (torch.float32, torch.int8, torch.int16, torch.int32, torch.float16, torch.bfloat16)


class Ct2FormatError(ValueError):
    """A file that is not the CTranslate2 model a tool reads (or converts); the message names the file."""


@dataclass
class Ct2Model:
    path: Path
    spec: str
    revision: int
    variables: dict[str, torch.Tensor]  # aliases resolved: an alias maps to its target's tensor
    aliases: dict[str, str]


def read_ct2(path: Path) -> Ct2Model:
    """Every variable of a CTranslate2 binary model (version 6), as tensors over the file's bytes."""
    buf = bytearray(path.stat().st_size)
    with open(path, "rb") as f:
        f.readinto(buf)
    pos = 0

    def take(n: int, what: str) -> memoryview:
        nonlocal pos
        if pos + n > len(buf):
            raise Ct2FormatError(f"{path}: truncated: {what} needs {n} bytes at byte {pos}, the file has {len(buf)}")
        pos += n
        return memoryview(buf)[pos - n : pos]

    def number(fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, take(struct.calcsize(fmt), what))[0]

    def string(what: str) -> str:
        raw = bytes(take(number("H", what), what))  # the length counts the trailing NUL
        if not raw.endswith(b"\0"):
            raise Ct2FormatError(f"{path}: {what} at byte {pos - len(raw)} is not NUL-terminated")
        return raw[:-1].decode("utf-8")

    version = number("I", "the version")
    if version != VERSION:
        raise Ct2FormatError(f"{path}: not a CTranslate2 model of binary version {VERSION} (starts with {version})")
    spec, revision = string("the spec name"), number("I", "the spec revision")
    variables: dict[str, torch.Tensor] = {}
    for i in range(number("I", "the variable count")):
        name = string(f"variable {i}'s name")
        shape = tuple(number("I", f"{name}'s shape") for _ in range(number("B", f"{name}'s rank")))
        dtype_id = number("B", f"{name}'s dtype")
        if dtype_id >= len(DTYPES):
            raise Ct2FormatError(f"{path}: {name} has dtype id {dtype_id}; known ids are 0..{len(DTYPES) - 1}")
        dtype, nbytes = DTYPES[dtype_id], number("I", f"{name}'s byte count")
        if nbytes != math.prod(shape) * dtype.itemsize:
            raise Ct2FormatError(f"{path}: {name} is {shape} {dtype} but says {nbytes} bytes")
        data = take(nbytes, name)  # copied out of the file's buffer: an aligned tensor of its own
        variables[name] = (torch.frombuffer(data, dtype=torch.uint8).clone().view(dtype).reshape(shape) if nbytes
                           else torch.empty(shape, dtype=dtype))
    aliases = {}
    for _ in range(number("I", "the alias count")):
        alias, target = string("an alias"), string("an alias target")
        if target not in variables:
            raise Ct2FormatError(f"{path}: alias {alias} points to {target}, which is not a variable")
        aliases[alias] = target
        variables[alias] = variables[target]
    if pos != len(buf):
        raise Ct2FormatError(f"{path}: {len(buf) - pos} bytes left after the aliases")
    return Ct2Model(path, spec, revision, variables, aliases)
