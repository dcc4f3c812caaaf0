"""Decode chest X-ray files (JPEG, PNG, TIFF, DICOM) to 8-bit grayscale squares, and hash them.

Every problem of the file itself surfaces as `XrayDecodeError` (a `SkipFile`), so the caching step
can skip a bad file and report it instead of dying on the ten different exception types Pillow and
pydicom raise. An I/O error of the disk (an `OSError` with an errno, e.g. EIO) is not the file's
fault: it propagates, so the run stops and the next one retries the file.
"""

import hashlib
import stat
import warnings
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, UnidentifiedImageError
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from voxray.data.cache import SkipFile

DICOM_SUFFIXES = (".dcm", ".dicom")
# ITU-R 601 luma, the weights Pillow's own "L" conversion uses.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


class XrayDecodeError(SkipFile, ValueError):
    """A file that cannot be decoded as an image (missing, empty, truncated, corrupt, too large)."""


def load_xray(path: str | Path, size: int = 256) -> np.ndarray:
    """Decode an X-ray file to a letterboxed uint8 grayscale square.

    The longer side is scaled to `size` and the shorter side padded symmetrically with black, so
    the cache crops no anatomy; black is also what air looks like on a radiograph. The network
    then sees a crop of this square (`XrayFrontEnd`): in evaluation the centre `crop_fraction`
    (0.875) of its side, which on a portrait film trims ~6% off the top and bottom (apices,
    costophrenic angles lie close to those edges); in training random crops of 75-100% of its area.
    8-bit sources keep their grey levels; deeper sources (16-bit PNG/TIFF, 32-bit, DICOM) stay in
    float until the end and are mapped linearly from their actual [min, max] to [0, 255].
    An image whose header declares more pixels than Pillow's decompression-bomb limit
    (`Image.MAX_IMAGE_PIXELS`, about 89 million) is refused before any pixel is decoded.

    Args:
        path: image file; DICOM is recognised by suffix (.dcm/.dicom) or its "DICM" magic.
        size: output side in pixels (default 256).

    Returns:
        uint8 array (size, size).

    Raises:
        XrayDecodeError: the file is missing, empty, truncated, corrupt, too large, or not an image.
        OSError: reading failed (errno set, e.g. EIO on a flaky network mount).
    """
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    path = Path(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its limit, then decodes anyway: refuse instead.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if _is_dicom(path):
                pixels, low, high = _decode_dicom(path)
            else:
                pixels, low, high = _decode_pillow(path)
    except XrayDecodeError:
        raise
    except UnidentifiedImageError as error:  # an OSError subclass: before OSError
        raise XrayDecodeError(
            f"cannot decode {path}: not an image: Pillow recognises no image format in it"
        ) from error
    except OSError as error:
        if error.errno is not None:  # the operating system's error, not the decoder's
            raise
        raise XrayDecodeError(f"cannot decode {path}: {type(error).__name__}: {error}") from error
    except _BOMB as error:
        reason = str(error).split(",")[0]  # "Image size (N pixels) exceeds limit of M pixels"
        raise XrayDecodeError(f"cannot decode {path}: refused without decoding: {reason}") from error
    except MemoryError:  # this machine's limit, not the file's fault
        raise
    # Decoders raise SyntaxError, struct.error, AttributeError, ... on corrupt input;
    # the caller needs one type to catch, with the cause kept in the chain.
    except Exception as error:
        raise XrayDecodeError(f"cannot decode {path}: {type(error).__name__}: {error}") from error
    if pixels.ndim != 2 or min(pixels.shape) == 0:
        raise XrayDecodeError(f"cannot decode {path}: decoded to shape {pixels.shape}")
    return _letterbox_to_uint8(pixels, low, high, size)


def _check_file(path: Path) -> None:
    """Refuse a missing, non-regular or empty file with that fact as the reason."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise XrayDecodeError(f"cannot decode {path}: not found") from None
    if not stat.S_ISREG(info.st_mode):
        raise XrayDecodeError(f"cannot decode {path}: not a regular file")
    if info.st_size == 0:
        raise XrayDecodeError(f"cannot decode {path}: empty file (0 bytes)")


def pixel_digest(img: np.ndarray) -> str:
    """SHA-256 of a decoded array, its shape and dtype.

    Hashing the output of `load_xray` also catches the same picture re-saved in another lossless
    container (PNG to TIFF, DICOM to 16-bit PNG). JPEG re-encodes change the pixels and are not
    caught: that would need a perceptual hash, whose threshold would also flag genuine follow-up
    films of one patient, which the patient-disjoint split already handles.

    Args:
        img: decoded image, any shape and dtype.

    Returns:
        64-character hex digest.
    """
    array = np.ascontiguousarray(img)
    digest = hashlib.sha256(f"{array.shape}|{array.dtype.str}|".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def _is_dicom(path: Path) -> bool:
    """True for a .dcm/.dicom suffix or the 'DICM' magic after the 128-byte preamble."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    with open(path, "rb") as handle:
        return handle.read(132)[128:] == b"DICM"


def _decode_pillow(path: Path) -> tuple[np.ndarray, float, float]:
    """Decode with Pillow to float32 (H, W) plus the value range that maps to [0, 255]."""
    with Image.open(path) as image:
        image.load()  # force the full decode here, so truncation raises inside our try
        mode = image.mode
        if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
            pixels = np.asarray(image, dtype=np.float32)
            return pixels, float(pixels.min()), float(pixels.max())
        if mode in ("1", "L"):
            return np.asarray(image.convert("L"), dtype=np.float32), 0.0, 255.0
        has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
        rgba = np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32)
    gray = rgba[..., :3] @ _LUMA
    if has_alpha:
        # Composite on black: transparent margins become the same black as the letterbox pad
        # and as air, while fully opaque images (the usual case) are left unchanged.
        gray = gray * (rgba[..., 3] / 255.0)
    return gray, 0.0, 255.0


