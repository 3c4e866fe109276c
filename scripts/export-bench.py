#!/usr/bin/env python3
"""Times the transitions export end to end and pyarrow's single-core writer on the same rows.

Usage: scripts/export-bench.py [--bin target/release/mfgsim] [--agents 1e6] [--iterations 20]
                               [--codec zstd] [--repeat 3] [--out DIR]

Runs `mfgsim learn scenarios/infection.toml --export-transitions --export-fraction 1` (best
wall time of --repeat runs, the whole process), reads DIR/transitions/ into one pyarrow table
and times `pq.write_table(table, path, compression="zstd")` with one thread (best of
--repeat). Prints both rates in M rows/s and their ratio.

Needs pyarrow: python3 -m venv /tmp/venv && /tmp/venv/bin/pip install pyarrow
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default="target/release/mfgsim")
    p.add_argument("--agents", default="1e6")
    p.add_argument("--iterations", default="20")
    p.add_argument("--codec", default="zstd")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    out = pathlib.Path(a.out or tempfile.mkdtemp(prefix="export-bench-"))
    cmd = [a.bin, "learn", "scenarios/infection.toml", "--agents", a.agents, "--iterations",
           a.iterations, "--export-transitions", "--export-fraction", "1", "--export-codec",
           a.codec, "--quiet", "--out", str(out)]
    best = float("inf")
    for _ in range(a.repeat):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
    table = pq.read_table(out / "transitions")
    rows = table.num_rows
    size = sum(f.stat().st_size for f in (out / "transitions").glob("part-*.parquet"))
    print(f"mfgsim   {rows} rows in {best:.3f} s end to end: {rows / best / 1e6:.1f} M rows/s "
          f"({size / 2**20:.1f} MiB, {a.codec}, {os.cpu_count()} cores)")

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    # Outside DIR, so scripts/check_parquet.py DIR sees mfgsim's files only.
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="export-bench-pyarrow-"))
    target = scratch / "pyarrow.parquet"
    best_pa = float("inf")
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        pq.write_table(table, target, compression="zstd")
        best_pa = min(best_pa, time.perf_counter() - t0)
    print(f"pyarrow  {pa.__version__} pq.write_table(zstd), 1 thread: {best_pa:.3f} s: "
          f"{rows / best_pa / 1e6:.1f} M rows/s ({target.stat().st_size / 2**20:.1f} MiB)")
    print(f"schema   {', '.join(f'{f.name}:{f.type}' for f in table.schema)}")
    print(f"ratio    mfgsim / pyarrow = {best_pa / best:.2f}")
    shutil.rmtree(scratch)
    if a.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
