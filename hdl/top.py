"""The accelerator (thesis §4.1–4.3, docs/architecture.md §3): buffers, control processor,
load/store units, compute unit and the sparse datapath, behind one memory port.

``Accelerator(config)`` with ``config`` a :class:`golden.contract.config.AccelConfig`.
Generated Verilog (``python -m hdl.generate top --tn TN --tm TM``), module ``top``:

================  =====  ===================================================================
port              dir    meaning
================  =====  ===================================================================
``start``         in     a one-cycle pulse: fetch ``prog_len`` instructions from word
                         ``prog_addr`` into the instruction buffer, then run them
``prog_addr``     in     word address of the program (held while ``start``)
``prog_len``      in     instructions in the program
``done``          out    the program reached ``END`` (stays high until the next start)
``busy``          out    fetching or running
``mem_rreq``      out    stream: read request, payload ``addr`` (32-bit word address)
``mem_rdata``     in     stream: read data, payload ``data`` (``mem_width`` bits), one per
                         request, in request order
``mem_wreq``      out    stream: write request, payload ``addr`` and ``data``
``cycles``        out    cycles from start to done
``compute_cycles`` out   cycles the compute unit was busy
``stall_cycles``  out    compute-busy cycles in which no SSM step entered the PEs
``steps``         out    SSM steps handed to the PEs
``dual_issues``   out    cycles in which the controller issued two instructions
``mem_reads``, ``mem_writes`` out  words moved by the load/fetch and the store unit
``unit_busy``     out    the load (bit 0), store (bit 1) and compute (bit 2) units are
                         busy with an instruction, from the cycle after its issue (a
                         trace for the performance model)
``unit_start``    out    the same bits: the controller issues an instruction to the unit
                         this cycle (the unit starts it the cycle after)
``compute_older`` out    an earlier COMPUTE still drains behind the current one
================  =====  ===================================================================

All three memory streams follow ``amaranth.lib.stream`` rules and tolerate any
back-pressure; the memory may take any number of cycles per request.
"""

from amaranth.hdl import Module, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.contract.config import AccelConfig, small_config
from hdl.control import bus
from hdl.control.compute import ComputeUnit
from hdl.control.controller import Controller
from hdl.control.dma import LoadUnit, StoreUnit
from hdl.datapath.slice import SparseSlice
from hdl.registry import TM, TN, WINDOW_K, register

__all__ = ["Accelerator"]

COUNTERS = ("cycles", "compute_cycles", "stall_cycles", "steps", "dual_issues",
            "mem_reads", "mem_writes")


