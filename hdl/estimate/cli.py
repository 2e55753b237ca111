"""The command line of ``python -m hdl.estimate``: see :mod:`hdl.estimate`."""

import argparse
import sys
import time

from golden.cli import ArgumentParser, UsageError, atomic_json, output_file, run_main
from golden.contract.config import (
    PROFILES,
    WINDOW_KS,
    add_config_arguments,
    config_from_args,
    profile_config,
)
from hdl.estimate import ESTIMATE_FAMILIES, RESOURCES, estimate


def _widths(text):
    try:
        widths = tuple(sorted({int(w) for w in text.split(",") if w.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a comma-separated subset of 4,8,16, "
                                         f"not {text!r}") from None
    if not widths or not set(widths) <= {4, 8, 16}:
        raise argparse.ArgumentTypeError(f"must be a comma-separated subset of 4,8,16, "
                                         f"not {text!r}")
    return widths


def config_of(args, argv=()):
    """The configuration the options describe (``--profile`` or the options;
    ``argv``: the command line, to name the options given beside a profile)."""
    if args.profile:
        given = sorted({a.split("=")[0] for a in argv if a.startswith("--") and a.split("=")[0]
                        not in ("--profile", "--family", "--json")})
        if given:
            raise UsageError(f"--profile names a whole configuration: drop {', '.join(given)}")
        return profile_config(args.profile)
    if args.window is not None:
        if args.window % args.tm or args.window // args.tm not in WINDOW_KS:
            raise UsageError(f"--window must be k * tm with k in {WINDOW_KS} (tm = {args.tm}: "
                             f"{', '.join(str(k * args.tm) for k in WINDOW_KS)}), "
                             f"not {args.window}")
        if args.window_k is not None and args.window_k * args.tm != args.window:
            raise UsageError("give --window or --window-k, not two different windows")
        args.window_k = args.window // args.tm
    cfg = config_from_args(args)
    if args.widths is not None:
        from dataclasses import replace
        cfg = replace(cfg, widths=args.widths)
    return cfg


def markdown(result, cfg, seconds):
    fam = result["family"]
    keys = RESOURCES[fam]
    lines = [f"Area estimate, {fam}: Tn = {cfg.tn}, Tm = {cfg.tm}, window {cfg.window} "
             f"({cfg.window_k}·Tm), widths {list(cfg.widths)}, memory word {cfg.mem_width} bits "
             f"({seconds * 1000:.0f} ms)", "",
             "| block | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for block, rec in sorted(result["blocks"].items(), key=lambda kv: -kv[1][keys[0]]):
        lines.append(f"| {block} | " + " | ".join(str(rec[k]) for k in keys) + " |")
    lines.append("| **total** | " + " | ".join(str(result["total"][k]) for k in keys) + " |")
    guessed = [m for m in result["memories"] if not m["measured"]]
    if guessed:
        lines += ["", f"{len(guessed)} memory shape(s) never characterized by Yosys (priced "
                      f"by the rule alone): " + ", ".join(
                          f"{m['name']} {m['depth']}x{m['width']}" for m in guessed)]
    return "\n".join(lines)


def main(argv=None):
    parser = ArgumentParser(
        prog="python -m hdl.estimate",
        description="Estimate the accelerator's area per block (LUT, FF, DSP, BRAM) without "
                    "synthesis, from a model fitted on Yosys runs.")
    add_config_arguments(parser, profile=False)
    parser.add_argument("--window", type=int, metavar="N",
                        help="the NSM window in positions, k * Tm (instead of --window-k)")
    parser.add_argument("--widths", type=_widths, metavar="W,…",
                        help="weight slot widths the WDM decodes (default 4,8,16)")
    parser.add_argument("--profile", choices=list(PROFILES),
                        help="a named configuration instead of the options above")
    parser.add_argument("--family", choices=ESTIMATE_FAMILIES, default="ecp5",
                        help="ice40, ecp5 (default) or gates (technology-neutral transistors)")
    parser.add_argument("--json", metavar="FILE",
                        help='write {"blocks": {NAME: {...}}, "total": {...}} to FILE')
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)

    def body():
        start = time.perf_counter()
        path = output_file(args.json, "--json")
        try:
            cfg = config_of(args, argv)
        except ValueError as e:
            raise UsageError(str(e)) from None
        result = estimate(cfg, args.family)
        seconds = time.perf_counter() - start
        if path is not None:
            atomic_json(path, {"family": args.family, "config": cfg.as_dict(),
                               "blocks": result["blocks"], "total": result["total"],
                               "memories": result["memories"],
                               "seconds": round(seconds, 4)})
        print(markdown(result, cfg, seconds))
        return 0
    return run_main("python -m hdl.estimate", body, errors=(RuntimeError,))


if __name__ == "__main__":
    sys.exit(main())
