//! Checkpoint and resume (issue 13, part 2): a run stopped at iteration 40 and resumed from
//! its checkpoint ends bitwise as an uninterrupted run, for every algorithm and engine; a
//! checkpoint of another scenario or options is refused by name; `kill -9` of the binary
//! mid-run, then `--resume`, gives the same snapshot rows and summary.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use mfgsim::output::read_parquet;
use mfgsim::run::{self, CheckpointPlan, Interval, LearnOptions, LearnReport};
use mfgsim::scenario::Scenario;

use crate::util::{mfgsim, root};

fn scenario(file: &str, overrides: &[&str]) -> Scenario {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::load(&root(file), &o).unwrap()
}

fn plan(dir: &Path, every: Interval, resume: bool) -> CheckpointPlan {
    CheckpointPlan {
        dir: dir.to_path_buf(),
        every,
        resume,
        options: BTreeMap::from([("flush_every".to_string(), "10".to_string())]),
    }
}

/// Everything of a report that does not measure time, as JSON (snapshots, strategy and Q
/// included, floats as bit patterns).
fn fingerprint(r: &LearnReport) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    let m = v.as_object_mut().unwrap();
    for timing in [
        "seconds",
        "step_latency_ms",
        "agent_steps_per_second",
        "step_agent_steps_per_second",
        "checkpoint",
    ] {
        m.remove(timing);
    }
    let bits = |xs: &[f64]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let snaps: Vec<serde_json::Value> = r
        .snapshots
        .iter()
        .map(|s| {
            let mut s = s.clone();
            (s.step_seconds, s.learn_seconds, s.eval_seconds) = (0.0, 0.0, 0.0);
            serde_json::json!({
                "z": bits(&s.z),
                "l1": s.l1_to_tmfe.to_bits(),
                "w1": s.w1_to_tmfe.to_bits(),
                "consistency": s.consistency.to_bits(),
                "expl": [s.exploitability.max.to_bits(), s.exploitability.weighted.to_bits()],
                "agent_expl": s.agent_exploitability.map(|e| [e.max.to_bits(), e.weighted.to_bits()]),
                "rest": serde_json::to_value(&s).unwrap(),
            })
        })
        .collect();
    m.insert("snapshots".into(), snaps.into());
    m.insert("policy".into(), bits(r.policy.probs()).into());
    m.insert("q".into(), r.q.as_ref().map(|q| bits(q.values())).into());
    v
}

fn straight(sc: &Scenario) -> LearnReport {
    crate::util::learn_to_end(sc)
}

/// Runs `sc` with checkpoints every `every` iterations, stopped (as by Ctrl-C) after
/// iteration `at`, then resumes it from `dir`; returns the resumed report.
fn stopped_and_resumed(sc: &Scenario, dir: &Path, every: u64, at: u64) -> LearnReport {
    let stop = AtomicBool::new(false);
    let first = run::learn_checkpointed(
        sc,
        &LearnOptions::default(),
        Some(&plan(dir, Interval::Every(every), false)),
        &stop,
        &mut |s, _| {
            if s.iteration == at {
                stop.store(true, Ordering::SeqCst);
            }
            Ok(())
        },
    )
    .unwrap();
    assert!(first.interrupted);
    assert_eq!(first.iterations, at);
    let c = first.checkpoint.as_ref().unwrap();
    assert_eq!(
        c.last_iteration,
        Some(at),
        "a stopped run checkpoints where it stopped"
    );
    assert_eq!(c.written, at / every + u64::from(!at.is_multiple_of(every)));
    let mut replayed = Vec::new();
    let resumed = run::learn_checkpointed(
        sc,
        &LearnOptions::default(),
        Some(&plan(dir, Interval::Never, true)),
        &AtomicBool::new(false),
        &mut |s, _| {
            replayed.push(s.iteration);
            Ok(())
        },
    )
    .unwrap();
    // The restored snapshots first, then the new ones, each once, in order.
    assert_eq!(replayed, (1..=sc.sim.iterations).collect::<Vec<_>>());
    assert_eq!(resumed.checkpoint.as_ref().unwrap().resumed_from, Some(at));
    resumed
}

fn check_resume(file: &str, overrides: &[&str], every: u64, at: u64) {
    let sc = scenario(file, overrides);
    let dir = tempfile::tempdir().unwrap();
    let a = straight(&sc);
    // Two threads for the resumed run: results depend on neither the split nor the stop.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let b = pool.install(|| stopped_and_resumed(&sc, dir.path(), every, at));
    assert_eq!(b.iterations, sc.sim.iterations);
    assert!(!b.interrupted);
    let (fa, fb) = (fingerprint(&a), fingerprint(&b));
    assert!(fa == fb, "{file} {overrides:?}: the resumed run differs");
}

