"""One gzip member of pieces deflated apart (screenings/segmented_gzip.py): what every reader
reads as the pieces' plain bytes joined."""

from __future__ import annotations

import gzip
import random
import shutil
import subprocess
import zlib

import pytest

from screenings import segmented_gzip


def test_crc32_combine_is_the_crc_of_the_concatenation():
    """Against zlib.crc32 of the two joined, on random data of random lengths (empty ones,
    and lengths around powers of two, included)."""
    rng = random.Random(15)  # noqa: S311 (a seeded generator: the same data each run)
    lengths = [0, 1, 2, 3, 255, 256, 4095, 4096, 65536, 65537]
    for _ in range(300):
        first = rng.randbytes(rng.choice([*lengths, rng.randrange(1 << 17)]))
        second = rng.randbytes(rng.choice([*lengths, rng.randrange(1 << 17)]))
        combined = segmented_gzip.crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second))
        assert combined == zlib.crc32(first + second), (len(first), len(second))


def _pieces(rng: random.Random) -> list[bytes]:
    """Text-like pieces that repeat one another (as a feed's events do), one empty."""
    words = [rng.randbytes(rng.randrange(3, 12)).hex().encode() for _ in range(200)]
    return [b" ".join(rng.choice(words) for _ in range(rng.randrange(0, 3000))) for _ in range(40)]


def test_a_member_of_pieces_reads_as_their_plain_bytes_everywhere(tmp_path):
    """gzip.decompress, zlib with wbits 31 fed a piece at a time (feeds.feed_chunks), and
    `gzip -t` read the member; it is one member (what any HTTP client reads)."""
    rng = random.Random(4)  # noqa: S311 (a seeded generator: the same data each run)
    plain_pieces = _pieces(rng)
    plain = b"".join(plain_pieces)
    member = segmented_gzip.gzip_member(
        [segmented_gzip.deflate(piece, 4) for piece in plain_pieces], 4
    )
    assert gzip.decompress(member) == plain
    reader = zlib.decompressobj(wbits=31)
    read = b"".join(reader.decompress(member[i : i + 1000]) for i in range(0, len(member), 1000))
    assert read + reader.flush() == plain
    assert reader.eof
    assert reader.unused_data == b""  # one member, nothing after it
    assert member[:10] == zlib.compress(plain, 4, wbits=31)[:10]  # zlib's gzip header
    if shutil.which("gzip") is None:
        pytest.skip("no gzip command")
    path = tmp_path / "feed.ics.gz"
    path.write_bytes(member)
    subprocess.run(["gzip", "-t", str(path)], check=True)
    joined = segmented_gzip.joined(segmented_gzip.deflate(piece, 4) for piece in plain_pieces)
    assert (joined.crc, joined.size) == (zlib.crc32(plain), len(plain))


def test_a_wrong_crc_is_caught(tmp_path):
    """The trailer is checked by the readers: the test above can fail."""
    member = bytearray(segmented_gzip.gzip_member([segmented_gzip.deflate(b"x" * 100, 4)], 4))
    member[-8] ^= 1
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(bytes(member))
