"""Hostile text: what a typed string hides once a mail reader decodes it, and how to defuse it.

A name like ``=?utf-8?q?Eve=0D=0AReply-To:_x@evil.example?=`` contains no line break, but
it is an RFC 2047 encoded-word: a parser decodes it to ``Eve`` CR LF ``Reply-To: …``, and
Python before 3.11.10 / 3.12.5 / 3.13.0 writes that CR LF out raw (CVE-2024-6923), starting a
header of the attacker's choosing. So every check here looks at the text *and* at what its
encoded-words decode to, and text bound for a header never carries an encoded-word at all.
"""

from __future__ import annotations

import re
import sys
from email.errors import HeaderParseError
from email.header import decode_header

# C0 controls (NUL, TAB, CR, LF included), DEL, C1 controls, U+2028/U+2029 (line and
# paragraph separators) and lone surrogates.
UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# What a multi-line text area may keep: tab, CR and LF.
_TEXT_AREA_ALLOWED = "\t\r\n"
_LINE_BREAK = re.compile(r"[\r\n\u2028\u2029]")
_ENCODED_WORD = "=?"
# An encoded-word may decode to another one; a receiver decodes once, we look deeper.
_ROUNDS = 3


def _decode_once(value: str) -> str:
    """The text a mail parser shows for value: its RFC 2047 encoded-words decoded."""
    try:
        parts = decode_header(value)
    except (HeaderParseError, ValueError, LookupError):
        return value
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        try:
            # Plain runs come back as raw-unicode-escape bytes: latin-1 reverses that.
            out.append(chunk.decode(charset or "latin-1", errors="replace"))
        except LookupError:  # an unknown charset: the bytes are still what a reader sees
            out.append(chunk.decode("latin-1"))
    return "".join(out)


def decoded_layers(value: str) -> list[str]:
    """value, then what decoding its encoded-words gives, again, until nothing changes."""
    layers = [value]
    while _ENCODED_WORD in layers[-1] and len(layers) <= _ROUNDS:
        decoded = _decode_once(layers[-1])
        if decoded == layers[-1]:
            break
        layers.append(decoded)
    return layers


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why value may not be stored: "control", "line break" or None, decoded layers included."""
    for layer in decoded_layers(value):
        found = set(UNSAFE.findall(layer))
        if multiline:
            found -= set(_TEXT_AREA_ALLOWED)
            found -= {"\u2028", "\u2029"}
        if not found:
            continue
        if all(_LINE_BREAK.match(char) for char in found):
            return "line break"
        return "control"
    return None


def header_text(value: str) -> str:
    """value made safe for a display name or Subject: one line, no controls, no encoded-word.

    Controls become spaces, runs of whitespace one space, and ``=?`` becomes ``= ?`` so no
    receiving parser can decode an encoded-word out of user text.
    """
    value = UNSAFE.sub(" ", value)
    value = " ".join(value.split())
    return value.replace(_ENCODED_WORD, "= ?")


# The first release of each line with the fix for CVE-2024-6923 (python/cpython#121650).
FIXED_PYTHON = {(3, 11): (3, 11, 10), (3, 12): (3, 12, 5)}
FIXED_FROM = (3, 13, 0)


def interpreter_is_vulnerable(version: tuple | None = None) -> bool:
    """Whether this Python writes decoded CR/LF out raw in e-mail headers (CVE-2024-6923)."""
    version = tuple(version if version is not None else sys.version_info)[:3]
    if version >= FIXED_FROM:
        return False
    fixed = FIXED_PYTHON.get(version[:2])
    return fixed is None or version < fixed