#[test]
fn online_tmfq_batch_rule_on_agents_resumes_bitwise() {
    // Two chunks of agents (CHUNK = 2^16), the kernel memory of the batch rule carried over.
    check_resume(
        "scenarios/infection.toml",
        &[
            "sim.agents=70000",
            "sim.iterations=100",
            "learner.rule=batch",
        ],
        25,
        40,
    );
}

#[test]
fn online_tmfq_sampled_rule_on_agents_resumes_bitwise() {
    check_resume(
        "scenarios/gig.toml",
        &[
            "sim.agents=70000",
            "sim.iterations=100",
            "learner.rule=sampled",
        ],
        25,
        40,
    );
}

#[test]
fn online_tmfq_on_the_count_engine_resumes_bitwise() {
    for rule in ["batch", "sampled"] {
        check_resume(
            "scenarios/gig.toml",
            &[
                "sim.agents=1e9",
                "sim.engine=counts",
                "sim.iterations=100",
                &format!("learner.rule={rule}"),
            ],
            10,
            40,
        );
    }
}

#[test]
fn iql_and_mfq_resume_bitwise() {
    for algo in ["iql", "mfq"] {
        check_resume(
            "scenarios/gig.toml",
            &[
                &format!("learner.algo={algo}"),
                "sim.agents=70000",
                "sim.iterations=100",
            ],
            25,
            40,
        );
    }
}

#[test]
fn tmfq_and_gmbl_resume_bitwise() {
    check_resume(
        "scenarios/gig.toml",
        &[
            "learner.algo=tmfq",
            "learner.sim_agents=70000",
            "learner.max_sim_transitions=280000",
            "learner.mf_agents=100000",
            "sim.iterations=10",
        ],
        3,
        4,
    );
    check_resume(
        "scenarios/infection.toml",
        &["learner.algo=gmbl", "sim.iterations=100"],
        25,
        40,
    );
}

#[test]
fn a_run_can_be_continued_further() {
    // 40 iterations, then continued to 60: as a 60-iteration run.
    let dir = tempfile::tempdir().unwrap();
    let at = |k: &str| {
        scenario(
            "scenarios/gig.toml",
            &["sim.agents=5000", &format!("sim.iterations={k}")],
        )
    };
    let first = run::learn_checkpointed(
        &at("40"),
        &LearnOptions::default(),
        Some(&plan(dir.path(), Interval::Every(40), false)),
        &AtomicBool::new(false),
        &mut |_, _| Ok(()),
    )
    .unwrap();
    assert_eq!(first.checkpoint.unwrap().last_iteration, Some(40));
    let more = run::learn_checkpointed(
        &at("60"),
        &LearnOptions::default(),
        Some(&plan(dir.path(), Interval::Never, true)),
        &AtomicBool::new(false),
        &mut |_, _| Ok(()),
    )
    .unwrap();
    assert!(fingerprint(&more) == fingerprint(&straight(&at("60"))));
    // Fewer iterations than the checkpoint holds: refused by name.
    let e = run::learn_checkpointed(
        &at("30"),
        &LearnOptions::default(),
        Some(&plan(dir.path(), Interval::Never, true)),
        &AtomicBool::new(false),
        &mut |_, _| Ok(()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`sim.iterations`") && e.contains("iteration 40"),
        "{e}"
    );
}

#[test]
fn a_checkpoint_of_another_scenario_or_options_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["sim.agents=5000", "sim.iterations=20"];
    let sc = scenario("scenarios/gig.toml", &base);
    run::learn_checkpointed(
        &sc,
        &LearnOptions::default(),
        Some(&plan(dir.path(), Interval::Every(10), false)),
        &AtomicBool::new(false),
        &mut |_, _| Ok(()),
    )
    .unwrap();
    let resume = |sc: &Scenario, p: &CheckpointPlan| {
        run::learn_checkpointed(
            sc,
            &LearnOptions::default(),
            Some(p),
            &AtomicBool::new(false),
            &mut |_, _| Ok(()),
        )
        .unwrap_err()
        .to_string()
    };
    let p = plan(dir.path(), Interval::Never, true);
    let e = resume(
        &scenario(
            "scenarios/gig.toml",
            &[base[0], base[1], "model.gamma=0.95"],
        ),
        &p,
    );
    assert!(
        e.contains("state.ckpt") && e.contains("`model.gamma`") && e.contains("0.95"),
        "{e}"
    );
    let e = resume(
        &scenario("scenarios/gig.toml", &["sim.agents=6000", base[1]]),
        &p,
    );
    assert!(
        e.contains("`sim.agents`") && e.contains("5000") && e.contains("6000"),
        "{e}"
    );
    let e = resume(
        &scenario(
            "scenarios/gig.toml",
            &[base[0], base[1], "learner.algo=iql"],
        ),
        &p,
    );
    assert!(e.contains("`learner.algo`"), "{e}");
    let e = resume(&scenario("scenarios/infection.toml", &base), &p);
    assert!(e.contains("`name`") && e.contains("infection"), "{e}");
    let mut other = p.clone();
    other.options.insert("flush_every".into(), "5".into());
    let e = resume(&sc, &other);
    assert!(
        e.contains("`flush_every`") && e.contains("10") && e.contains('5'),
        "{e}"
    );
    // Exporting transitions cannot be checkpointed.
    let e = run::learn_checkpointed(
        &sc,
        &LearnOptions {
            export_fraction: Some(1.0),
        },
        Some(&p),
        &AtomicBool::new(false),
        &mut |_, _| Ok(()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`checkpoint`") && e.contains("transitions"),
        "{e}"
    );
    // A corrupt state file: the checksum names the section.
    let state = dir.path().join("state.ckpt");
    let mut bytes = std::fs::read(&state).unwrap();
    let n = bytes.len();
    bytes[n - 2000] ^= 0x10;
    std::fs::write(&state, &bytes).unwrap();
    let e = resume(&sc, &p);
    assert!(e.contains("state.ckpt") && e.contains("checksum"), "{e}");
    // No checkpoint at all.
    let empty = tempfile::tempdir().unwrap();
    let e = resume(&sc, &plan(empty.path(), Interval::Never, true));
    assert!(e.contains("state.ckpt"), "{e}");
}

/// The iteration of the checkpoint in `dir`, read from its header (None before the first).
fn checkpoint_iteration(dir: &Path) -> Option<u64> {
    let bytes = std::fs::read(dir.join("state.ckpt")).ok()?;
    let len = u64::from_le_bytes(bytes.get(12..20)?.try_into().ok()?) as usize;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(20..20 + len)?).ok()?;
    header["iteration"].as_u64()
}

