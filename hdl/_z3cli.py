"""A ``z3 -smt2 -in`` command for yosys-smtbmc, backed by the PyPI ``z3-solver``.

The wheel ships the library and Python API but no ``z3`` executable, and
Debian's z3 4.8.12 does not get past the first step of the NSM and Encoder
proofs; this reads SMT-LIB2 commands from stdin, one balanced s-expression at a
time, and answers each as the z3 executable would.  :mod:`hdl.formal` puts a
launcher named ``z3`` on the solver's ``PATH``.
"""

import sys


def main():
    import z3
    ctx = z3.main_ctx().ref()
    buf, depth = [], 0
    for line in sys.stdin:
        buf.append(line)
        depth += line.count("(") - line.count(")")
        if depth <= 0:
            text = "".join(buf)
            buf, depth = [], 0
            if not text.strip():
                continue
            if text.strip().replace(" ", "") == "(exit)":
                break
            out = z3.Z3_eval_smtlib2_string(ctx, text)
            if out:
                sys.stdout.write(out if out.endswith("\n") else out + "\n")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
