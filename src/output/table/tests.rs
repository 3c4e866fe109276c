use super::*;
use crate::model::mean_state;
use crate::model::GameParams;
use crate::operator::trembling::g_value;
use crate::output::solution::*;
use crate::output::test_util::{dir_names, gig_solution};

fn meta() -> RunMetadata {
    RunMetadata::new("[model]\nkind = \"gig\"\n", 42).with_extra("start", "uniform")
}

fn assert_provenance(t: &ParquetTable) {
    assert_eq!(t.metadata(KEY_SCENARIO), Some("[model]\nkind = \"gig\"\n"));
    assert_eq!(t.metadata(KEY_SEED), Some("42"));
    assert_eq!(t.metadata(KEY_VERSION), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(t.metadata("start"), Some("uniform"));
}

fn tiny_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("step", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
    ]))
}

fn tiny_batch(rows: &mut TableBuilder, from: i64, n: i64) -> RecordBatch {
    for i in from..from + n {
        rows.push_row(|r| {
            r.i64(i).f64(i as f64 * 0.5);
        });
    }
    rows.finish()
}

#[test]
fn trajectory_round_trip() {
    let sol = gig_solution();
    let ns = sol.start.len();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trajectory.parquet");
    write_trajectory(&path, &sol, &meta()).unwrap();
    let t = read_parquet(&path).unwrap();

    let mut expected = vec!["iteration".to_string()];
    expected.extend((0..ns).map(|s| format!("z_{s}")));
    expected.extend(
        [
            "mean_state",
            "delta_l1",
            "tq_sweeps",
            "consistency_l1",
            "exploitability",
        ]
        .map(String::from),
    );
    assert_eq!(t.column_names(), expected);
    assert_eq!(t.num_rows(), sol.iterations() + 1);
    assert_provenance(&t);

    let it = t.i64_column("iteration").unwrap();
    assert_eq!(it, (0..=sol.iterations() as i64).collect::<Vec<_>>());
    for s in 0..ns {
        let col = t.f64_column(&format!("z_{s}")).unwrap();
        assert_eq!(col[0], sol.start[s]);
        for (k, rec) in sol.trace.iter().enumerate() {
            assert_eq!(col[k + 1].to_bits(), rec.z[s].to_bits());
        }
    }
    let delta = t.opt_f64_column("delta_l1").unwrap();
    assert_eq!(delta[0], None);
    let sweeps = t.i64_column("tq_sweeps").unwrap();
    assert_eq!(sweeps[0], 0);
    let mean = t.f64_column("mean_state").unwrap();
    assert_eq!(mean[0], mean_state(&sol.start));
    let cons = t.opt_f64_column("consistency_l1").unwrap();
    let expl = t.opt_f64_column("exploitability").unwrap();
    assert_eq!((cons[0], expl[0]), (None, None));
    for (k, rec) in sol.trace.iter().enumerate() {
        assert_eq!(delta[k + 1], Some(rec.delta_l1));
        assert_eq!(sweeps[k + 1], rec.tq_sweeps as i64);
        assert_eq!(mean[k + 1], rec.mean_state);
        assert_eq!(cons[k + 1], Some(rec.consistency_l1));
        // T-BR's strategy is the best response to z_k: no exploitability column value.
        assert_eq!(expl[k + 1], None);
    }
    // The last row is the returned mean field.
    let last: Vec<f64> = (0..ns)
        .map(|s| *t.f64_column(&format!("z_{s}")).unwrap().last().unwrap())
        .collect();
    assert_eq!(last, sol.z);
    assert_eq!(dir_names(dir.path()), vec!["trajectory.parquet"]);
}

