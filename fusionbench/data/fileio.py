"""Image files of the real data sets: decoding exactly as stored, and per-modality conventions.

:func:`read_image` returns the stored integers untouched (8- or 16-bit); a
:class:`ModalityCodec` then turns them into what the pipeline uses (see
:data:`DEFAULT_CODECS`):

============== ====== ======== ==================================================================
modality       bits   channels decoded value
============== ====== ======== ==================================================================
rgb, hha       8      3        ``uint8 [H, W, 3]`` as stored
depth          16     1        ``float32 [H, W, 1]`` metres = raw / 1000 (mm), 0 = hole
depth_zbuffer  16     1        ``float32 [H, W, 1]`` metres = raw / 512; 65535 (invalid) -> 0
normal         8      3        ``float32 [H, W, 3]`` in [-1, 1] = raw * 2/255 - 1
reshading      8      1        ``float32 [H, W, 1]`` in [0, 1] = raw / 255 (first channel)
edge_texture   16     1        ``float32 [H, W, 1]`` in [0, 1] = raw / 65535
============== ====== ======== ==================================================================

Integer *raw decoders* (:data:`RAW_DECODERS`) run before scaling; ``'sunrgbd'`` undoes SUN
RGB-D's 3-bit rotation of its 16-bit depth PNGs.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping

import numpy as np
from PIL import Image

from fusionbench.data.errors import DataError

_SIXTEEN_BIT_MODES = ('I;16', 'I;16L', 'I;16B', 'I;16N')


def _pil_to_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ('L', 'P'):
        return np.asarray(image, dtype=np.uint8)
    if mode == '1':
        return np.asarray(image).astype(np.uint8)
    if mode in _SIXTEEN_BIT_MODES:
        return np.asarray(image).astype(np.uint16, copy=False)
    if mode == 'I':  # 32-bit integer; some writers store 16-bit greyscale this way
        array = np.asarray(image)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ValueError('32-bit integer image with values outside uint16')
        return array.astype(np.uint16)
    if mode == 'RGB':
        return np.asarray(image, dtype=np.uint8)
    if mode in ('RGBA', 'LA'):
        array = np.asarray(image, dtype=np.uint8)
        return array[..., :3] if mode == 'RGBA' else array[..., 0]
    return np.asarray(image.convert('RGB'), dtype=np.uint8)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file (PNG, JPEG) with the stored bit depth.

    Returns ``[H, W]`` (greyscale or palette indices; ``uint8`` or ``uint16``) or
    ``[H, W, 3]`` ``uint8`` (colour; alpha dropped).

    Raises:
        DataError: the file does not exist, or is truncated / not a decodable image.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f'image file not found: {path}')
    try:
        with Image.open(path) as image:
            image.load()
            return _pil_to_array(image)
    except (OSError, SyntaxError, ValueError) as error:  # UnidentifiedImageError is an OSError
        raise DataError(f'corrupt or truncated image file {path}: {error}') from None


def read_text_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a UTF-8 text file (a list file), a leading byte-order mark dropped.

    Editors on Windows save UTF-8 with a BOM (``EF BB BF``); read as plain UTF-8 it would stick
    to the first id (``\\ufeff000001``). Returns the lines without their line endings.

    Raises:
        DataError: the file is not UTF-8 text (names the file, the byte offset and the fix).
    """
    path = os.fspath(path)
    with open(path, 'rb') as f:
        raw = f.read()
    try:
        text = raw.decode('utf-8-sig')
    except UnicodeDecodeError as error:
        raise DataError(f'list file {path} is not UTF-8 text (byte 0x{raw[error.start]:02x} at '
                        f'offset {error.start}); save it as UTF-8') from None
    return text.splitlines()


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``uint8 [H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or ``uint16 [H, W]`` / ``[H, W, 1]``.

    Parent folders are created. Values are stored losslessly (16-bit greyscale for ``uint16``).
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f'write_png: {path}: expected uint8 or uint16, got {array.dtype}')
    if array.dtype == np.uint16 and array.ndim != 2:
        raise ValueError(f'write_png: {path}: uint16 images must be [H, W], got {array.shape}')
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f'write_png: {path}: expected [H, W] or [H, W, 3], got {array.shape}')
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array)).save(os.fspath(path), format='PNG')


def rotate_sunrgbd_depth(raw: np.ndarray) -> np.ndarray:
    """Undo SUN RGB-D's depth encoding: ``d = (v >> 3) | (v << 13)`` in uint16 -> millimetres.

    ``raw``: ``uint16 [H, W]``; returns ``uint16 [H, W]``.
    """
    raw = raw.astype(np.uint16, copy=False)
    return (raw >> np.uint16(3)) | (raw << np.uint16(13))


