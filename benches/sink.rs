//! Parquet output: encoding a trajectory-like table (10 000 rows × 25 `z_*` columns) into
//! `io::sink()`, so only encoding and compression are timed, not the disk.
//!
//! Run: `cargo bench --bench sink`. The data, batch, schema and metadata are built outside
//! the timer; `build_rows` times pushing the rows through a reused [`TableBuilder`] on its
//! own (Throughput = rows). `transitions/*` encodes 10^6 rows of the transitions dataset
//! (the schema and encoding of `mfgsim learn --export-transitions`) with each codec, on one
//! thread (Throughput = rows).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mfgsim::output::{
    trajectory_schema, transitions_encoding, transitions_schema, Codec, ParquetTableWriter,
    RunMetadata, TableBuilder,
};
use std::hint::black_box;

const ROWS: usize = 10_000;
const STATES: usize = 25;

/// A deterministic, trajectory-like table: row k is z_k (mass drifting smoothly towards the
/// top state, renormalised), so the columns have realistic entropy. Row-major, `ROWS × STATES`.
fn trajectory_data() -> Vec<f64> {
    let mut z = vec![1.0 / STATES as f64; STATES];
    let mut data = Vec::with_capacity(ROWS * STATES);
    for k in 0..ROWS {
        let shift = 1e-4 * (k as f64).sqrt();
        for (s, p) in z.iter_mut().enumerate() {
            *p *= 1.0 + shift * s as f64;
        }
        let total: f64 = z.iter().sum();
        z.iter_mut().for_each(|p| *p /= total);
        data.extend_from_slice(&z);
    }
    data
}

/// Pushes every row of `data` into `rows` and returns the batch (the builder is reused).
#[inline(never)]
fn fill(rows: &mut TableBuilder, data: &[f64]) -> arrow_array::RecordBatch {
    for (k, z) in data.chunks_exact(STATES).enumerate() {
        rows.push_row(|r| {
            r.i64(k as i64)
                .f64s(z)
                .f64(z[STATES - 1])
                .opt_f64((k > 0).then_some(z[0]))
                .i64(3 + (k % 7) as i64);
        });
    }
    rows.finish()
}

fn sink(c: &mut Criterion) {
    let schema = trajectory_schema(STATES);
    let mut rows = TableBuilder::new(schema.clone(), ROWS);
    let data = trajectory_data();
    let batch = fill(&mut rows, &data);
    let meta = RunMetadata::new("[model]\nkind = \"gig\"\n", 1);
    // Raw payload: every cell is 8 bytes (Int64 or Float64).
    let bytes = (ROWS * schema.fields().len() * 8) as u64;

    let mut g = c.benchmark_group("sink");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("parquet_zstd/10k_x_25", |b| {
        b.iter(|| {
            let mut w =
                ParquetTableWriter::try_new("<sink>", std::io::sink(), schema.clone(), &meta)
                    .unwrap();
            w.write_batch(black_box(&batch)).unwrap();
            w.finish().unwrap()
        })
    });
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("build_rows/10k_x_25", |b| {
        b.iter(|| black_box(fill(&mut rows, black_box(&data))))
    });
    g.finish();
}

/// 10^6 transition rows of one iteration on 8 states and 2 actions: agent i in order, states
/// and actions from a fixed hash, the reward a function of (s, a), ~1% regenerated.
fn transitions_data(rows: usize) -> arrow_array::RecordBatch {
    use arrow_array::{BooleanArray, Float64Array, UInt32Array, UInt8Array};
    use std::sync::Arc;
    let mix = |i: usize, k: u64| {
        let mut x = (i as u64 ^ k).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 31;
        x.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40
    };
    let s: Vec<u8> = (0..rows).map(|i| (mix(i, 1) % 8) as u8).collect();
    let a: Vec<u8> = (0..rows).map(|i| (mix(i, 2) % 2) as u8).collect();
    let r: Vec<f64> = s
        .iter()
        .zip(&a)
        .map(|(&s, &a)| -0.37 * f64::from(s) - 0.11 * f64::from(a))
        .collect();
    let s_next: Vec<u8> = (0..rows).map(|i| (mix(i, 3) % 8) as u8).collect();
    let regen: Vec<bool> = (0..rows).map(|i| mix(i, 4) % 100 == 0).collect();
    let columns: Vec<arrow_array::ArrayRef> = vec![
        Arc::new(UInt32Array::from(vec![7; rows])),
        Arc::new(UInt32Array::from_iter_values(0..rows as u32)),
        Arc::new(UInt8Array::from(s)),
        Arc::new(UInt8Array::from(a)),
        Arc::new(Float64Array::from(r)),
        Arc::new(UInt8Array::from(s_next)),
        Arc::new(BooleanArray::from(regen)),
    ];
    arrow_array::RecordBatch::try_new(transitions_schema(8, rows), columns).unwrap()
}

fn transitions(c: &mut Criterion) {
    const ROWS: usize = 1 << 20;
    let batch = transitions_data(ROWS);
    let meta = RunMetadata::new("[model]\nkind = \"infection\"\n", 1);
    let mut g = c.benchmark_group("transitions");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(20);
    for codec in [Codec::Zstd, Codec::Snappy, Codec::None] {
        let encoding = transitions_encoding(codec);
        g.bench_function(format!("{}/1M_rows", codec.as_str()), |b| {
            b.iter(|| {
                let mut w = ParquetTableWriter::try_new_encoded(
                    "<sink>",
                    std::io::sink(),
                    batch.schema(),
                    &meta,
                    &encoding,
                )
                .unwrap();
                w.write_batch(black_box(&batch)).unwrap();
                w.finish().unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, sink, transitions);
criterion_main!(benches);
