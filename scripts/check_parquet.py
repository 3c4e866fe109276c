#!/usr/bin/env python3
"""Open every *.parquet file under the given directories with four readers.

Usage: scripts/check_parquet.py DIR_OR_FILE...

For each file:
  * pyarrow:  read the table, print the footer's key-value metadata keys, require
              `mfgsim.version` (and `mfgsim.seed`, `mfgsim.scenario`);
  * pandas:   read with engine="pyarrow", require every z_* column to be float64;
  * polars:   read, require every z_* column to be Float64;
  * DuckDB:   SELECT count(*) (plus sum(z_0) when present), compare with pyarrow.
Every z_* column must be plain float64 numbers (no list/struct columns, no nulls), and every
numeric or boolean column must decode to the same values in pyarrow, polars and DuckDB (the
sum and the number of distinct values of each column agree).
Directories of part files (part-*.parquet) are also read once as one dataset.

Exits 0 when all files pass, 1 on any failure, 2 on usage errors or a missing reader.

Set up the readers with, e.g.:
  python3 -m venv /tmp/pyenv && /tmp/pyenv/bin/pip install pandas pyarrow polars duckdb
"""

import math
import pathlib
import sys
import traceback

try:
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError as e:  # pragma: no cover
    print(f"check_parquet: missing reader: {e}", file=sys.stderr)
    print("install with: pip install pandas pyarrow polars duckdb", file=sys.stderr)
    sys.exit(2)

REQUIRED_KEYS = ("mfgsim.version", "mfgsim.seed", "mfgsim.scenario")

# One in-memory DuckDB connection; `con.execute(...).fetchone()` works across DuckDB 1.x and
# 2.x (2.x relations from `duckdb.sql` no longer have `fetchone`).
DUCK = duckdb.connect()


def z_columns(names):
    return [n for n in names if n.startswith("z_") and n[2:].isdigit()]


def sql_string(path):
    return "'" + str(path).replace("'", "''") + "'"


def check_file(path):
    """Returns the row count; raises AssertionError on any problem."""
    # pyarrow: metadata and types.
    meta = pq.read_metadata(path)
    kv = {k.decode(): v.decode() for k, v in (meta.metadata or {}).items()}
    keys = sorted(kv)
    print(f"  pyarrow  {pa.__version__}: rows={meta.num_rows} row_groups={meta.num_row_groups} "
          f"created_by={meta.created_by!r}")
    print(f"           metadata keys: {keys}")
    for key in REQUIRED_KEYS:
        assert key in kv, f"footer metadata lacks `{key}`"
    print(f"           mfgsim.version={kv['mfgsim.version']} mfgsim.seed={kv['mfgsim.seed']}")
    table = pq.read_table(path)
    zs = z_columns(table.column_names)
    for name in zs:
        t = table.schema.field(name).type
        assert t == pa.float64(), f"pyarrow: {name} is {t}, not float64"
        assert table.column(name).null_count == 0, f"pyarrow: {name} has nulls"
    assert table.num_rows == meta.num_rows

    # pandas (pyarrow engine).
    df = pd.read_parquet(path, engine="pyarrow")
    for name in zs:
        assert str(df[name].dtype) == "float64", f"pandas: {name} is {df[name].dtype}"
        assert all(isinstance(x, float) for x in df[name].tolist()), f"pandas: {name} not floats"
    assert len(df) == table.num_rows, f"pandas: {len(df)} rows vs {table.num_rows}"
    print(f"  pandas   {pd.__version__}: {len(df)} rows, {len(df.columns)} columns, "
          f"z columns {len(zs)} (float64)")

    # polars.
    pf = pl.read_parquet(path)
    for name in zs:
        assert pf.schema[name] == pl.Float64, f"polars: {name} is {pf.schema[name]}"
    assert pf.height == table.num_rows, f"polars: {pf.height} rows vs {table.num_rows}"
    print(f"  polars   {pl.__version__}: {pf.height} rows, dtypes "
          f"{sorted({str(t) for t in pf.schema.values()})}")

    # DuckDB.
    sel = "count(*)" + (", sum(z_0), typeof(any_value(z_0))" if zs else "")
    row = DUCK.execute(f"SELECT {sel} FROM read_parquet({sql_string(path)})").fetchone()
    assert row[0] == table.num_rows, f"duckdb: {row[0]} rows vs {table.num_rows}"
    if zs and table.num_rows > 0:
        want = sum(table.column("z_0").to_pylist())
        assert row[2] == "DOUBLE", f"duckdb: z_0 is {row[2]}"
        assert math.isclose(row[1], want, rel_tol=1e-12, abs_tol=1e-12), \
            f"duckdb: sum(z_0)={row[1]} vs {want}"
    print(f"  duckdb   {duckdb.__version__}: SELECT {sel} -> {row}")
    check_values(path, table, pf)
    return table.num_rows


