//! `mfgsim sweep`: the plan, bitwise-identical tables for any job count, resume after a
//! stop or a kill, and refusals (bad grid values, foreign or mismatched directories).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};

use crate::util::read_parquet_batch as read;
use mfgsim::sweep::{
    run_sweep, GridAxis, Shard, ShardSource, Sweep, SweepCommand, SweepOptions, SweepSpec,
};

fn learn_spec() -> SweepSpec {
    SweepSpec {
        command: SweepCommand::Learn,
        grid: vec![GridAxis::parse("learner.algo=online,iql,gmbl").unwrap()],
        seeds: 2,
        ..SweepSpec::default()
    }
}

fn plan(spec: SweepSpec) -> Sweep {
    let o = [
        "sim.agents=2000".to_string(),
        "sim.iterations=15".to_string(),
        "learner.gen_samples=2000".to_string(),
    ];
    Sweep::plan(Path::new("scenarios/gig.toml"), &o, spec).unwrap()
}

/// The table without its wall-time column.
fn without_seconds(b: &RecordBatch) -> RecordBatch {
    let keep: Vec<usize> = (0..b.num_columns())
        .filter(|&i| b.schema().field(i).name() != "seconds")
        .collect();
    b.project(&keep).unwrap()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

#[test]
fn learn_sweep_table_is_identical_for_any_jobs_and_threads_and_resumes_after_a_stop() {
    let sw = plan(learn_spec());
    assert_eq!(sw.runs.len(), 6);
    assert_eq!(sw.runs[3].id, "r0003");
    assert_eq!(sw.runs[3].values[0].as_str(), Some("iql"));
    assert_eq!((sw.runs[2].seed, sw.runs[3].seed), (0, 1));
    let tmp = tempfile::tempdir().unwrap();
    let never = AtomicBool::new(false);
    let one = tmp.path().join("one");
    let o = pool(1)
        .install(|| {
            run_sweep(
                &sw,
                &one,
                &SweepOptions {
                    jobs: 1,
                    threads: 0,
                    ..SweepOptions::default()
                },
                &never,
                &|_| {},
            )
        })
        .unwrap();
    assert_eq!((o.total, o.ran, o.skipped, o.missing), (6, 6, 0, 0));
    let straight = read(&one.join("sweep.parquet"));
    assert_eq!(straight.num_rows(), 6);
    let names: Vec<String> = straight
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for c in [
        "run",
        "learner.algo",
        "seed",
        "final_l1_to_tmfe",
        "final_w1_to_tmfe",
        "final_consistency",
        "final_exploitability",
        "total_tq_updates",
        "z_0",
        "z_4",
    ] {
        assert!(names.iter().any(|n| n == c), "{c} missing from {names:?}");
    }
    let algo = straight.column_by_name("learner.algo").unwrap();
    let algo = algo.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(algo.value(4), "gmbl");
    let l1 = straight.column_by_name("final_l1_to_tmfe").unwrap();
    let l1 = l1.as_any().downcast_ref::<Float64Array>().unwrap();
    assert!((0..6).all(|i| l1.value(i).is_finite() && l1.value(i) < 2.0));
    // The row matches the run's own summary.json.
    let s: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(one.join("runs/r0003/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s["algo"], "iql");
    assert_eq!(s["seed"], 1);
    assert_eq!(l1.value(3), s["l1_to_tmfe"].as_f64().unwrap());
    for (column, key) in [
        ("final_w1_to_tmfe", "w1_to_tmfe"),
        ("final_consistency", "consistency"),
    ] {
        let c = straight.column_by_name(column).unwrap();
        let c = c.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(c.value(3), s[key].as_f64().unwrap(), "{column}");
    }
    assert!(one.join("runs/r0003/snapshots.parquet").is_file());
    // The per-point statistics: mean and sample sd of the two seeds of `iql`.
    let g = &o.groups[1];
    assert_eq!(
        (g.values.as_slice(), g.runs),
        (&["learner.algo=iql".to_string()][..], 2)
    );
    let (a, b) = (l1.value(2), l1.value(3));
    let m = &g.metrics[0];
    assert_eq!(m.metric, "final_l1_to_tmfe");
    assert!((m.mean - (a + b) / 2.0).abs() < 1e-15);
    assert!((m.sd - (a - b).abs() / 2f64.sqrt()).abs() < 1e-12);
    let md = std::fs::read_to_string(one.join("summary.md")).unwrap();
    assert!(md.contains("| learner.algo=gmbl | 2 |"), "{md}");

    // Two jobs on two threads: the same table and the same snapshot files.
    let two = tmp.path().join("two");
    let o = pool(2)
        .install(|| {
            run_sweep(
                &sw,
                &two,
                &SweepOptions {
                    jobs: 2,
                    threads: 0,
                    ..SweepOptions::default()
                },
                &never,
                &|_| {},
            )
        })
        .unwrap();
    assert_eq!((o.jobs, o.threads_per_run), (2, 1));
    assert_eq!(
        without_seconds(&read(&two.join("sweep.parquet"))),
        without_seconds(&straight)
    );
    for r in &sw.runs {
        let p = |d: &Path| read(&d.join("runs").join(&r.id).join("snapshots.parquet"));
        let (a, b) = (p(&one), p(&two));
        let keep: Vec<usize> = (0..a.num_columns())
            .filter(|&i| !a.schema().field(i).name().ends_with("_seconds"))
            .collect();
        assert_eq!(
            a.project(&keep).unwrap(),
            b.project(&keep).unwrap(),
            "run {}",
            r.id
        );
    }

    // Stopped after two runs (as Ctrl-C does), then a killed run's leftovers, then resumed.
    let resumed = tmp.path().join("resumed");
    let stop = AtomicBool::new(false);
    let finished = AtomicUsize::new(0);
    let o = pool(1)
        .install(|| {
            run_sweep(
                &sw,
                &resumed,
                &SweepOptions {
                    jobs: 1,
                    threads: 0,
                    ..SweepOptions::default()
                },
                &stop,
                &|_| {
                    if finished.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
                        stop.store(true, Ordering::SeqCst);
                    }
                },
            )
        })
        .unwrap();
    assert_eq!((o.ran, o.missing), (2, 4));
    assert_eq!(read(&resumed.join("sweep.parquet")).num_rows(), 2);
    let killed = resumed.join("runs/r0002");
    std::fs::create_dir_all(&killed).unwrap();
    std::fs::write(killed.join("snapshots.parquet"), b"half a file").unwrap();
    let o = pool(2)
        .install(|| run_sweep(&sw, &resumed, &SweepOptions::default(), &never, &|_| {}))
        .unwrap();
    assert_eq!((o.ran, o.skipped, o.missing), (4, 2, 0));
    assert_eq!(
        without_seconds(&read(&resumed.join("sweep.parquet"))),
        without_seconds(&straight)
    );

    // A different sweep into the same directory is refused, naming what differs.
    let mut other = learn_spec();
    other.seeds = 3;
    let e = run_sweep(
        &plan(other),
        &resumed,
        &SweepOptions::default(),
        &never,
        &|_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("`seeds` differs"), "{e}");
}

#[test]
fn shards_run_their_share_and_the_merge_writes_the_unsharded_table() {
    let sw = plan(learn_spec());
    let tmp = tempfile::tempdir().unwrap();
    let never = AtomicBool::new(false);
    let whole = tmp.path().join("whole");
    run_sweep(&sw, &whole, &SweepOptions::default(), &never, &|_| {}).unwrap();
    let straight = read(&whole.join("sweep.parquet"));

    // Three shards at once into one directory (as three cluster jobs would): each runs its
    // two runs (positions p ≡ i mod 3) and writes no table.
    let shared = tmp.path().join("shared");
    let outcomes: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let (sw, shared, never) = (&sw, &shared, &never);
                sc.spawn(move || {
                    let opts = SweepOptions {
                        shard: Some(Shard::new(i, 3).unwrap()),
                        ..SweepOptions::default()
                    };
                    pool(1).install(|| run_sweep(sw, shared, &opts, never, &|_| {}))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
    });
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!((o.total, o.ran, o.missing, o.wrote_table), (2, 2, 0, false));
        assert_eq!(o.shard, Some(Shard::new(i, 3).unwrap()));
    }
    assert!(shared
        .join(format!("runs/r000{}/summary.json", 4))
        .is_file());
    assert!(!shared.join("sweep.parquet").exists());
    // The merge: nothing runs, the table equals the unsharded sweep's.
    let o = run_sweep(&sw, &shared, &SweepOptions::default(), &never, &|_| {}).unwrap();
    assert_eq!(
        (o.ran, o.skipped, o.missing, o.wrote_table),
        (0, 6, 0, true)
    );
    assert_eq!(
        without_seconds(&read(&shared.join("sweep.parquet"))),
        without_seconds(&straight)
    );

    // A collecting shard (MPI rank 0) waits for the other shard and writes the table itself.
    let collected = tmp.path().join("collected");
    let (o0, o1) = std::thread::scope(|sc| {
        let collector = sc.spawn(|| {
            let opts = SweepOptions {
                shard: Some(Shard::new(0, 2).unwrap()),
                collect: true,
                ..SweepOptions::default()
            };
            pool(1).install(|| run_sweep(&sw, &collected, &opts, &never, &|_| {}))
        });
        let other = sc.spawn(|| {
            let opts = SweepOptions {
                shard: Some(Shard::new(1, 2).unwrap()),
                ..SweepOptions::default()
            };
            pool(1).install(|| run_sweep(&sw, &collected, &opts, &never, &|_| {}))
        });
        (
            collector.join().unwrap().unwrap(),
            other.join().unwrap().unwrap(),
        )
    });
    assert_eq!((o0.ran, o0.wrote_table), (3, true));
    assert_eq!((o1.ran, o1.wrote_table), (3, false));
    assert_eq!(
        without_seconds(&read(&collected.join("sweep.parquet"))),
        without_seconds(&straight)
    );
}

#[test]
fn the_binary_shards_by_flag_slurm_array_and_mpi_launch_environments() {
    use std::process::Command;
    let bin = env!("CARGO_BIN_EXE_mfgsim");
    let tmp = tempfile::tempdir().unwrap();
    let sweep = |out: &Path, extra: &[&str], env: &[(&str, String)]| {
        let mut c = Command::new(bin);
        c.args([
            "sweep",
            "scenarios/gig.toml",
            "--grid",
            "learner.algo=online,gmbl",
            "--seeds",
            "2",
            "--set",
            "sim.agents=2000",
            "--set",
            "sim.iterations=10",
            "--threads",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(out)
        .args(extra);
        for k in [
            "SLURM_ARRAY_TASK_ID",
            "SLURM_ARRAY_TASK_MIN",
            "SLURM_ARRAY_TASK_COUNT",
            "OMPI_COMM_WORLD_RANK",
            "OMPI_COMM_WORLD_SIZE",
            "PMI_RANK",
            "PMI_SIZE",
        ] {
            c.env_remove(k);
        }
        c.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        c
    };
    let whole = tmp.path().join("whole");
    assert!(sweep(&whole, &[], &[]).status().unwrap().success());
    let straight = without_seconds(&read(&whole.join("sweep.parquet")));

    // `--shard I/N`, two processes at once, then the merge without --shard.
    let flag = tmp.path().join("flag");
    let kids: Vec<_> = ["0/2", "1/2"]
        .iter()
        .map(|s| {
            sweep(&flag, &["--shard", s], &[])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let o = k.wait_with_output().unwrap();
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("wrote no table"), "{text}");
    }
    assert!(!flag.join("sweep.parquet").exists());
    let merge = sweep(&flag, &[], &[]).output().unwrap();
    assert!(merge.status.success());
    assert!(String::from_utf8_lossy(&merge.stdout).contains("0 ran now"));
    assert_eq!(
        without_seconds(&read(&flag.join("sweep.parquet"))),
        straight
    );

    // A SLURM job array (--array=1-2): the tasks know their share from the environment.
    let slurm = tmp.path().join("slurm");
    for id in ["1", "2"] {
        let env = [
            ("SLURM_ARRAY_TASK_ID", id.to_string()),
            ("SLURM_ARRAY_TASK_MIN", "1".to_string()),
            ("SLURM_ARRAY_TASK_COUNT", "2".to_string()),
        ];
        let o = sweep(&slurm, &[], &env).output().unwrap();
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("from the SLURM job array"));
    }
    assert!(sweep(&slurm, &[], &[]).status().unwrap().success());
    assert_eq!(
        without_seconds(&read(&slurm.join("sweep.parquet"))),
        straight
    );

    // `mpirun -n 2` (its environment, without MPI): rank 0 waits for rank 1, writes the table.
    let mpi = tmp.path().join("mpi");
    let ranks: Vec<_> = (0..2)
        .map(|r| {
            let env = [
                ("OMPI_COMM_WORLD_RANK", r.to_string()),
                ("OMPI_COMM_WORLD_SIZE", "2".to_string()),
            ];
            sweep(&mpi, &[], &env)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut r in ranks {
        assert!(r.wait().unwrap().success());
    }
    assert_eq!(without_seconds(&read(&mpi.join("sweep.parquet"))), straight);
}

#[test]
fn shards_come_from_the_flag_a_slurm_array_or_an_mpi_launch() {
    assert_eq!(Shard::parse("2/4").unwrap(), Shard::new(2, 4).unwrap());
    for bad in ["4/4", "1/0", "x/2", "1", "-1/3"] {
        let e = Shard::parse(bad).unwrap_err().to_string();
        assert!(e.contains("--shard"), "{bad}: {e}");
    }
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let slurm = env(&[
        ("SLURM_ARRAY_TASK_ID", "7"),
        ("SLURM_ARRAY_TASK_MIN", "5"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
        ("OMPI_COMM_WORLD_RANK", "1"),
        ("OMPI_COMM_WORLD_SIZE", "2"),
    ]);
    assert_eq!(
        Shard::from_env(slurm).unwrap(),
        Some((Shard::new(2, 4).unwrap(), ShardSource::SlurmArray))
    );
    let mpi = env(&[("PMI_RANK", "0"), ("PMI_SIZE", "3")]);
    assert_eq!(
        Shard::from_env(mpi).unwrap(),
        Some((Shard::new(0, 3).unwrap(), ShardSource::Mpi))
    );
    assert_eq!(
        Shard::from_env(env(&[
            ("OMPI_COMM_WORLD_RANK", "0"),
            ("OMPI_COMM_WORLD_SIZE", "1")
        ]))
        .unwrap(),
        None
    );
    assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
    let e = Shard::from_env(env(&[
        ("SLURM_ARRAY_TASK_ID", "9"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("SLURM_ARRAY_TASK_ID") && e.contains("--array=0-3"),
        "{e}"
    );
    let e = Shard::from_env(env(&[("PMI_RANK", "one"), ("PMI_SIZE", "2")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("PMI_RANK"), "{e}");
}

#[test]
fn solve_sweep_finds_both_equilibrium_branches_of_the_bistable_infection_game() {
    let spec = SweepSpec {
        command: SweepCommand::Solve,
        grid: vec![GridAxis::parse("model.infection_constant=0.5,0.85,1").unwrap()],
        start: Some(mfgsim::scenario::StartSpec::Extremal),
        ..SweepSpec::default()
    };
    let sw = Sweep::plan(Path::new("scenarios/infection.toml"), &[], spec).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let never = AtomicBool::new(false);
    run_sweep(&sw, tmp.path(), &SweepOptions::default(), &never, &|_| {}).unwrap();
    let t = read(&tmp.path().join("sweep.parquet"));
    let col = |n: &str| {
        t.column_by_name(n)
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone()
    };
    let (lo, hi) = (col("least_mean_state"), col("greatest_mean_state"));
    // One equilibrium at c_f = 0.5 and 1, two at 0.85 (the branches of `mfgsim plot`).
    assert!((lo.value(0) - hi.value(0)).abs() < 1e-6);
    assert!(
        hi.value(1) - lo.value(1) > 10.0,
        "{} {}",
        lo.value(1),
        hi.value(1)
    );
    assert!((lo.value(2) - hi.value(2)).abs() < 1e-6);
    let it = t.column_by_name("least_iterations").unwrap();
    assert!(it.as_any().downcast_ref::<Int64Array>().unwrap().value(0) > 0);
    assert!(tmp
        .path()
        .join("runs/r0001/least/equilibrium.parquet")
        .is_file());
    assert_eq!(t.column_by_name("least_converged").unwrap().null_count(), 0);
    // Both equilibria's weighted exploitability and mean fields are columns too (issue 20).
    for side in ["least", "greatest"] {
        let w = col(&format!("{side}_exploitability_weighted"));
        assert!((0..3).all(|i| w.value(i) >= 0.0 && w.value(i) < 1e-6));
        let mass: f64 = (0..25)
            .map(|s| col(&format!("{side}_z_{s}")).value(1))
            .sum();
        assert!((mass - 1.0).abs() < 1e-9, "{side}: {mass}");
        let mean: f64 = (0..25)
            .map(|s| s as f64 * col(&format!("{side}_z_{s}")).value(1))
            .sum();
        assert!((mean - col(&format!("{side}_mean_state")).value(1)).abs() < 1e-9);
    }
    assert!(t.column_by_name("z_0").is_none());
}

#[test]
fn nash_gap_sweep_rows_equal_the_single_runs_and_name_the_gap_per_n() {
    use mfgsim::nash_gap::NashGapParams;
    use mfgsim::run::NashPolicy;
    let params = NashGapParams {
        agents: vec![10, 1000],
        replications: 8,
        search_replications: 4,
        tolerance: 1e-2,
        bootstrap: 50,
        ..NashGapParams::default()
    };
    let spec = SweepSpec {
        command: SweepCommand::NashGap,
        grid: vec![GridAxis::parse("model.epsilon=0.1,0.2").unwrap()],
        nash_gap: params.clone(),
        nash_policy: NashPolicy::Uniform,
        ..SweepSpec::default()
    };
    let path = Path::new("scenarios/gig.toml");
    let sw = Sweep::plan(path, &[], spec).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let never = AtomicBool::new(false);
    let o = run_sweep(&sw, tmp.path(), &SweepOptions::default(), &never, &|_| {}).unwrap();
    assert_eq!((o.total, o.ran, o.missing), (2, 2, 0));
    let t = read(&tmp.path().join("sweep.parquet"));
    assert_eq!(t.num_rows(), 2);
    let col = |n: &str| {
        t.column_by_name(n)
            .unwrap_or_else(|| panic!("lacks {n}"))
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone()
    };
    // Each row is the single study of its scenario, bitwise.
    for (i, eps) in ["0.1", "0.2"].iter().enumerate() {
        let sc = mfgsim::scenario::Scenario::load(path, &[format!("model.epsilon={eps}")]).unwrap();
        let p = NashGapParams {
            seed: sc.sim.seed,
            ..params.clone()
        };
        let one = mfgsim::run::nash_gap(&sc, &NashPolicy::Uniform, &p, &never, &|_| {}).unwrap();
        let r = &one.report;
        assert_eq!(col("gap_n10").value(i), r.per_n[0].gap);
        assert_eq!(col("gap_se_n10").value(i), r.per_n[0].gap_se);
        assert_eq!(col("gap_n1000").value(i), r.per_n[1].gap);
        assert_eq!(col("gap_weighted_n1000").value(i), r.per_n[1].gap_weighted);
        assert_eq!(col("mean_field_exploitability").value(i), r.mean_field.max);
        assert_eq!(col("rate").value(i), r.fit.as_ref().unwrap().slope);
        // The uniform strategy is no equilibrium: a deviation gains from every N.
        assert!(r.mean_field.max > 0.1);
    }
    assert!(tmp.path().join("runs/r0001/nash_gap.parquet").is_file());
    let md = std::fs::read_to_string(tmp.path().join("summary.md")).unwrap();
    assert!(
        md.contains("gap_n1000") && md.contains("mean_field_exploitability"),
        "{md}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("sweep.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["nash_gap"]["policy"], "uniform");
    assert_eq!(
        manifest["nash_gap"]["agents"],
        serde_json::json!([10, 1000])
    );
    // Another nash-gap setting is another sweep: refused in the same directory.
    let other = SweepSpec {
        command: SweepCommand::NashGap,
        grid: vec![GridAxis::parse("model.epsilon=0.1,0.2").unwrap()],
        nash_gap: NashGapParams {
            replications: 9,
            ..params
        },
        nash_policy: NashPolicy::Uniform,
        ..SweepSpec::default()
    };
    let sw2 = Sweep::plan(path, &[], other).unwrap();
    let e = run_sweep(&sw2, tmp.path(), &SweepOptions::default(), &never, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("nash_gap"), "{e}");
}

#[test]
fn bad_grid_values_are_named_before_anything_runs_and_foreign_directories_are_refused() {
    let spec = SweepSpec {
        grid: vec![
            GridAxis::parse("learner.algo=online").unwrap(),
            GridAxis::parse("model.gamma=0.5,1.5").unwrap(),
        ],
        ..SweepSpec::default()
    };
    let e = Sweep::plan(Path::new("scenarios/gig.toml"), &[], spec)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sweep.grid.model.gamma") && e.contains("1.5"),
        "{e}"
    );
    let spec = SweepSpec {
        grid: vec![GridAxis::parse("model.no_such_key=1,2").unwrap()],
        ..SweepSpec::default()
    };
    let e = Sweep::plan(Path::new("scenarios/gig.toml"), &[], spec)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no_such_key"), "{e}");

    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("mine.txt"), b"x").unwrap();
    let sw = plan(SweepSpec::default());
    let e = run_sweep(
        &sw,
        tmp.path(),
        &SweepOptions::default(),
        &AtomicBool::new(false),
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not empty") && e.contains("mine.txt"), "{e}");
    assert_eq!(std::fs::read(tmp.path().join("mine.txt")).unwrap(), b"x");
}

#[test]
fn a_killed_sweep_resumes_to_the_table_of_an_uninterrupted_one() {
    use std::process::Command;
    let bin = env!("CARGO_BIN_EXE_mfgsim");
    let tmp = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "sweep",
            "scenarios/gig.toml",
            "--grid",
            "learner.algo=online,mfq",
            "--seeds",
            "6",
            "--set",
            "sim.agents=3000",
            "--set",
            "sim.iterations=120",
            "--quiet",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(std::iter::once(out.display().to_string()))
        .collect()
    };
    let killed = tmp.path().join("killed");
    let mut child = Command::new(bin)
        .args(args(&killed))
        .args(["--jobs", "1", "--threads", "1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let finished = |d: &Path| {
        std::fs::read_dir(d.join("runs")).map_or(0, |rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("summary.json").is_file())
                .count()
        })
    };
    let t0 = std::time::Instant::now();
    while finished(&killed) < 2 && t0.elapsed().as_secs() < 120 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = finished(&killed);
    assert!(before >= 2, "{before} runs finished before the kill");
    assert!(
        before < 12,
        "the sweep finished before the kill: make the runs longer"
    );
    let o = Command::new(bin).args(args(&killed)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("{before} already finished")),
        "{text}"
    );
    let straight = tmp.path().join("straight");
    let o = Command::new(bin).args(args(&straight)).output().unwrap();
    assert!(o.status.success());
    assert_eq!(
        without_seconds(&read(&killed.join("sweep.parquet"))),
        without_seconds(&read(&straight.join("sweep.parquet")))
    );
}

#[test]
fn a_scenario_sweep_table_drives_the_command_and_flags_override_it() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string("scenarios/gig.toml").unwrap();
    let file = tmp.path().join("s.toml");
    std::fs::write(
        &file,
        format!(
            "{base}\n[sweep]\ncommand = \"solve\"\nseeds = 1\n[[sweep.grid]]\nkey = \"model.gamma\"\nvalues = [0.8, 0.85, 0.9]\n"
        ),
    )
    .unwrap();
    let run = |extra: &[&str], out: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_mfgsim"))
            .arg("sweep")
            .arg(&file)
            .args(extra)
            .args(["--quiet", "--out"])
            .arg(tmp.path().join(out))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        read(&tmp.path().join(out).join("sweep.parquet"))
    };
    let t = run(&[], "table");
    assert_eq!(t.num_rows(), 3);
    assert!(t.column_by_name("model.gamma").is_some() && t.column_by_name("converged").is_some());
    let t = run(&["--grid", "model.gamma=0.7,0.75"], "flags");
    assert_eq!(t.num_rows(), 2);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mfgsim"))
        .args([
            "sweep",
            "scenarios/gig.toml",
            "--grid",
            "model.gamma=0.5,abc",
            "--out",
        ])
        .arg(tmp.path().join("bad"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("sweep.grid.model.gamma") && err.contains("abc"),
        "{err}"
    );
    assert!(
        !tmp.path().join("bad").exists(),
        "a refused sweep created its directory"
    );
}

/// Issue 20: settings a study would refuse at its start are refused before the first run
/// (the library's sweep, without the command line's own checks).
#[test]
fn study_settings_are_refused_before_any_run() {
    use mfgsim::nash_gap::NashGapParams;
    let spec = SweepSpec {
        command: SweepCommand::NashGap,
        grid: vec![GridAxis::parse("model.epsilon=0.1,0.2").unwrap()],
        nash_gap: NashGapParams {
            agents: vec![10],
            replications: 1,
            ..NashGapParams::default()
        },
        ..SweepSpec::default()
    };
    let sw = Sweep::plan(Path::new("scenarios/gig.toml"), &[], spec).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let never = AtomicBool::new(false);
    let e = run_sweep(&sw, tmp.path(), &SweepOptions::default(), &never, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("replications"), "{e}");
    assert!(!tmp.path().join("runs").exists(), "nothing ran");
}
