"""Huffman coding of index streams and bitmaps (thesis §3.4), on bitarray's
canonical Huffman utilities, with exact decoding.

The coded size includes the code table a decoder needs: the canonical code is
given by the number of codes of each length (one byte per length) and the
symbols in canonical order (``symbol_bits`` each).  Bitmaps are coded as a
stream of bytes (8 positions per symbol).
"""

import numpy as np
from bitarray import bitarray
from bitarray.util import canonical_decode, canonical_huffman

__all__ = ["HuffmanCode", "encode", "decode", "coded_bits", "encode_bitmap", "decode_bitmap"]


class HuffmanCode:
    """A canonical Huffman code: ``count`` per code length and ``symbols`` in order."""

    def __init__(self, count, symbols, symbol_bits):
        self.count = list(count)
        self.symbols = list(symbols)
        self.symbol_bits = int(symbol_bits)

    @property
    def table_bits(self):
        return 8 * len(self.count) + self.symbol_bits * len(self.symbols)


def encode(symbols, symbol_bits=None):
    """``(bits, code)``: the coded stream (a bitarray) and its :class:`HuffmanCode`."""
    symbols = [int(s) for s in np.asarray(symbols).reshape(-1)]
    if symbol_bits is None:
        symbol_bits = max(1, max(symbols, default=0).bit_length())
    if not symbols:
        return bitarray(), HuffmanCode([0], [], symbol_bits)
    freq = {}
    for s in symbols:
        freq[s] = freq.get(s, 0) + 1
    if len(freq) == 1:
        # One symbol: a 1-bit code (bitarray needs two symbols to build a tree).
        (only,) = freq
        return bitarray("0" * len(symbols)), HuffmanCode([0, 1], [only], symbol_bits)
    codedict, count, order = canonical_huffman(freq)
    out = bitarray()
    out.encode(codedict, symbols)
    return out, HuffmanCode(count, order, symbol_bits)


def decode(bits, code):
    """The symbols of a coded stream."""
    if not code.symbols:
        return np.zeros(0, dtype=np.int64)
    if len(code.symbols) == 1:
        return np.full(len(bits), code.symbols[0], dtype=np.int64)
    return np.array(list(canonical_decode(bits, code.count, code.symbols)), dtype=np.int64)


def coded_bits(symbols, symbol_bits=None):
    """Size in bits of the Huffman-coded stream plus its code table."""
    bits, code = encode(symbols, symbol_bits)
    return len(bits) + code.table_bits


def encode_bitmap(bitmap):
    """Huffman-code a bitmap as bytes; returns ``(bits, code, length)``."""
    bitmap = np.asarray(bitmap, dtype=bool).reshape(-1)
    bits, code = encode(np.packbits(bitmap), symbol_bits=8)
    return bits, code, bitmap.size


def decode_bitmap(bits, code, length):
    data = decode(bits, code).astype(np.uint8)
    return np.unpackbits(data)[:length].astype(bool)
