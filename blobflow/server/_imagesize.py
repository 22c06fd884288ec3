"""An image's width and height from its first bytes (PNG, JPEG, GIF, BMP, WEBP, TIFF).

The platform fills ``width``/``height`` of every image it registers; the reference server reads
them from the header alone, never decoding: a registration of 10,000 blob images reads
:data:`HEAD_BYTES` of each (a JPEG whose frame header lies further, after a large EXIF block,
gets the rest of its bytes read once more).
"""

from __future__ import annotations

import struct

__all__ = ["HEAD_BYTES", "image_size"]

#: How much of an image is read for its header first.
HEAD_BYTES = 1024

_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers (not DHT/JPG/DAC)
_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4)}  # SHORT, LONG


def _png(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _gif(data: bytes) -> tuple[int, int] | None:
    return struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    if struct.unpack("<I", data[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height: stored top-down


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        b0, b1, b2, b3 = data[21:25]
        return 1 + (((b1 & 0x3F) << 8) | b0), 1 + (((b3 & 0x0F) << 10) | (b2 << 2) | (b1 >> 6))
    if chunk == b"VP8X" and len(data) >= 30:
        return (1 + int.from_bytes(data[24:27], "little"),
                1 + int.from_bytes(data[27:30], "little"))
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _SOF:
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if marker == 0xDA or length < 2:  # image data before any frame header
            return None
        pos += 2 + length
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return None
    ifd = struct.unpack(order + "I", data[4:8])[0]
    if ifd + 2 > len(data):
        return None
    count = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
    found: dict[int, int] = {}
    for n in range(count):
        at = ifd + 2 + 12 * n
        if at + 12 > len(data):
            return None
        tag, kind = struct.unpack(order + "HH", data[at : at + 4])
        if tag in (256, 257) and kind in _TIFF_TYPES:
            fmt, size = _TIFF_TYPES[kind]
            found[tag] = struct.unpack(order + fmt, data[at + 8 : at + 8 + size])[0]
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from an image's first bytes, or None when they do not say (not an
    image of a known format, or the header lies beyond ``data``)."""
    head = data[:4]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        size = _png(data)
    elif head[:3] == b"\xff\xd8\xff":
        size = _jpeg(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        size = _gif(data)
    elif head[:2] == b"BM":
        size = _bmp(data)
    elif head == b"RIFF" and data[8:12] == b"WEBP":
        size = _webp(data)
    elif head in (b"II*\x00", b"MM\x00*"):
        size = _tiff(data)
    else:
        return None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size