class Accelerator(wiring.Component):
    """The whole accelerator for one :class:`golden.contract.config.AccelConfig`."""

    def __init__(self, config):
        if not isinstance(config, AccelConfig):
            raise TypeError(f"config must be a golden.contract.config.AccelConfig, not {config!r}")
        self.config = config
        mw = config.mem_width
        members = {
            "start": In(1), "prog_addr": In(32), "prog_len": In(16),
            "done": Out(1), "busy": Out(1), "unit_busy": Out(3), "unit_start": Out(3),
            "compute_older": Out(1),
            "mem_rreq": Out(stream.Signature(bus.read_request())),
            "mem_rdata": In(stream.Signature(bus.read_data(mw))),
            "mem_wreq": Out(bus.mem_write(mw)),
        }
        members.update({name: Out(32) for name in COUNTERS})
        super().__init__(members)

    @property
    def parameters(self):
        cfg = self.config
        return {**cfg.as_dict(), "window": cfg.window, "window_rows": cfg.window_rows,
                "sib_rows": cfg.sib_rows, "sb_words": cfg.sb_words, "bias_rows": cfg.bias_rows,
                "nbout_rows": cfg.nbout_rows, "ib_depth": cfg.ib_depth}

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        W, tn, tm = cfg.window, cfg.tn, cfg.tm

        nib = Memory(shape=unsigned(W), depth=cfg.window_rows, init=[])
        sib = Memory(shape=unsigned(W), depth=cfg.sib_rows, init=[])
        nbin = Memory(shape=unsigned(16 * W), depth=cfg.window_rows, init=[])
        bias = Memory(shape=unsigned(32 * tn), depth=cfg.bias_rows, init=[])
        nbout = Memory(shape=unsigned(16 * tn), depth=cfg.nbout_rows, init=[])
        for name, mem in (("nibin", nib), ("sib", sib), ("nbin", nbin), ("bias", bias),
                          ("nbout", nbout)):
            m.submodules[name] = mem

        m.submodules.datapath = sl = SparseSlice(tn=tn, tm=tm, sb_depth=cfg.sb_words,
                                                 window=W, widths=cfg.widths, index_width=16,
                                                 max_fanin=cfg.max_fanin,
                                                 lut_tables=cfg.lut_tables,
                                                 lut_lanes=cfg.words["values_per_word"],
                                                 compact=cfg.compact,
                                                 activations=cfg.activations)
        m.submodules.cp = cp = Controller(cfg)
        m.submodules.load = ld = LoadUnit(cfg)
        m.submodules.compute = cu = ComputeUnit(cfg)
        m.submodules.store = su = StoreUnit(cfg)

        # The buffers' ports.
        for unit_port, mem_port in (
                (ld.nib_w, nib.write_port()), (ld.sib_w, sib.write_port()),
                (ld.nbin_w, nbin.write_port()), (ld.bias_w, bias.write_port()),
                (cu.nib_r, nib.read_port()), (cu.sib_r, sib.read_port()),
                (cu.sibm_r, sib.read_port()), (cu.nbin_r, nbin.read_port()),
                (cu.bias_r, bias.read_port()), (cu.nbout_r, nbout.read_port()),
                (cu.nbout_w, nbout.write_port()), (su.nbout_r, nbout.read_port())):
            wiring.connect(m, unit_port, mem_port)
        # NBin row lengths, read as loaded (compact: a synchronous port, NIBin in
        # block RAM; see LoadUnit)
        if cfg.compact:
            wiring.connect(m, ld.nib_rows, nib.read_port(transparent_for=()))
        else:
            nib_rows = nib.read_port(domain="comb")
            m.d.comb += [nib_rows.addr.eq(ld.nib_rows.addr), ld.nib_rows.data.eq(nib_rows.data)]

        # Control: the controller issues to the units.
        m.d.comb += [cp.start.eq(self.start), cp.prog_addr.eq(self.prog_addr),
                     cp.prog_len.eq(self.prog_len), self.done.eq(cp.done),
                     self.busy.eq(cp.fetching | cp.running)]
        wiring.connect(m, cp.load, ld.issue)
        wiring.connect(m, cp.store, su.issue)
        wiring.connect(m, cp.compute, cu.issue)
        m.d.comb += [self.unit_busy.eq(cp.unit_busy), self.unit_start.eq(cp.fired),
                     self.compute_older.eq(cp.compute_older)]

        # The datapath: the compute unit feeds the slice; weights and tables come
        # from the load unit.
        for source, sink in ((cu.window, sl.i), (cu.neurons, sl.neurons), (cu.tile, sl.tile),
                             (cu.bias, sl.bias), (sl.o, cu.outputs),
                             (ld.sb_write, sl.sb_write), (ld.lut_write, sl.lut)):
            wiring.connect(m, source, sink)
        m.d.comb += cu.front_idle.eq(sl.front_idle)

        # Memory: reads by the controller while fetching, else by the load unit;
        # writes by the store unit.
        m.submodules.reads = reads = bus.ReadSwitch(cfg.mem_width)
        wiring.connect(m, cp.mem, reads.a)
        wiring.connect(m, ld.mem, reads.b)
        m.d.comb += reads.sel_a.eq(cp.fetching)
        wiring.connect(m, reads.o.req, wiring.flipped(self.mem_rreq))
        wiring.connect(m, wiring.flipped(self.mem_rdata), reads.o.resp)
        wiring.connect(m, su.mem_write, wiring.flipped(self.mem_wreq))

        # Counters.
        with m.If(self.start):
            m.d.sync += [getattr(self, c).eq(0) for c in COUNTERS if c != "dual_issues"]
        with m.Else():
            with m.If(cp.running & ~cp.done):
                m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(cu.issue.busy):
                m.d.sync += self.compute_cycles.eq(self.compute_cycles + 1)
                with m.If(~sl.step_taken):
                    m.d.sync += self.stall_cycles.eq(self.stall_cycles + 1)
            with m.If(sl.step_taken):
                m.d.sync += self.steps.eq(self.steps + 1)
            with m.If(self.mem_rdata.valid & self.mem_rdata.ready):
                m.d.sync += self.mem_reads.eq(self.mem_reads + 1)
            with m.If(self.mem_wreq.valid & self.mem_wreq.ready):
                m.d.sync += self.mem_writes.eq(self.mem_writes + 1)
        m.d.comb += self.dual_issues.eq(cp.dual_issues)
        return m


def _build(*, tn, tm, window_k=16):
    return Accelerator(small_config(tn, tm, window_k=window_k))


register("top", _build, help="the accelerator: buffers, controller, load/store/compute units, "
                             "datapath (small buffers; see golden.contract.config)",
         options=(TN, TM, WINDOW_K), in_all=False)