def check_values(path, table, pf):
    """Every numeric or boolean column decodes to the same values in pyarrow, polars and
    DuckDB: the sum and the count of distinct values of each column agree."""
    import pyarrow.compute as pc
    cols = [f.name for f in table.schema
            if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
            or pa.types.is_boolean(f.type)]
    if not cols or table.num_rows == 0:
        return
    q = lambda c: '"' + c.replace('"', '""') + '"'
    parts = []
    for c in cols:
        cast = "::BIGINT" if pa.types.is_boolean(table.schema.field(c).type) else ""
        parts += [f"sum({q(c)}{cast})", f"count(DISTINCT {q(c)})"]
    duck = DUCK.execute(f"SELECT {', '.join(parts)} FROM read_parquet({sql_string(path)})").fetchone()
    for i, c in enumerate(cols):
        col = table.column(c)
        if pa.types.is_boolean(col.type):
            col = pc.cast(col, pa.int64())
        want = pc.sum(col).as_py()
        want_distinct = pc.count_distinct(table.column(c)).as_py()
        # polars sums in the column's own type (a UInt32 sum wraps): widen first.
        pser = pf[c] if pf.schema[c].is_float() else pf[c].cast(pl.Int64)
        got = {"polars": (pser.sum(), pf[c].n_unique() - (1 if pf[c].null_count() else 0)),
               "duckdb": (duck[2 * i], duck[2 * i + 1])}
        for reader, (total, distinct) in got.items():
            if pa.types.is_floating(table.schema.field(c).type):
                # An all-null column sums to None (pyarrow, DuckDB) or 0 (polars).
                ok = math.isclose(float(total or 0.0), float(want or 0.0),
                                  rel_tol=1e-9, abs_tol=1e-9)
            else:
                ok = int(total) == int(want)
            assert ok, f"{reader}: sum({c}) = {total}, pyarrow {want}"
            assert distinct == want_distinct, \
                f"{reader}: {distinct} distinct {c}, pyarrow {want_distinct}"
    print(f"           values: sums and distinct counts of {len(cols)} columns agree "
          f"(pyarrow, polars, DuckDB)")


def check_dataset(directory, expected_rows):
    """Reads DIR/part-*.parquet as one dataset with every reader."""
    pattern = str(directory / "part-*.parquet")
    n_pd = len(pd.read_parquet(directory, engine="pyarrow"))
    n_pl = pl.scan_parquet(pattern).select(pl.len()).collect().item()
    n_dd = DUCK.execute(f"SELECT count(*) FROM read_parquet({sql_string(pattern)})").fetchone()[0]
    counts = {"pandas": n_pd, "polars": n_pl, "duckdb": n_dd}
    print(f"  dataset {directory}: {counts} (parts sum {expected_rows})")
    for reader, n in counts.items():
        assert n == expected_rows, f"{reader}: dataset has {n} rows, parts sum {expected_rows}"


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    files = []
    for arg in argv[1:]:
        p = pathlib.Path(arg)
        if p.is_dir():
            files.extend(sorted(p.rglob("*.parquet")))
        elif p.is_file():
            files.append(p)
        else:
            print(f"check_parquet: {arg}: no such file or directory", file=sys.stderr)
            return 2
    if not files:
        print("check_parquet: no *.parquet files found", file=sys.stderr)
        return 1

    failures = 0
    part_rows = {}
    for path in files:
        print(f"{path}")
        try:
            rows = check_file(path)
            if path.name.startswith("part-"):
                part_rows[path.parent] = part_rows.get(path.parent, 0) + rows
        except Exception:  # noqa: BLE001 - report every failure, keep going
            failures += 1
            print(f"FAIL {path}:", file=sys.stderr)
            traceback.print_exc()
    for directory, rows in sorted(part_rows.items()):
        try:
            check_dataset(directory, rows)
        except Exception:  # noqa: BLE001
            failures += 1
            print(f"FAIL dataset {directory}:", file=sys.stderr)
            traceback.print_exc()

    print(f"checked {len(files)} file(s), {len(part_rows)} dataset(s): "
          f"{'OK' if failures == 0 else f'{failures} failure(s)'}")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
