//! Parquet output: encoding a trajectory-like table (10 000 rows × 25 `z_*` columns) into
//! `io::sink()`, so only encoding and compression are timed, not the disk.
//!
//! Run: `cargo bench --bench sink`. The data, batch, schema and metadata are built outside
//! the timer; `build_rows` times pushing the rows through a reused [`TableBuilder`] on its
//! own (Throughput = rows). `transitions/*` encodes one step of 2^20 infection agents into
//! a whole part file in memory, as `mfgsim learn --export-transitions` does, with each codec,
//! on every thread of the pool and on one (Throughput = rows); `arrow_writer_zstd` writes
//! the same rows through parquet-rs's `ArrowWriter` for comparison.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mfgsim::model::{Infection, Model};
use mfgsim::output::{
    trajectory_schema, Codec, ParquetTableWriter, RunMetadata, TableBuilder, TransitionsEncoder,
};
use mfgsim::population::Population;
use mfgsim::space::{uniform, Policy};
use mfgsim::transition::{Selection, StepTransitions};
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

/// One step of 2^20 infection agents (uniform policy, so every action is taken), and its
/// whole selection.
fn stepped_population() -> (Population, Selection) {
    let model = Infection::default();
    let (ns, na, n) = (model.num_states(), model.num_actions(), 1 << 20);
    let mut pop = Population::try_new(ns, n, &uniform(ns), 3).unwrap();
    pop.step_par(&model, &Policy::uniform(ns, na), 0, 3)
        .unwrap();
    let mut selection = Selection::default();
    selection.draw(n, 1, 1.0, 3);
    (pop, selection)
}

fn transitions(c: &mut Criterion) {
    let (pop, selection) = stepped_population();
    let buffer = pop.transitions().unwrap();
    let step = StepTransitions::new(buffer, 1, &selection);
    let rows = step.rows();
    let meta = RunMetadata::new("[model]\nkind = \"infection\"\n", 1);
    let dir = std::path::Path::new("<bench>");
    let encode = |codec: Codec| {
        let mut enc = TransitionsEncoder::try_new(dir, 25, 5, rows, &meta, codec).unwrap();
        let mut parts = Vec::new();
        enc.push(black_box(&step), &mut |p| {
            parts.push(p);
            Ok(())
        })
        .unwrap();
        parts.extend(enc.finish().unwrap());
        parts
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("transitions");
    g.throughput(Throughput::Elements(rows as u64));
    g.sample_size(20);
    for codec in [Codec::Zstd, Codec::Snappy, Codec::None] {
        let name = codec.as_str();
        g.bench_function(format!("{name}/2^20_rows/all_threads"), |b| {
            b.iter(|| encode(codec))
        });
        g.bench_function(format!("{name}/2^20_rows/1_thread"), |b| {
            b.iter(|| one.install(|| encode(codec)))
        });
    }
    // The same rows through parquet-rs's ArrowWriter (dictionaries, statistics, zstd): what
    // the export cost before its pages were written directly.
    let batch = step.to_batch();
    g.bench_function("arrow_writer_zstd/2^20_rows/1_thread", |b| {
        b.iter(|| {
            let mut w =
                ParquetTableWriter::try_new("<sink>", std::io::sink(), batch.schema(), &meta)
                    .unwrap();
            w.write_batch(black_box(&batch)).unwrap();
            w.finish().unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, sink, transitions);
criterion_main!(benches);
