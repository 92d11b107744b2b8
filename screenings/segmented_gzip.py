"""One gzip member (RFC 1952) made of pieces deflated apart, so that a feed's unchanged runs
of events are compressed once and only joined afterwards.

Each piece is raw deflate (RFC 1951) from a compressor of its own, ended with Z_SYNC_FLUSH: it
ends on a byte boundary with a block that is not the last, and refers to nothing outside
itself, so pieces join into one valid stream in any order. The member is zlib's gzip header,
the pieces, an empty final block and the trailer: the CRC-32 of the whole plain text, combined
from the pieces' (crc32_combine, which Python's zlib lacks), and its length. A single member,
not concatenated ones: every HTTP client reads it (some stop after a first member).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from functools import cache
from typing import NamedTuple

# CRC-32's polynomial, reflected (zlib's crc32.c).
_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """a times b modulo the CRC polynomial, both reflected (zlib's multmodp)."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                break
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


def _powers() -> tuple[int, ...]:
    """x^(2^k) modulo the polynomial for k = 0…31 (zlib's x2n_table)."""
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1]))
    return tuple(table)


_X2N = _powers()


def shift_of(length: int) -> int:
    """x^(8·length) modulo the polynomial: what crc32_combine multiplies the first CRC by to
    move it past `length` bytes (zlib's x2nmodp(length, 3))."""
    p = 1 << 31  # x^0
    k = 3
    while length:
        if length & 1:
            p = _multmodp(_X2N[k & 31], p)
        length >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """zlib.crc32(a + b) from zlib.crc32(a), zlib.crc32(b) and len(b)."""
    return _multmodp(shift_of(length2), crc1) ^ crc2


class Deflated(NamedTuple):
    """Plain bytes deflated on their own: the raw deflate (byte-aligned, not final), the
    plain bytes' CRC-32 and length, and shift_of(length) (made once, so joining costs one
    multiplication per piece)."""

    data: bytes
    crc: int
    size: int
    shift: int


def deflate(plain: bytes, level: int) -> Deflated:
    """`plain` deflated at `level` by a compressor of its own (no back-reference outside
    it), ended on a byte boundary."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    data = compressor.compress(plain) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return Deflated(data, zlib.crc32(plain), len(plain), shift_of(len(plain)))


def joined(pieces: Iterable[Deflated]) -> Deflated:
    """The pieces as one: their deflate streams one after the other, the CRC combined."""
    crc = size = 0
    parts = []
    for piece in pieces:
        crc = _multmodp(piece.shift, crc) ^ piece.crc
        size += piece.size
        parts.append(piece.data)
    return Deflated(b"".join(parts), crc, size, shift_of(size))


@cache
def _header(level: int) -> bytes:
    """The ten bytes zlib's own gzip writer starts a member with at `level` (no name, no
    time; its XFL and OS bytes)."""
    return zlib.compressobj(level, zlib.DEFLATED, 31).flush()[:10]


_LAST_BLOCK = zlib.compressobj(wbits=-15).flush()  # an empty final block


def gzip_member(pieces: Iterable[Deflated], level: int) -> bytes:
    """One gzip member of the pieces, in order: what `gzip.decompress`, zlib with wbits 31
    and `gzip -t` read as their plain bytes joined."""
    whole = joined(pieces)
    trailer = struct.pack("<II", whole.crc, whole.size & 0xFFFFFFFF)
    return _header(level) + whole.data + _LAST_BLOCK + trailer
