"""The accelerator configuration: one validated object shared by the hardware
(:class:`hdl.top.Accelerator`), the compiler (:mod:`golden.compiler`) and the tests.

Buffer sizes are in bytes, as in the thesis (NBin 8 KB, NBout 8 KB, NIBin 1 KB,
SIB 1 KB, SB 32 KB per PE at Tn = Tm = 16); every buffer is split into two
ping-pong halves.  Rows:

* NBin: one NSM window per row, ``window = window_k * tm`` int16 lanes (the window's
  nonzeros from lane 0; the thesis' window is ``16 * tm``, small parts take 4 or 8);
* NIBin, SIB: one window's bitmap per row (``window`` bits; in memory a bitmap
  narrower than a word takes a whole word, zero-padded); NBin and NIBin are used
  row for row, so both hold ``window_rows`` (the smaller of the two sizes);
* SB (per PE): one ``64 * tm``-bit word per row;
* bias: ``tn`` int32 per row (one output group);
* NBout: ``tn`` int16 per row (one output group);
* IB: one 128-bit instruction per row.

The memory port moves ``mem_width``-bit words.
"""

from dataclasses import asdict, dataclass

from golden.contract.fixed import ACTIVATIONS
from golden.contract.isa import WORD_BITS
from golden.contract.packing import check_widths
from golden.contract.params import check_choice, check_pow2, check_subset

__all__ = ["AccelConfig", "THESIS", "SMALL", "DEFAULT_TN", "DEFAULT_TM", "WINDOW_KS",
           "LUT_TABLES",
           "small_config", "add_config_arguments", "config_from_args", "PROFILES",
           "profile_config"]

#: The NSM window is ``window_k * tm`` positions, ``window_k`` one of these (the thesis: 16).
WINDOW_KS = (4, 8, 16)
#: Lookup tables per PE (``lut_tables``): two double-buffer them (a chunk's load
#: while the chunk before decodes); one halves the WDM's memories (small parts).
LUT_TABLES = (1, 2)