fn summary_without_timings(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let m = v.as_object_mut().unwrap();
    for timing in [
        "seconds",
        "step_latency_ms",
        "agent_steps_per_second",
        "step_agent_steps_per_second",
        "checkpoint",
        "peak_rss_bytes",
        "bytes_per_agent",
        "close_outputs_seconds",
    ] {
        m.remove(timing);
    }
    v
}

#[test]
fn kill_9_then_resume_gives_the_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (killed, straight) = (tmp.path().join("killed"), tmp.path().join("straight"));
    let args = |out: &Path| {
        [
            "learn",
            "scenarios/infection.toml",
            "--agents",
            "4e5",
            "--iterations",
            "100",
            "--seed",
            "3",
            "--checkpoint-every",
            "40",
            "--flush-every",
            "10",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_mfgsim"))
        .args(args(&killed))
        .current_dir(root(""))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ckpt = killed.join("checkpoint");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while checkpoint_iteration(&ckpt).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before the kill"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(checkpoint_iteration(&ckpt), Some(40));
    assert!(!killed.join("summary.json").exists());
    // What a kill during a write leaves: a temporary file, removed by the resume.
    let temp = ckpt.join(".state.ckpt.tmp-1-0");
    std::fs::write(&temp, b"partial").unwrap();

    let mut resume = args(&killed);
    resume.truncate(resume.len() - 2);
    resume.extend(["--resume".to_string(), killed.to_str().unwrap().to_string()]);
    let r = mfgsim(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(
        out.contains("resumed from the checkpoint at iteration 40"),
        "{out}"
    );
    let s = mfgsim(
        &args(&straight)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));

    assert_eq!(
        summary_without_timings(&killed),
        summary_without_timings(&straight)
    );
    let (a, b) = (
        read_parquet(&killed.join("snapshots.parquet")).unwrap(),
        read_parquet(&straight.join("snapshots.parquet")).unwrap(),
    );
    assert_eq!((a.num_rows(), b.num_rows()), (100, 100));
    assert_eq!(
        a.i64_column("iteration").unwrap(),
        (1..=100).collect::<Vec<i64>>()
    );
    for name in b.column_names() {
        if name.ends_with("_seconds") {
            continue;
        }
        if let Ok(x) = b.f64_column(name) {
            let y = a.f64_column(name).unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&x), bits(&y), "column {name}");
        } else if let Ok(x) = b.i64_column(name) {
            assert_eq!(x, a.i64_column(name).unwrap(), "column {name}");
        }
    }
    // The streamed parts were replaced: none is left once snapshots.parquet is written.
    assert!(!killed.join("snapshots.parts").exists());
    assert!(!temp.exists());
}

