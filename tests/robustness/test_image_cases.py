"""Every odd image file ends as a letterboxed uint8 row or as a skip with a true, specific reason."""

from __future__ import annotations

import errno
import re
import struct
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image, ImageFile

from tests.helpers.dicom import write_dicom
from voxray.data.cache import PreparedArray
from voxray.data.store import prepare_store
from voxray.data.xray.images import XrayDecodeError, load_xray

SIZE = 32
RAMP = np.tile(np.linspace(0, 255, 48), (48, 1))  # dark left, bright right


def _save(image: Callable[[], Image.Image], **kwargs) -> Callable[[Path], None]:
    return lambda path: image().save(path, **kwargs)


def _gray() -> Image.Image:
    return Image.fromarray(RAMP.astype(np.uint8))


def _png_declaring(width: int, height: int) -> Callable[[Path], None]:
    """A PNG whose header declares width x height 8-bit gray pixels; its data is one row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\0" * (width + 1))
    body = chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")
    return lambda path: path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def _truncated_jpeg(path: Path) -> None:
    _gray().save(path, "JPEG")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _dicom(change: Callable[[pydicom.Dataset], None]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        write_dicom(path, (RAMP * 16).astype(np.uint16))
        dataset = pydicom.dcmread(path)
        change(dataset)
        dataset.save_as(path)

    return make


def _drop_pixels(dataset: pydicom.Dataset) -> None:
    del dataset.PixelData


def _declare_30000(dataset: pydicom.Dataset) -> None:
    dataset.Rows = dataset.Columns = 30000


def _cmyk_jpeg(path: Path) -> None:
    _gray().convert("CMYK").save(path, "JPEG")


def _sixteen_bit(path: Path) -> None:
    Image.fromarray((RAMP * 200).astype(np.uint16)).save(path)


def _rgba(path: Path) -> None:
    Image.merge("RGBA", [_gray()] * 3 + [Image.new("L", (48, 48), 255)]).save(path)


# name -> (how to make it, None if it must be processed, else the reason after "cannot decode <path>: ")
CASES: dict[str, tuple[Callable[[Path], None], str | None]] = {
    "missing.png": (lambda path: None, "not found"),
    "zero_bytes.png": (lambda path: path.write_bytes(b""), re.escape("empty file (0 bytes)")),
    "truncated.jpeg": (_truncated_jpeg, "OSError: .*[Tt]runcated.*"),  # Pillow's words vary by spot
    "text.jpeg": (lambda path: path.write_text("not a picture\n"),
                  "not an image: Pillow recognises no image format in it"),
    "bomb_30000.png": (_png_declaring(30000, 30000), re.escape(
        "refused without decoding: Image size (900000000 pixels) exceeds limit of 178956970 pixels")),
    "bomb_10000.png": (_png_declaring(10000, 10000), re.escape(
        "refused without decoding: Image size (100000000 pixels) exceeds limit of 89478485 pixels")),
    "bomb_30000.dcm": (_dicom(_declare_30000), re.escape(
        "refused without decoding: Image size (900000000 pixels, 30000 rows x 30000 columns) "
        "exceeds limit of 89478485 pixels")),
    "no_pixels.dcm": (_dicom(_drop_pixels), "DICOM file without Pixel Data"),
    "cmyk.jpeg": (_cmyk_jpeg, None),
    "sixteen_bit.png": (_sixteen_bit, None),
    "rgba.png": (_rgba, None),
    "palette.png": (lambda path: _gray().convert("P").save(path), None),
    "one_pixel.png": (_save(lambda: Image.new("L", (1, 1), 77)), None),
    "upper.JPEG": (_save(_gray, format="JPEG"), None),
    "upper.PNG": (_save(_gray), None),
    "upper.DCM": (_dicom(lambda dataset: None), None),
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> PreparedArray:
    folder = tmp_path_factory.mktemp("images")
    for name, (make, _) in CASES.items():
        make(folder / name)
    table = pd.DataFrame({"path": [str(folder / name) for name in CASES]})
    load = partial(load_xray, size=SIZE)
    return prepare_store(table, load, (SIZE, SIZE), "uint8", folder / "cache", num_workers=0)


def test_no_file_is_dropped_silently(prepared: PreparedArray) -> None:
    kept, skipped = set(prepared.index["path"]), set(prepared.skipped["path"])
    assert not kept & skipped and len(kept | skipped) == len(CASES)


@pytest.mark.parametrize("name", CASES)
def test_case(prepared: PreparedArray, name: str) -> None:
    names = prepared.index["path"].map(lambda p: Path(p).name)
    reasons = {Path(p).name: r for p, r in zip(prepared.skipped["path"], prepared.skipped["reason"])}
    expected = CASES[name][1]
    if expected is not None:
        reason = reasons.get(name, "<processed>")
        assert re.fullmatch(f"cannot decode .*{re.escape(name)}: {expected}", reason), reason
        return
    assert name not in reasons, reasons.get(name)
    img = np.asarray(prepared.data[int(np.flatnonzero(names == name)[0])])
    if name == "one_pixel.png":
        assert (img == 77).all(), "one grey pixel fills the square"
        return
    row = img[SIZE // 2].astype(int)
    assert row[-3:].mean() - row[:3].mean() > 150, "the ramp survives: dark left, bright right"


def test_a_declared_bomb_is_refused_before_any_pixel_is_decoded(tmp_path: Path, monkeypatch) -> None:
    _png_declaring(10000, 10000)(tmp_path / "bomb.png")  # Pillow alone only warns, then decodes
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoding started"))
    with pytest.raises(XrayDecodeError, match="refused without decoding"):
        load_xray(tmp_path / "bomb.png")


def test_an_io_error_is_not_a_decode_error(tmp_path: Path, monkeypatch) -> None:
    _gray().save(tmp_path / "a.png")

    def failing_open(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Image, "open", failing_open)
    with pytest.raises(OSError, match="Input/output error") as caught:
        load_xray(tmp_path / "a.png")
    assert not isinstance(caught.value, XrayDecodeError), "an EIO must stop the run, not be skipped"