#[test]
fn equilibrium_round_trip() {
    let sol = gig_solution();
    let eps = GameParams::default().epsilon;
    let (ns, na) = (sol.q.num_states(), sol.q.num_actions());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("equilibrium.parquet");
    write_equilibrium(&path, &sol, eps, &meta()).unwrap();
    let t = read_parquet(&path).unwrap();

    let mut expected = vec!["state".to_string(), "z".into(), "greedy_action".into()];
    expected.extend((0..na).map(|a| format!("q_{a}")));
    expected.extend((0..na).map(|a| format!("mu_{a}")));
    expected.push("v".into());
    assert_eq!(t.column_names(), expected);
    assert_eq!(t.num_rows(), ns);
    assert_provenance(&t);

    assert_eq!(
        t.i64_column("state").unwrap(),
        (0..ns as i64).collect::<Vec<_>>()
    );
    assert_eq!(t.f64_column("z").unwrap(), sol.z);
    let greedy: Vec<usize> = t
        .i64_column("greedy_action")
        .unwrap()
        .into_iter()
        .map(|a| a as usize)
        .collect();
    assert_eq!(greedy, sol.policy.greedy());
    let v = t.f64_column("v").unwrap();
    for a in 0..na {
        let q = t.f64_column(&format!("q_{a}")).unwrap();
        let mu = t.f64_column(&format!("mu_{a}")).unwrap();
        for s in 0..ns {
            assert_eq!(q[s], sol.q.get(s, a));
            assert_eq!(mu[s], sol.policy.get(s, a));
        }
    }
    for (s, v) in v.iter().enumerate() {
        assert_eq!(*v, g_value(sol.q.row(s), eps));
        // v = Σ_a μ(s,a) Q(s,a) for the trembling policy.
        let dot: f64 = (0..na)
            .map(|a| sol.policy.get(s, a) * sol.q.get(s, a))
            .sum();
        assert!((v - dot).abs() <= 1e-9 * (1.0 + dot.abs()), "{v} vs {dot}");
    }
}

#[test]
fn files_are_zstd_compressed() {
    let sol = gig_solution();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trajectory.parquet");
    write_trajectory(&path, &sol, &meta()).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    for rg in reader.metadata().row_groups() {
        for col in rg.columns() {
            assert!(
                matches!(col.compression(), Compression::ZSTD(_)),
                "{:?}",
                col.compression()
            );
        }
    }
}

#[test]
fn reserved_extra_key_is_rejected() {
    let m = RunMetadata::new("", 1).with_extra(KEY_SEED, "2");
    let err = ParquetTableWriter::try_new("x.parquet", Vec::new(), tiny_schema(), &m)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x.parquet") && err.contains("reserved"),
        "{err}"
    );
}

#[test]
fn mismatched_batch_is_an_error() {
    let mut w =
        ParquetTableWriter::try_new("<memory>", Vec::new(), tiny_schema(), &meta()).unwrap();
    let other = Arc::new(Schema::new(vec![Field::new("y", DataType::Float64, false)]));
    let mut rows = TableBuilder::new(other, 1);
    rows.push_row(|r| {
        r.f64(1.0);
    });
    let err = w.write_batch(&rows.finish()).unwrap_err().to_string();
    assert!(err.contains("<memory>") && err.contains("\"y\""), "{err}");
}

#[test]
fn row_groups_close_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let file = AtomicFile::create(&path).unwrap();
    let mut w = ParquetTableWriter::try_new(&path, file, tiny_schema(), &meta())
        .unwrap()
        .with_row_group_bytes(1);
    let mut rows = TableBuilder::new(tiny_schema(), 10);
    for k in 0..3 {
        w.write_batch(&tiny_batch(&mut rows, k * 10, 10)).unwrap();
        assert_eq!(w.in_progress_size(), 0);
    }
    assert_eq!(w.rows_written(), 30);
    w.finish().unwrap().commit().unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(reader.metadata().num_row_groups(), 3);
}

#[test]
fn builder_is_reused_across_batches() {
    let mut rows = TableBuilder::new(tiny_schema(), 4);
    let a = tiny_batch(&mut rows, 0, 3);
    let b = tiny_batch(&mut rows, 3, 5);
    assert_eq!((a.num_rows(), b.num_rows()), (3, 5));
    let x = b.column(1).as_primitive::<Float64Type>();
    assert_eq!(x.values().as_ref(), &[1.5, 2.0, 2.5, 3.0, 3.5]);
}

#[test]
#[should_panic(expected = "row has 1 values, the schema has 2 columns")]
fn short_row_panics() {
    let mut rows = TableBuilder::new(tiny_schema(), 1);
    rows.push_row(|r| {
        r.i64(1);
    });
}

