"""Compact binary fields for forgood's internal state: unsigned LEB128 varints, zigzag for
signed integers, and length-prefixed UTF-8 strings. Pure; used by
:mod:`forgood.domain.video_state` and the worker's ledgers, where every byte of a changelog is
read back on each restart."""

from __future__ import annotations


class VarintError(ValueError):
    """Bytes that end inside a field."""


def zigzag(n: int) -> int:
    """A signed integer as an unsigned one (0, -1, 1, -2 ... -> 0, 1, 2, 3 ...)."""
    return n * 2 if n >= 0 else -n * 2 - 1


def unzigzag(n: int) -> int:
    return n // 2 if n % 2 == 0 else -(n + 1) // 2


def put_varint(out: bytearray, n: int) -> None:
    """Append unsigned ``n`` (7 bits a byte, low first)."""
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def get_varint(raw: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``raw[pos]`` and the position after it; :class:`VarintError` if truncated."""
    n = shift = 0
    while True:
        if pos >= len(raw):
            raise VarintError("truncated varint")
        byte = raw[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            return n, pos
        shift += 7


def put_str(out: bytearray, text: str) -> None:
    """Append ``text`` as a varint byte length and its UTF-8 bytes."""
    data = text.encode()
    put_varint(out, len(data))
    out += data


def get_str(raw: bytes, pos: int) -> tuple[str, int]:
    """The string at ``raw[pos]`` and the position after it; :class:`VarintError` if truncated."""
    size, pos = get_varint(raw, pos)
    end = pos + size
    if end > len(raw):
        raise VarintError("truncated string")
    return raw[pos:end].decode(), end
