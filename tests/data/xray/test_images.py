"""Decoding odd image modes and DICOM to letterboxed uint8, corrupt files, digests."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers.dicom import write_dicom
from voxray.data.xray.images import XrayDecodeError, load_xray, pixel_digest


def _gradient(height: int = 40, width: int = 40, top: int = 255) -> np.ndarray:
    """Horizontal ramp 0..top, the same on every row."""
    return np.tile(np.linspace(0, top, width), (height, 1))


def _monotonic_row(img: np.ndarray) -> bool:
    row = img[img.shape[0] // 2].astype(int)
    return bool(np.all(np.diff(row) >= 0) and row[-1] - row[0] > 200)


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "CMYK", "LA", "1"])
def test_8bit_modes_decode_to_uint8_square(tmp_path: Path, mode: str) -> None:
    gray = Image.fromarray(_gradient().astype(np.uint8))
    opaque = gray.point(lambda _: 255)
    image = Image.merge("LA", [gray, opaque]) if mode == "LA" else gray.convert(mode)
    path = tmp_path / f"x.{'tif' if mode == 'CMYK' else 'png'}"
    image.save(path)
    img = load_xray(path, size=32)
    assert img.shape == (32, 32) and img.dtype == np.uint8
    if mode != "1":  # 1-bit has no gradient left
        assert _monotonic_row(img)


def test_rgba_is_composited_on_black(tmp_path: Path) -> None:
    rgba = np.full((20, 20, 4), 200, dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[:, :10, 3] = 0  # left half transparent
    Image.fromarray(rgba).save(tmp_path / "a.png")
    img = load_xray(tmp_path / "a.png", size=20)
    assert img[:, :8].max() == 0 and img[:, 12:].min() == 200


@pytest.mark.parametrize("suffix", ["png", "tif"])
def test_16bit_gradient_keeps_its_full_range(tmp_path: Path, suffix: str) -> None:
    # Values 1000..1500 would all collapse to a few levels if truncated to 8 bits.
    ramp = (1000 + _gradient(30, 64, 500)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / f"r.{suffix}")
    img = load_xray(tmp_path / f"r.{suffix}", size=64)
    assert _monotonic_row(img[17:47])  # 30x64 letterboxed: content in rows 17..46
    assert img[32].min() == 0 and img[32].max() == 255


def test_32bit_integer_image(tmp_path: Path) -> None:
    Image.fromarray((_gradient() * 1000).astype(np.int32)).save(tmp_path / "i.tif")
    assert _monotonic_row(load_xray(tmp_path / "i.tif", size=40))


def test_letterbox_keeps_aspect_and_pads_with_black(tmp_path: Path) -> None:
    Image.fromarray(np.full((50, 100), 180, dtype=np.uint8)).save(tmp_path / "wide.png")
    img = load_xray(tmp_path / "wide.png", size=64)
    filled_rows = np.flatnonzero(img.max(axis=1) > 0)
    assert (filled_rows[0], filled_rows[-1]) == (16, 47)  # 32 of 64 rows, centred
    assert img[16:48].min() == 180


def test_dicom_monochrome1_is_the_inverse_of_monochrome2(tmp_path: Path) -> None:
    stored = (_gradient(48, 48, 4095)).astype(np.uint16)  # 12-bit
    m2 = load_xray(write_dicom(tmp_path / "m2.dcm", stored), size=48)
    m1 = load_xray(write_dicom(tmp_path / "m1.dcm", stored, "MONOCHROME1"), size=48)
    assert _monotonic_row(m2)
    assert np.abs(m1.astype(int) + m2.astype(int) - 255).max() <= 1


def test_dicom_rescale_and_window_are_applied(tmp_path: Path) -> None:
    stored = (_gradient(32, 64, 65535)).astype(np.uint16)  # 16-bit stored
    # Rescale to about -1000..+1000; a window of width 400 around 0 keeps the middle fifth.
    path = write_dicom(tmp_path / "w.dcm", stored, bits_stored=16,
                        rescale=(2000 / 65535, -1000.0), window=(0.0, 400.0))
    img = load_xray(path, size=64)
    row = img[32].astype(int)
    assert row[:20].max() == 0 and row[-20:].min() == 255  # outside the window: clipped
    assert np.all(np.diff(row) >= 0) and 0 < row[32] < 255  # inside it: a ramp


def test_dicom_without_suffix_is_sniffed(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "scan.dcm", _gradient().astype(np.uint16))
    plain = tmp_path / "scan_no_suffix"
    shutil.copy(path, plain)
    assert np.array_equal(load_xray(plain, 40), load_xray(path, 40))


def _truncated_jpeg(path: Path) -> None:
    full = path.with_suffix(".full")
    Image.fromarray(_gradient(64, 64).astype(np.uint8)).save(full, "JPEG")
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])


def _truncated_dicom(path: Path) -> None:
    full = write_dicom(path.with_suffix(".full"), _gradient().astype(np.uint16))
    path.write_bytes(full.read_bytes()[:-1000])  # pixel data cut short


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("cut.jpeg", _truncated_jpeg),
        ("empty.png", lambda p: p.write_bytes(b"")),
        ("text.png", lambda p: p.write_text("this is not a png")),
        ("broken.dcm", lambda p: p.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00garbage")),
        ("cut.dcm", _truncated_dicom),
    ],
)
@pytest.mark.filterwarnings("ignore:.*VR:UserWarning")  # pydicom's complaints about the garbage
def test_corrupt_files_raise_the_one_decode_error(tmp_path: Path, name: str, make) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(XrayDecodeError, match=f"cannot decode .*{name}"):
        load_xray(path)
    assert issubclass(XrayDecodeError, ValueError)


def test_digests_find_copies_and_lossless_re_encodes(tmp_path: Path) -> None:
    pixels = (_gradient() * 0.7).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels).save(tmp_path / "a.tif")
    Image.fromarray(255 - pixels).save(tmp_path / "b.png")
    shutil.copy(tmp_path / "a.png", tmp_path / "copy.png")

    names = ("a.png", "copy.png", "a.tif", "b.png")
    decoded = {name: pixel_digest(load_xray(tmp_path / name, 32)) for name in names}
    assert decoded["a.png"] == decoded["copy.png"] == decoded["a.tif"] != decoded["b.png"]