#[test]
#[should_panic(expected = "column `step` is Int64, got f64")]
fn wrong_type_panics() {
    let mut rows = TableBuilder::new(tiny_schema(), 1);
    rows.push_row(|r| {
        r.f64(1.0).f64(2.0);
    });
}

#[test]
fn parts_survive_an_interrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let parts_dir = dir.path().join("snapshots");
    let mut w = PartWriter::try_new(&parts_dir, tiny_schema(), meta(), 5).unwrap();
    let mut rows = TableBuilder::new(tiny_schema(), 3);
    for k in 0..4 {
        w.write_batch(&tiny_batch(&mut rows, k * 3, 3)).unwrap();
    }
    assert_eq!(
        (w.parts().len(), w.rows_committed(), w.rows_written()),
        (2, 10, 12)
    );
    drop(w); // interrupted: the open part (2 rows) is lost, nothing half-written remains

    assert_eq!(
        dir_names(&parts_dir),
        vec!["part-00000.parquet", "part-00001.parquet"]
    );
    let mut steps = Vec::new();
    for i in 0..2 {
        let t = read_parquet(&PartWriter::part_path(&parts_dir, i)).unwrap();
        assert_eq!(t.num_rows(), 5);
        assert_provenance(&t);
        steps.extend(t.i64_column("step").unwrap());
    }
    assert_eq!(steps, (0..10).collect::<Vec<_>>());

    // The same directory cannot be reused without clearing it.
    let err = PartWriter::try_new(&parts_dir, tiny_schema(), meta(), 5).unwrap_err();
    assert!(
        err.to_string().contains("already holds part files"),
        "{err}"
    );
}

#[test]
fn finish_closes_the_short_last_part() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = PartWriter::try_new(dir.path(), tiny_schema(), meta(), 5).unwrap();
    let mut rows = TableBuilder::new(tiny_schema(), 12);
    w.write_batch(&tiny_batch(&mut rows, 0, 12)).unwrap();
    let summary = w.finish().unwrap();
    assert_eq!(summary.rows, 12);
    let counts: Vec<usize> = summary
        .parts
        .iter()
        .map(|p| read_parquet(p).unwrap().num_rows())
        .collect();
    assert_eq!(counts, vec![5, 5, 2]);
}

#[test]
fn empty_stream_leaves_one_empty_part() {
    let dir = tempfile::tempdir().unwrap();
    let w = PartWriter::try_new(dir.path(), tiny_schema(), meta(), 5).unwrap();
    let summary = w.finish().unwrap();
    assert_eq!(summary.parts.len(), 1);
    let t = read_parquet(&summary.parts[0]).unwrap();
    assert_eq!((t.num_rows(), t.column_names()), (0, vec!["step", "x"]));
    assert_provenance(&t);
}

#[test]
fn zero_rows_per_part_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let err = PartWriter::try_new(dir.path(), tiny_schema(), meta(), 0).unwrap_err();
    assert!(err.to_string().contains("rows_per_part"), "{err}");
}

#[test]
fn streaming_drop_closes_the_last_part() {
    let dir = tempfile::tempdir().unwrap();
    let w = PartWriter::try_new(dir.path(), tiny_schema(), meta(), 4).unwrap();
    let mut stream = StreamingParquet::spawn(w, 2).unwrap();
    let mut rows = TableBuilder::new(tiny_schema(), 3);
    for k in 0..3 {
        stream.send(tiny_batch(&mut rows, k * 3, 3)).unwrap();
    }
    drop(stream); // e.g. the producer unwinding from a panic
    let names = dir_names(dir.path());
    assert_eq!(
        names,
        vec![
            "part-00000.parquet",
            "part-00001.parquet",
            "part-00002.parquet"
        ]
    );
    let total: usize = (0..3)
        .map(|i| {
            read_parquet(&PartWriter::part_path(dir.path(), i))
                .unwrap()
                .num_rows()
        })
        .sum();
    assert_eq!(total, 9);
}