def encode_sunrgbd_depth(millimetres: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rotate_sunrgbd_depth` (``uint16 [H, W]`` mm -> stored value)."""
    mm = millimetres.astype(np.uint16, copy=False)
    return (mm << np.uint16(3)) | (mm >> np.uint16(13))


RAW_DECODERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    'sunrgbd': rotate_sunrgbd_depth,
}


@dataclasses.dataclass(frozen=True)
class ModalityCodec:
    """How one modality is stored and what the pipeline receives.

    Args:
        bits: bit depth the file must have (8 or 16); anything else raises :class:`DataError`.
        channels: output channels, 1 or 3. A 1-channel modality stored as colour keeps the first
            channel; a 3-channel modality stored as greyscale is an error.
        scale, offset: ``None`` keeps the stored integers (``uint8``/``uint16``); otherwise the
            output is ``float32 raw * scale + offset``.
        invalid: a raw value (after ``decoder``) meaning "no measurement", decoded to 0.
        decoder: a raw-integer transform applied first: a name in :data:`RAW_DECODERS` or a
            callable ``[H, W] -> [H, W]``.
    """

    bits: int = 8
    channels: int = 3
    scale: float | None = None
    offset: float = 0.0
    invalid: int | None = None
    decoder: str | Callable[[np.ndarray], np.ndarray] | None = None

    def __post_init__(self):
        if self.bits not in (8, 16) or self.channels not in (1, 3):
            raise ValueError(f'ModalityCodec: bits must be 8 or 16 and channels 1 or 3, got '
                             f'bits={self.bits}, channels={self.channels}')
        if isinstance(self.decoder, str) and self.decoder not in RAW_DECODERS:
            raise ValueError(f'unknown depth decoder {self.decoder!r}; known: '
                             f'{sorted(RAW_DECODERS)}')

    def decode(self, raw: np.ndarray, path: str, modality: str) -> np.ndarray:
        """Stored array from :func:`read_image` -> ``[H, W, channels]`` (see class doc)."""
        expected = np.uint8 if self.bits == 8 else np.uint16
        if raw.dtype != expected:
            found = {np.dtype(np.uint8): '8-bit', np.dtype(np.uint16): '16-bit'}.get(
                raw.dtype, str(raw.dtype))
            raise DataError(f'{modality} file {path}: expected a {self.bits}-bit image, found '
                            f'{found} ({raw.dtype}) data')
        if raw.ndim == 3 and self.channels == 1:
            raw = raw[..., 0]
        if raw.ndim == 2:
            if self.channels == 3:
                raise DataError(f'{modality} file {path}: expected a 3-channel image, found a '
                                'single-channel one')
            raw = raw[..., None]
        if self.decoder is not None:
            decoder = RAW_DECODERS[self.decoder] if isinstance(self.decoder, str) else self.decoder
            raw = decoder(raw[..., 0])[..., None] if self.channels == 1 else decoder(raw)
        if self.scale is None:
            if self.invalid is not None:
                raw = np.where(raw == self.invalid, 0, raw).astype(raw.dtype)
            return np.ascontiguousarray(raw)
        out = raw.astype(np.float32) * np.float32(self.scale) + np.float32(self.offset)
        if self.invalid is not None:
            out[raw == self.invalid] = 0.0
        return out

    def replace(self, **overrides) -> ModalityCodec:
        """A copy with some fields changed (unknown field names raise ``TypeError``)."""
        return dataclasses.replace(self, **overrides)


DEFAULT_CODECS: dict[str, ModalityCodec] = {
    'rgb': ModalityCodec(bits=8, channels=3),
    'hha': ModalityCodec(bits=8, channels=3),
    'depth': ModalityCodec(bits=16, channels=1, scale=1e-3),
    # Taskonomy domains.
    'depth_zbuffer': ModalityCodec(bits=16, channels=1, scale=1 / 512, invalid=65535),
    'normal': ModalityCodec(bits=8, channels=3, scale=2 / 255, offset=-1.0),
    'reshading': ModalityCodec(bits=8, channels=1, scale=1 / 255),
    'edge_texture': ModalityCodec(bits=16, channels=1, scale=1 / 65535),
}


def resolve_codec(modality: str, *overrides: Mapping | None) -> ModalityCodec:
    """The codec of ``modality``: :data:`DEFAULT_CODECS` updated by each mapping in order.

    Raises :class:`DataError` for a modality with no default and no overrides.
    """
    codec = DEFAULT_CODECS.get(modality)
    updates = [dict(o) for o in overrides if o]
    if codec is None:
        if not updates:
            raise DataError(f'no file decoding known for modality {modality!r}; known: '
                            f'{sorted(DEFAULT_CODECS)}; pass decoding={{{modality!r}: '
                            'dict(bits=..., channels=...)}')
        codec = ModalityCodec()
    for update in updates:
        codec = codec.replace(**update)
    return codec