#[test]
fn the_binary_refuses_what_cannot_be_resumed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let o = out.to_str().unwrap();
    let base = [
        "learn",
        "scenarios/gig.toml",
        "--agents",
        "2000",
        "--iterations",
        "10",
        "--quiet",
    ];
    let run = |extra: &[&str]| mfgsim(&[&base[..], extra].concat());
    let r = run(&["--checkpoint-every", "5", "--out", o]);
    assert!(r.status.success());
    let r = run(&["--resume", o, "--set", "model.gamma=0.95"]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("resuming from") && err.contains("`model.gamma`"),
        "{err}"
    );
    let r = run(&["--resume", o, "--flush-every", "3"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("`flush_every`"), "{err}");
    let r = run(&["--resume", o, "--export-transitions"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        r.status.code() == Some(2) && err.contains("--export-transitions"),
        "{err}"
    );
    let r = run(&["--resume", o, "--out", "elsewhere"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("different directories"), "{err}");
    let r = run(&["--checkpoint-every", "0", "--out", o]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("K >= 1"), "{err}");
    // The same command resumes (already complete: nothing left to do, same results).
    let r = run(&["--resume", o]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}

// ---------------------------------------------------------------------------------------
// finite-n: resume by skipping finished runs
// ---------------------------------------------------------------------------------------

use mfgsim::finite_n::{FiniteNParams, PolicySource, RunResult};
use mfgsim::run::checkpoint::StudyJournal;

fn without_seconds(runs: &[RunResult]) -> Vec<RunResult> {
    runs.iter()
        .map(|r| RunResult {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}

#[test]
fn a_stopped_finite_n_study_resumes_by_skipping_its_finished_runs() {
    let sc = scenario("scenarios/gig.toml", &[]);
    let params = FiniteNParams {
        agents: vec![300, 3000],
        seeds: 4,
        steps: 30,
        burn_in: 10,
        policy: PolicySource::Learned,
        bootstrap: 200,
        ..FiniteNParams::default()
    };
    let straight = run::finite_n(&sc, &params, &AtomicBool::new(false), &|_| {}).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("finite_n.runs");

    // First session: stopped after 3 runs, each journaled as it finishes.
    let (journal, none) = StudyJournal::open(&dir, &sc, &params, false).unwrap();
    assert!(none.is_empty());
    let stop = AtomicBool::new(false);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let first = run::finite_n(&sc, &params, &stop, &|r| {
        journal.save(r).unwrap();
        if done.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
            stop.store(true, Ordering::SeqCst);
        }
    })
    .unwrap();
    assert!(first.interrupted);
    let saved = done.load(Ordering::SeqCst);
    assert!((3..8).contains(&saved), "{saved}");

    // Second session: the journal's runs are reused, the rest run; as uninterrupted.
    let (journal, finished) = StudyJournal::open(&dir, &sc, &params, true).unwrap();
    assert_eq!(finished.len(), saved);
    let ran = std::sync::atomic::AtomicUsize::new(0);
    let second = run::finite_n_resumed(&sc, &params, &finished, &AtomicBool::new(false), &|_| {
        ran.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        8 - saved,
        "finished runs are not rerun"
    );
    assert_eq!(second.runs_reused, saved);
    assert_eq!(
        without_seconds(&second.report.runs),
        without_seconds(&straight.report.runs)
    );
    assert_eq!(second.report.fit, straight.report.fit);
    let means = |r: &run::FiniteNRun| {
        r.per_n
            .iter()
            .map(|g| (g.mean_l1, g.ci_l1))
            .collect::<Vec<_>>()
    };
    assert_eq!(means(&second), means(&straight));

    // Other settings are refused by name.
    for (other, key) in [
        (
            FiniteNParams {
                steps: 31,
                ..params.clone()
            },
            "`steps`",
        ),
        (
            FiniteNParams {
                policy: PolicySource::Tmfe,
                ..params.clone()
            },
            "`policy`",
        ),
        (
            FiniteNParams {
                keep_steps: false,
                ..params.clone()
            },
            "`keep_steps`",
        ),
    ] {
        let e = StudyJournal::open(&dir, &sc, &other, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("study.json") && e.contains(key), "{e}");
    }
    let e = StudyJournal::open(
        &dir,
        &scenario("scenarios/gig.toml", &["model.gamma=0.95"]),
        &params,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("`scenario`"), "{e}");
    // A larger grid reuses the runs it shares.
    let more = FiniteNParams {
        seeds: 5,
        ..params.clone()
    };
    let (_, finished) = StudyJournal::open(&dir, &sc, &more, true).unwrap();
    assert_eq!(finished.len(), saved);
    journal.clear().unwrap();
    assert!(!dir.exists());
}

#[test]
fn finite_n_resume_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let args = |out: &Path, resume: bool| {
        let mut v = vec![
            "finite-n",
            "scenarios/gig.toml",
            "--agents",
            "300,3000",
            "--seeds",
            "3",
            "--steps",
            "20",
            "--burn-in",
            "5",
            "-q",
            "--out",
            out.to_str().unwrap(),
        ];
        if resume {
            v.push("--resume");
        }
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let call = |v: Vec<String>| mfgsim(&v.iter().map(String::as_str).collect::<Vec<_>>());
    let r = call(args(&a, false));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // A complete study leaves no journal.
    assert!(!a.join("finite_n.runs").exists());
    // Pretend the study was killed after its first two runs: journal them by hand from a
    // library run, then resume through the binary.
    let sc = scenario("scenarios/gig.toml", &[]);
    let params = FiniteNParams {
        agents: vec![300, 3000],
        seeds: 3,
        steps: 20,
        burn_in: 5,
        ..FiniteNParams::default()
    };
    let (journal, _) = StudyJournal::open(&b.join("finite_n.runs"), &sc, &params, false).unwrap();
    let full = run::finite_n(&sc, &params, &AtomicBool::new(false), &|_| {}).unwrap();
    for r in &full.report.runs[..2] {
        journal.save(r).unwrap();
    }
    let r = call(args(&b, true));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(out.contains("resuming: 2 finished run(s)"), "{out}");
    let (ta, tb) = (
        read_parquet(&a.join("finite_n.parquet")).unwrap(),
        read_parquet(&b.join("finite_n.parquet")).unwrap(),
    );
    for col in ["mean_l1", "max_l1", "sd_l1", "bias_0", "var_9"] {
        assert_eq!(
            ta.f64_column(col).unwrap(),
            tb.f64_column(col).unwrap(),
            "{col}"
        );
    }
    // The complete study cleared its journal: --resume then simply starts afresh.
    assert!(!b.join("finite_n.runs").exists());
    // With other settings the binary refuses, naming the setting.
    let (journal, _) = StudyJournal::open(&b.join("finite_n.runs"), &sc, &params, false).unwrap();
    journal.save(&full.report.runs[0]).unwrap();
    let mut v = args(&b, true);
    v[7] = "21".into();
    let r = call(v);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        r.status.code() == Some(2) && err.contains("`steps`") && err.contains("20"),
        "{err}"
    );
}

/// Issue 20: `--resume` accepted a `history.bin` copied from another run (same scenario,
/// same size) and spliced its rows in.
#[test]
fn a_history_of_another_run_is_refused_on_resume() {
    let sc = scenario(
        "scenarios/gig.toml",
        &["sim.agents=5000", "sim.iterations=6"],
    );
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [&a, &b] {
        run::learn_checkpointed(
            &sc,
            &LearnOptions::default(),
            Some(&plan(dir.path(), Interval::Every(3), false)),
            &AtomicBool::new(false),
            &mut |_, _| Ok(()),
        )
        .unwrap();
    }
    std::fs::copy(b.path().join("history.bin"), a.path().join("history.bin")).unwrap();
    let longer = scenario(
        "scenarios/gig.toml",
        &["sim.agents=5000", "sim.iterations=8"],
    );
    let e = run::learn_checkpointed(
        &longer,
        &LearnOptions::default(),
        Some(&plan(a.path(), Interval::Every(3), true)),
        &AtomicBool::new(false),
        &mut |_, _| Ok(()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("history.bin") && e.contains("belongs to another run"),
        "{e}"
    );
    // A run's own history resumes.
    let e = run::learn_checkpointed(
        &longer,
        &LearnOptions::default(),
        Some(&plan(b.path(), Interval::Every(3), true)),
        &AtomicBool::new(false),
        &mut |_, _| Ok(()),
    );
    assert_eq!(e.unwrap().iterations, 8);
}