#[test]
fn streaming_reports_writer_errors() {
    let dir = tempfile::tempdir().unwrap();
    let w = PartWriter::try_new(dir.path(), tiny_schema(), meta(), 4).unwrap();
    let mut stream = StreamingParquet::spawn(w, 1).unwrap();
    let other = Arc::new(Schema::new(vec![Field::new("y", DataType::Float64, false)]));
    let mut rows = TableBuilder::new(other, 1);
    rows.push_row(|r| {
        r.f64(1.0);
    });
    let bad = rows.finish();
    // The first bad batch stops the thread; a later send or finish reports why.
    let mut result = Ok(());
    for _ in 0..4 {
        result = stream.send(bad.clone());
        if result.is_err() {
            break;
        }
    }
    let err = match result {
        Err(e) => e,
        Ok(()) => stream.finish().unwrap_err(),
    };
    assert!(err.to_string().contains("do not match"), "{err}");
}

#[test]
fn equal_inputs_give_identical_bytes() {
    let sol = gig_solution();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    write_trajectory(&a, &sol, &meta()).unwrap();
    write_trajectory(&b, &sol, &meta()).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn streaming_parts_equal_direct_parts() {
    let dir = tempfile::tempdir().unwrap();
    let (direct, streamed) = (dir.path().join("direct"), dir.path().join("streamed"));
    let mut rows = TableBuilder::new(tiny_schema(), 7);
    let batches: Vec<RecordBatch> = (0..9).map(|k| tiny_batch(&mut rows, k * 7, 7)).collect();

    let mut w = PartWriter::try_new(&direct, tiny_schema(), meta(), 10).unwrap();
    for b in &batches {
        w.write_batch(b).unwrap();
    }
    let d = w.finish().unwrap();
    let w = PartWriter::try_new(&streamed, tiny_schema(), meta(), 10).unwrap();
    let mut stream = StreamingParquet::spawn(w, 1).unwrap();
    for b in &batches {
        stream.send(b.clone()).unwrap();
    }
    let s = stream.finish().unwrap();

    assert_eq!(
        (d.rows, s.rows, d.parts.len(), s.parts.len()),
        (63, 63, 7, 7)
    );
    for (p, q) in d.parts.iter().zip(&s.parts) {
        assert_eq!(
            std::fs::read(p).unwrap(),
            std::fs::read(q).unwrap(),
            "{p:?}"
        );
    }
}

/// Writes sample outputs for `scripts/check_parquet.py`:
/// `MFGSIM_PARQUET_OUT=/tmp/pq cargo test --lib output -- --ignored write_samples`.
#[test]
#[ignore = "writes sample files for scripts/check_parquet.py"]
fn write_samples() {
    let out = PathBuf::from(
        std::env::var("MFGSIM_PARQUET_OUT").unwrap_or_else(|_| "target/parquet-samples".into()),
    );
    std::fs::create_dir_all(&out).unwrap();
    let sol = gig_solution();
    write_trajectory(&out.join("trajectory.parquet"), &sol, &meta()).unwrap();
    write_equilibrium(
        &out.join("equilibrium.parquet"),
        &sol,
        GameParams::default().epsilon,
        &meta(),
    )
    .unwrap();
    crate::output::write_json(
        &out.join("solution.json"),
        &crate::output::solution_json(&sol),
    )
    .unwrap();
    for sub in ["snapshots", "empty"] {
        if out.join(sub).exists() {
            std::fs::remove_dir_all(out.join(sub)).unwrap();
        }
    }
    let schema = trajectory_schema(sol.start.len());
    let mut parts =
        PartWriter::try_new(&out.join("snapshots"), schema.clone(), meta(), 10).unwrap();
    parts.write_batch(&trajectory_batch(&sol)).unwrap();
    parts.finish().unwrap();
    // A stream that never received a row: one schema-only part.
    let parts = PartWriter::try_new(&out.join("empty"), schema, meta(), 10).unwrap();
    parts.finish().unwrap();
}

/// A library's failure keeps its type as the error's source (issue 21: errors were strings).
#[test]
fn a_parquet_failure_keeps_its_error_as_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.parquet");
    std::fs::write(&path, b"not a parquet file at all").unwrap();
    let e = read_parquet(&path).unwrap_err();
    assert!(
        e.to_string().starts_with(&path.display().to_string()),
        "{e}"
    );
    let source = std::error::Error::source(&e).expect("a source");
    assert!(
        source
            .downcast_ref::<::parquet::errors::ParquetError>()
            .is_some(),
        "{source:?}"
    );
}
