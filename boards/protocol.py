"""The host link's framed protocol: one definition for the board (``boards.link``),
the host (``boards.host``) and the tests.

A frame, in both directions::

    SYNC (0x5A) | LEN (u16, LE) | TYPE (u8) | PAYLOAD (LEN bytes) | CRC (u16, LE)

``CRC`` is :data:`CRC` (CRC-16/KERMIT: polynomial 0x1021, reflected, from
``amaranth.lib.crc``'s catalog) over LEN, TYPE and PAYLOAD; the board computes the
same CRC with ``amaranth.lib.crc.Processor(CRC)``.  Words travel little-endian,
``mem_width / 8`` bytes each.

Host → board                                   Board → host
=============================================  =========================================
``PING``  (empty)                              ``INFO``: the configuration, see :func:`decode_info`
``WRITE`` addr (u32), words                    ``ACK`` (empty), once every word is written
``READ``  addr (u32), count (u16)              ``DATA``: ``count`` words
``RUN``   prog_addr (u32), prog_len (u16)      ``DONE``: the 7 counters of ``hdl.top`` (u32 each)
anything wrong                                 ``ERROR``: code (u8, :class:`Error`)

The board takes one command at a time: it ignores bytes that arrive while it
executes one, so the host waits for each reply.  A frame that stops arriving for
``timeout`` cycles mid-way gets ``ERROR TIMEOUT``.  A frame with a bad CRC or a
LEN above ``MAX_PAYLOAD`` may not have ended where the board thinks (LEN itself
may be corrupt): the board discards bytes until the line has been quiet for
``timeout`` cycles and only then answers ``ERROR``, so the rest of a bad frame
never parses as a new one and the host may resend as soon as it reads the
ERROR.  Errors found in a whole, intact frame (TYPE, ADDRESS, LENGTH for the
type) are answered at once.  A WRITE is committed to memory only after its CRC
checked.
"""

import enum
import struct

from amaranth.lib.crc import catalog

from golden.contract.fixed import ACTIVATIONS
from hdl.top import COUNTERS  # the counters a DONE frame carries, in this order

__all__ = ["SYNC", "CRC", "MAX_PAYLOAD", "Type", "Error", "ProtocolError", "crc16", "frame",
           "FrameReader", "encode_info", "decode_info", "INFO_FIELDS", "COUNTERS"]

SYNC = 0x5A
CRC = catalog.CRC16_KERMIT(data_width=8)
#: Largest payload the board accepts (its frame buffer), and so the largest READ.
MAX_PAYLOAD = 512
MAGIC = b"SG"
VERSION = 2     # 2: INFO carries window_k, lut_tables, compact and the activations


#: INFO payload after MAGIC and VERSION: name, struct format.
INFO_FIELDS = (("tn", "B"), ("tm", "B"), ("mem_width", "H"), ("widths", "B"),
               ("mem_words", "I"), ("max_payload", "H"), ("nbin_bytes", "I"),
               ("nbout_bytes", "I"), ("nibin_bytes", "I"), ("sib_bytes", "I"),
               ("sb_bytes", "I"), ("bias_bytes", "I"), ("ib_bytes", "I"),
               ("max_fanin", "I"), ("window_k", "B"), ("lut_tables", "B"), ("compact", "B"),
               ("activations", "B"))
_WIDTH_BITS = ((1, 4), (2, 8), (4, 16))
_INFO = "<2sB" + "".join(f for _, f in INFO_FIELDS)


class Type(enum.IntEnum):
    PING = 0x01
    WRITE = 0x02
    READ = 0x03
    RUN = 0x04
    INFO = 0x81
    ACK = 0x82
    DATA = 0x83
    DONE = 0x84
    ERROR = 0xEE


class Error(enum.IntEnum):
    CRC = 1       # the CRC did not match
    TYPE = 2      # unknown frame type
    LENGTH = 3    # LEN too large, or wrong for the type
    TIMEOUT = 4   # the frame stopped arriving
    ADDRESS = 5   # a WRITE or READ beyond the board's memory