def _decode_dicom(path: Path) -> tuple[np.ndarray, float, float]:
    """Decode DICOM: modality LUT (rescale), VOI LUT or window, MONOCHROME1 inversion."""
    dataset = pydicom.dcmread(path, force=True)
    if "PixelData" not in dataset:
        raise XrayDecodeError(f"cannot decode {path}: DICOM file without Pixel Data")
    rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
    limit = Image.MAX_IMAGE_PIXELS
    if limit and rows * columns > limit:  # the same limit as for Pillow's formats
        raise XrayDecodeError(
            f"cannot decode {path}: refused without decoding: Image size ({rows * columns} pixels, "
            f"{rows} rows x {columns} columns) exceeds limit of {limit} pixels"
        )
    stored = dataset.pixel_array
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
        stored = stored[0]  # multi-frame: the first frame is the radiograph
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if stored.ndim == 3:  # colour DICOM (RGB after pydicom's YCbCr conversion)
        return stored.astype(np.float32) @ _LUMA, 0.0, 255.0
    values = apply_voi_lut(apply_modality_lut(stored, dataset), dataset).astype(np.float32)
    if photometric == "MONOCHROME1":
        values = -values  # MONOCHROME1 stores dense tissue dark; the linear map below restores it
    return values, float(values.min()), float(values.max())


def _letterbox_to_uint8(pixels: np.ndarray, low: float, high: float, size: int) -> np.ndarray:
    """Resize float pixels so the longer side is `size`, map [low, high] to uint8, pad with 0."""
    height, width = pixels.shape
    scale = size / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    # Lanczos antialiases the large downscales X-rays need; reducing_gap first box-reduces
    # integer factors, which is faster on 3000-pixel DICOMs and visually identical.
    resized = Image.fromarray(pixels.astype(np.float32)).resize(
        (new_w, new_h), Image.Resampling.LANCZOS, reducing_gap=3.0
    )
    span = high - low
    scaled = (np.asarray(resized) - low) * (255.0 / span) if span > 0 else np.zeros((new_h, new_w))
    # Clipping also removes Lanczos overshoot at sharp edges.
    small = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    out = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = small
    return out