@dataclass(frozen=True)
class AccelConfig:
    tn: int = 16
    tm: int = 16
    nbin_bytes: int = 8 * 1024
    nbout_bytes: int = 8 * 1024
    nibin_bytes: int = 1024
    sib_bytes: int = 1024
    sb_bytes: int = 32 * 1024
    bias_bytes: int = 1024
    ib_bytes: int = 32 * 1024
    mem_width: int = 64
    widths: tuple = (4, 8, 16)
    max_fanin: int = 1 << 16
    window_k: int = 16
    lut_tables: int = 2
    # True: the small-part datapath, without the register slices that serve only
    # the timing of large parts: the same machine cycle for cycle but for the
    # PEFU's operand register (a COMPUTE's fill and drain a cycle shorter, which
    # the performance model follows: golden.perf.perfmodel.Timing)
    compact: bool = False
    # The activations the PEFUs compute (golden.contract.fixed.ACTIVATIONS); a
    # small part leaves out the piecewise-linear sigmoid and tanh (their
    # tables and interpolation), and the compiler refuses a layer that needs one.
    activations: tuple = ACTIVATIONS

    def __post_init__(self):
        check_pow2("tn", self.tn, 1, 64)
        check_pow2("tm", self.tm, 2, 64)
        check_choice("window_k", self.window_k, WINDOW_KS)
        check_choice("lut_tables", self.lut_tables, LUT_TABLES)
        if not isinstance(self.compact, bool):
            raise ValueError(f"compact must be True or False, not {self.compact!r}")
        # (a tuple in ACTIVATIONS' order, whatever collection was given)
        object.__setattr__(self, "activations",
                           check_subset("activations", self.activations, ACTIVATIONS))
        if self.tn > self.window:
            raise ValueError(f"tn must be at most the window {self.window_k} * tm = {self.window} "
                             f"(an Encoder window of that many outputs holds whole groups), "
                             f"not {self.tn}")
        check_pow2("mem_width", self.mem_width, 32, max(32, self.window))
        if self.mem_width > 32 * self.tn:
            raise ValueError(f"mem_width must be at most 32 * tn = {32 * self.tn} (a bias row), "
                             f"not {self.mem_width}")
        check_widths(self.widths)
        for name, row in (("nbin_bytes", self.nbin_row_bytes), ("nbout_bytes", 2 * self.tn),
                          ("nibin_bytes", self.bitmap_row_bytes),
                          ("sib_bytes", self.bitmap_row_bytes), ("sb_bytes", 8 * self.tm),
                          ("bias_bytes", 4 * self.tn), ("ib_bytes", WORD_BITS // 8)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2 * row \
                    or value % (2 * row):
                raise ValueError(f"{name} must be a positive multiple of two rows of {row} bytes "
                                 f"(tn={self.tn}, tm={self.tm}), not {value!r}")
        if self.max_fanin < self.tm:
            raise ValueError(f"max_fanin must be at least tm = {self.tm}, not {self.max_fanin}")

    # --- derived figures ---------------------------------------------------------
    @property
    def window(self):
        """NSM window (positions per NBin/NIBin/SIB row): ``window_k * tm``."""
        return self.window_k * self.tm

    @property
    def speedup_bound(self):
        """The most the NSM can gain from weight sparsity: ``window / tm`` (a window of
        ``window`` positions takes at least one cycle, at most ``window / tm``)."""
        return self.window // self.tm

    @property
    def nbin_row_bytes(self):
        return 2 * self.window

    @property
    def bitmap_row_bytes(self):
        return self.window // 8

    @property
    def nbin_rows(self):
        return self.nbin_bytes // self.nbin_row_bytes

    @property
    def nibin_rows(self):
        return self.nibin_bytes // self.bitmap_row_bytes

    @property
    def window_rows(self):
        """Windows an NBin/NIBin pair holds (both halves): the smaller of the two."""
        return min(self.nbin_rows, self.nibin_rows)

    @property
    def sib_rows(self):
        return self.sib_bytes // self.bitmap_row_bytes

    @property
    def sb_words(self):
        return self.sb_bytes // (8 * self.tm)

    @property
    def bias_rows(self):
        return self.bias_bytes // (4 * self.tn)

    @property
    def nbout_rows(self):
        return self.nbout_bytes // (2 * self.tn)

    @property
    def ib_depth(self):
        return self.ib_bytes // (WORD_BITS // 8)

    def half(self, rows):
        return rows // 2

    @property
    def groups_per_window(self):
        """NBout rows (groups of tn outputs) per output window of ``window`` positions."""
        return self.window // self.tn

    @property
    def words(self):
        """Memory words per row of each buffer kind (a bitmap row narrower than a
        word: one)."""
        w = self.mem_width
        return {"bitmap": -(-self.window // w), "nbin": 16 * self.window // w,
                "sb": 64 * self.tm // w, "bias": 32 * self.tn // w,
                "instruction": WORD_BITS // w, "values_per_word": w // 16}

    def as_dict(self):
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["activations"] = list(self.activations)
        return d


#: The thesis configuration.
THESIS = AccelConfig()

#: A small configuration for tests and small FPGAs (Tn = Tm = 4).
SMALL = AccelConfig(tn=4, tm=4, nbin_bytes=2048, nbout_bytes=512, nibin_bytes=128,
                    sib_bytes=512, sb_bytes=2048, bias_bytes=256, ib_bytes=4096, mem_width=64)


def small_config(tn=4, tm=4, **overrides):
    """A configuration with buffers sized for tests and small FPGAs at any Tn/Tm
    (each keyword given and not None overrides its field; the buffers follow
    ``window_k``: 16 windows in NBin/NIBin (as many more as make 512 inputs at a
    window under 32 positions), 64 in the SIB, four in NBout)."""
    k = overrides.get("window_k") or 16
    window = k * tm
    rows = 16 * max(1, 32 // window)
    base = dict(tn=tn, tm=tm, window_k=k, nbin_bytes=rows * 2 * window,
                nibin_bytes=rows * window // 8, sib_bytes=64 * window // 8,
                sb_bytes=64 * 8 * tm, bias_bytes=16 * 4 * tn,
                nbout_bytes=max(64 * 2 * tn, 4 * window * 2), ib_bytes=16 * 1024,
                mem_width=min(64, max(32, window), 32 * tn))
    base.update({k: v for k, v in overrides.items() if v is not None})
    return AccelConfig(**base)


#: Named configurations: :func:`small_config` arguments (``thesis``: the thesis'
#: own buffers, :data:`THESIS`).
PROFILES = {
    "thesis": None,
    "small": dict(tn=4, tm=4),
    # (the thesis' NBin: a pass of the demo's 20 images side by side; NIBin holds
    # a bitmap per NBin row, 1/16 of its bytes)
    "demo": dict(tn=4, tm=4, ib_bytes=32 * 1024, nbout_bytes=8 * 1024, nbin_bytes=8 * 1024,
                 nibin_bytes=8 * 1024 // 16),
    # (iCE40UP5K: four multipliers on an 8-position NSM window, the compact datapath)
    "icebreaker": dict(tn=2, tm=2, window_k=4, ib_bytes=512, widths=(16,), compact=True,
                       activations=("identity", "relu")),
    "ulx3s": dict(tn=2, tm=2, ib_bytes=1024),
}


def profile_config(name):
    """The configuration of the profile ``name`` (one of :data:`PROFILES`)."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {name!r}")
    spec = PROFILES[name]
    return THESIS if spec is None else small_config(**spec)


_CONFIG_OPTIONS = ("window_k", "lut_tables", "compact", "activations", "nbin_bytes",
                   "nbout_bytes", "nibin_bytes", "sib_bytes", "sb_bytes", "bias_bytes", "ib_bytes",
                   "mem_width")

#: Tn and Tm of every command that takes them, unless the user gives others.
DEFAULT_TN = DEFAULT_TM = 4


def _activations_option(text):
    from argparse import ArgumentTypeError
    try:
        return check_subset("--activations", [a for a in text.split(",") if a], ACTIVATIONS)
    except ValueError as e:
        raise ArgumentTypeError(f"a comma-separated list of {', '.join(ACTIVATIONS)}, "
                                f"not {text!r}") from e


def add_config_arguments(p, tn=DEFAULT_TN, tm=DEFAULT_TM, profile=True):
    """The options of a configuration: ``--profile`` (unless ``profile`` is False:
    the command has its own), ``--tn``, ``--tm``, the window, the tables,
    ``--compact``, ``--activations`` and each buffer size."""
    if profile:
        p.add_argument("--profile", choices=list(PROFILES),
                       help="a named configuration (golden.contract.config.PROFILES: the "
                            "thesis', a small one, the demo's, each board's, e.g. icebreaker "
                            "for the iCE40UP5K); no other configuration option beside it")
    p.set_defaults(config_defaults={"tn": tn, "tm": tm})
    p.add_argument("--tn", type=int, default=tn, help=f"PEs, a power of two (default {tn})")
    p.add_argument("--tm", type=int, default=tm,
                   help=f"multipliers per PE, a power of two (default {tm})")
    p.add_argument("--window-k", type=int, choices=WINDOW_KS,
                   help="NSM window in multiples of Tm (default 16, the thesis'; 4 or 8 "
                        "for small parts: a smaller NSM, NBin and Encoder, a speed-up "
                        "bound of window / Tm)")
    p.add_argument("--lut-tables", type=int, choices=LUT_TABLES,
                   help="lookup tables per PE (default 2: a chunk's tables load while the "
                        "chunk before computes; 1: half the WDM memory, the loads wait)")
    p.add_argument("--compact", action="store_true", default=None,
                   help="the small-part datapath: no registers that serve only the timing "
                        "of large parts (a COMPUTE's fill a cycle shorter, each instruction "
                        "at its unit a cycle sooner; the iCE40 profile's)")
    p.add_argument("--activations", type=_activations_option, metavar="LIST",
                   help=f"the activations the PEFUs compute, comma-separated (default all: "
                        f"{','.join(ACTIVATIONS)}; small parts: identity,relu)")
    for name, help_ in (("nbin-bytes", "NBin size"), ("nbout-bytes", "NBout size"),
                        ("nibin-bytes", "NIBin size"), ("sib-bytes", "SIB size"),
                        ("sb-bytes", "SB size per PE"), ("bias-bytes", "bias buffer size"),
                        ("ib-bytes", "instruction buffer size"), ("mem-width", "memory word bits")):
        p.add_argument(f"--{name}", type=int, help=f"{help_} (default: the small test config "
                                                   f"scaled to Tn/Tm)")


def config_from_args(args):
    """The configuration of :func:`add_config_arguments`' options: the ``--profile``
    named, or :func:`small_config` at ``--tn``/``--tm`` with each buffer option given
    overriding it.  A profile beside another configuration option is a ValueError
    naming it."""
    name = getattr(args, "profile", None)
    if name:
        defaults = getattr(args, "config_defaults", {})
        given = [f"--{k}" for k in ("tn", "tm") if getattr(args, k, None) != defaults.get(k)]
        given += [f"--{k.replace('_', '-')}" for k in _CONFIG_OPTIONS
                  if getattr(args, k, None) is not None]
        if given:
            raise ValueError(f"--profile {name} names a whole configuration: drop "
                             f"{', '.join(given)}")
        return profile_config(name)
    return small_config(args.tn, args.tm, **{k: getattr(args, k, None) for k in _CONFIG_OPTIONS})