class ProtocolError(Exception):
    """A reply that is not what the protocol allows, or an ERROR frame (``code``)."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


def crc16(data):
    return CRC.compute(bytes(data))


def frame(ftype, payload=b""):
    """The bytes of one frame."""
    payload = bytes(payload)
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes; a frame holds at most 65535")
    body = struct.pack("<HB", len(payload), int(ftype)) + payload
    return bytes([SYNC]) + body + struct.pack("<H", crc16(body))


class FrameReader:
    """Splits a byte stream into ``(type, payload)`` frames (the host side's parser).

    ``feed(data)`` returns the frames that ``data`` completes, in order.  Bytes
    before a SYNC are skipped.  A frame that cannot be right is discarded and
    described in :attr:`rejected` (its reason), and the reader resynchronizes on
    the next SYNC byte after the bad frame's own: a bad CRC, or a LEN above
    ``max_payload``, costs only that frame, and a LEN corrupted upwards does not
    swallow the good frames behind it (once one of them is complete, the
    unfinished frame before it is taken as corrupt).  A good frame is never
    dropped because a bad one follows it in the same read."""

    def __init__(self, max_payload=1 << 16):
        self.max_payload = max_payload
        self.rejected = []
        self._buf = bytearray()

    def _parse(self, at):
        """The frame at ``at`` (a SYNC): ``("ok", end, frame)``, ``("bad", reason)``
        or ``("short",)`` (not all of it is here yet)."""
        buf = self._buf
        if len(buf) - at < 4:
            return ("short",)
        length, ftype = struct.unpack_from("<HB", buf, at + 1)
        if length > self.max_payload:
            return ("bad", f"a frame announcing {length} payload bytes "
                           f"(at most {self.max_payload})")
        end = at + 6 + length
        if len(buf) < end:
            return ("short",)
        body = bytes(buf[at + 1:at + 4 + length])
        (crc,) = struct.unpack_from("<H", buf, at + 4 + length)
        if crc != crc16(body):
            return ("bad", f"a frame with a bad CRC (type 0x{ftype:02x}, {length} bytes)")
        return ("ok", end, (ftype, body[3:]))

    def _later_frame(self, at):
        """The start of the first complete, intact frame after ``at``, or None."""
        k = self._buf.find(SYNC, at + 1)
        while k >= 0:
            if self._parse(k)[0] == "ok":
                return k
            k = self._buf.find(SYNC, k + 1)
        return None

    def feed(self, data):
        self._buf += data
        out = []
        while True:
            start = self._buf.find(SYNC)
            if start < 0:
                self._buf.clear()
                return out
            del self._buf[:start]
            result = self._parse(0)
            if result[0] == "ok":
                _, end, item = result
                del self._buf[:end]
                out.append(item)
            elif result[0] == "bad":
                self.rejected.append(result[1])
                del self._buf[:1]            # resynchronize on the next SYNC
            else:
                later = self._later_frame(0)
                if later is None:
                    return out
                self.rejected.append("an unfinished frame (its LEN corrupt?) before an "
                                     "intact one")
                del self._buf[:later]


def encode_info(cfg, mem_words, max_payload=MAX_PAYLOAD):
    """The INFO payload for an :class:`golden.contract.config.AccelConfig`."""
    widths = sum(bit for bit, w in _WIDTH_BITS if w in cfg.widths)
    acts = sum(1 << k for k, a in enumerate(ACTIVATIONS) if a in cfg.activations)
    values = {**cfg.as_dict(), "widths": widths, "mem_words": mem_words,
              "max_payload": max_payload, "compact": int(cfg.compact), "activations": acts}
    return struct.pack(_INFO, MAGIC, VERSION, *(values[n] for n, _ in INFO_FIELDS))


def decode_info(payload):
    """``(AccelConfig, mem_words, max_payload)`` from an INFO payload."""
    from golden.contract.config import AccelConfig
    if len(payload) != struct.calcsize(_INFO):
        raise ProtocolError(f"INFO of {len(payload)} bytes, expected {struct.calcsize(_INFO)}")
    magic, version, *values = struct.unpack(_INFO, payload)
    if magic != MAGIC or version != VERSION:
        raise ProtocolError(f"not a sparsegen board (magic {magic!r}, version {version}); "
                            f"this host speaks version {VERSION}")
    info = dict(zip((n for n, _ in INFO_FIELDS), values))
    mask = info.pop("widths")
    widths = tuple(w for bit, w in _WIDTH_BITS if mask & bit)
    mem_words = info.pop("mem_words")
    max_payload = info.pop("max_payload")
    info["compact"] = bool(info["compact"])
    mask = info["activations"]
    info["activations"] = tuple(a for k, a in enumerate(ACTIVATIONS) if mask >> k & 1)
    return AccelConfig(widths=widths, **info), mem_words, max_payload
