//! The hostile-input corpus (`tests/bad_inputs/`) through the built binary, and the output
//! directory rules (mfgsim deletes or overwrites only files it wrote).
//!
//! Each case is `NAME.case`: a `# comment`, `args = …` (split on whitespace; `{toml}` is
//! `NAME.toml` beside it, `{bin}` is `NAME.bin`, `{S}` the bundled scenarios, `{dir}` the
//! corpus directory, `{out}` a fresh temporary directory), `status = N` and any number of
//! `expect = SUBSTRING` lines, each of which must appear in stdout or stderr. Every case
//! must end within [`CASE_TIMEOUT`] and never panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{mfgsim, root};

/// Longest a single case may run (they take milliseconds; the cap turns a hang into a
/// failure instead of a stuck test).
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// A parsed `NAME.case`.
#[derive(Debug)]
struct Case {
    name: String,
    args: Vec<String>,
    status: i32,
    expect: Vec<String>,
}

fn load_cases(dir: &Path) -> Vec<Case> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(p).unwrap();
            let (mut args, mut status, mut expect) = (None, None, Vec::new());
            for line in text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
            {
                let (k, v) = line
                    .split_once(" = ")
                    .unwrap_or_else(|| panic!("{name}: bad line {line:?}"));
                match k {
                    "args" => args = Some(v.split_whitespace().map(String::from).collect()),
                    "status" => status = Some(v.parse().unwrap()),
                    "expect" => expect.push(v.to_string()),
                    other => panic!("{name}: unknown field {other}"),
                }
            }
            Case {
                args: args.unwrap_or_else(|| panic!("{name}: no args")),
                status: status.unwrap_or_else(|| panic!("{name}: no status")),
                expect,
                name,
            }
        })
        .collect()
}

/// Output of one run of the binary: status (None when killed), stdout, stderr.
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
    seconds: f64,
}

/// Runs mfgsim with `args` in the crate root, output to files (no pipe can fill up), killed
/// after [`CASE_TIMEOUT`].
fn run_mfgsim(args: &[String], scratch: &Path) -> Run {
    let (out_path, err_path) = (scratch.join("stdout"), scratch.join("stderr"));
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mfgsim"))
        .args(args)
        .current_dir(root(""))
        .env("COLUMNS", "100")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("spawn mfgsim");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if t0.elapsed() > CASE_TIMEOUT {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        status,
        stdout: String::from_utf8_lossy(&std::fs::read(out_path).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(err_path).unwrap()).into_owned(),
        seconds: t0.elapsed().as_secs_f64(),
    }
}

#[test]
fn every_hostile_input_fails_cleanly_with_its_message() {
    let dir = root("tests/bad_inputs");
    let cases = load_cases(&dir);
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    for case in &cases {
        let scratch = tempfile::tempdir().unwrap();
        let out = scratch.path().join("out");
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| {
                a.replace(
                    "{toml}",
                    &dir.join(format!("{}.toml", case.name)).to_string_lossy(),
                )
                .replace(
                    "{bin}",
                    &dir.join(format!("{}.bin", case.name)).to_string_lossy(),
                )
                .replace("{S}", &root("scenarios").to_string_lossy())
                .replace("{dir}", &dir.to_string_lossy())
                .replace("{out}", &out.to_string_lossy())
            })
            .collect();
        let run = run_mfgsim(&args, scratch.path());
        let both = format!("{}{}", run.stdout, run.stderr);
        *statuses.entry(run.status).or_insert(0) += 1;
        let mut problems = Vec::new();
        if run.status != Some(case.status) {
            problems.push(format!("status {:?}, expected {}", run.status, case.status));
        }
        if both.contains("panicked") || both.contains("RUST_BACKTRACE") {
            problems.push("panicked".into());
        }
        for e in &case.expect {
            if !both.contains(e.as_str()) {
                problems.push(format!("missing {e:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({:.2} s): {}\n  args: {}\n  stdout: {}\n  stderr: {}",
                case.name,
                run.seconds,
                problems.join("; "),
                args.join(" "),
                run.stdout.trim_end(),
                run.stderr.trim_end()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // Every status is 0, 1 or 2: no signal, no abort (134), no OOM kill (137).
    assert!(
        statuses.keys().all(|s| matches!(s, Some(0..=2))),
        "{statuses:?}"
    );
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Issue 13: `learn` removed `DIR/transitions/` whole, a user's files included.
#[test]
fn learn_never_deletes_files_it_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    let out = d.to_str().unwrap();
    std::fs::create_dir_all(d.join("transitions")).unwrap();
    std::fs::create_dir_all(d.join("snapshots.parts")).unwrap();
    std::fs::write(d.join("transitions/mine.txt"), "x").unwrap();
    let learn = |extra: &[&str]| {
        let mut args = vec![
            "learn",
            "scenarios/gig.toml",
            "--agents",
            "1e4",
            "--iterations",
            "3",
            "--quiet",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        mfgsim(&args)
    };
    // Without the export, transitions/ is not this run's: left alone.
    let o = learn(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(d.join("transitions/mine.txt")).unwrap(),
        "x"
    );
    // With it, the foreign file is refused, before any work, and kept.
    let o = learn(&["--export-transitions"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("transitions/mine.txt: not written by mfgsim"),
        "{t}"
    );
    assert!(t.contains("choose another output directory"), "{t}");
    assert!(d.join("transitions/mine.txt").exists());
    // Once the user moves it, reruns replace their own parts.
    std::fs::remove_file(d.join("transitions/mine.txt")).unwrap();
    for _ in 0..2 {
        let o = learn(&["--export-transitions"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(d.join("transitions/part-00000.parquet").exists());
    }
    // A foreign file among the snapshot parts is refused too.
    std::fs::create_dir_all(d.join("snapshots.parts")).unwrap();
    std::fs::write(d.join("snapshots.parts/notes.md"), "mine").unwrap();
    let o = learn(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("snapshots.parts/notes.md: not written by mfgsim"));
    assert!(d.join("snapshots.parts/notes.md").exists());
}

#[test]
fn commands_refuse_to_overwrite_foreign_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    // solve: a summary.json that is not ours.
    let d = tmp.path().join("solve");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("summary.json"), "{\"my\": \"notes\"}").unwrap();
    let o = mfgsim(&["solve", "scenarios/gig.toml", "--out", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("summary.json: exists and was not written by mfgsim"));
    assert_eq!(
        std::fs::read_to_string(d.join("summary.json")).unwrap(),
        "{\"my\": \"notes\"}"
    );
    assert!(!d.join("trajectory.parquet").exists());
    // Its own files are replaced by a rerun.
    std::fs::remove_file(d.join("summary.json")).unwrap();
    for _ in 0..2 {
        let o = mfgsim(&["solve", "scenarios/gig.toml", "--out", d.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    // finite-n: a foreign file under a name it would write.
    let f = tmp.path().join("study");
    std::fs::create_dir_all(&f).unwrap();
    std::fs::write(f.join("finite_n_steps.parquet"), "not parquet").unwrap();
    let o = mfgsim(&[
        "finite-n",
        "scenarios/gig.toml",
        "--agents",
        "100",
        "--seeds",
        "2",
        "--steps",
        "5",
        "--burn-in",
        "1",
        "--quiet",
        "--no-steps-file",
        "--out",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("finite_n_steps.parquet: exists and was not written by mfgsim"));
    assert_eq!(
        std::fs::read_to_string(f.join("finite_n_steps.parquet")).unwrap(),
        "not parquet"
    );
}

/// Issue 13: a scenario `name` of "../../escape" wrote outside `out/`.
#[test]
fn a_scenario_name_cannot_leave_the_output_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("a/b");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join("n.toml"),
        "name = \"../../escape\"\n[model]\nkind = \"gig\"\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_mfgsim"))
        .args(["solve", "n.toml"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!tmp.path().join("a/escape").exists());
    assert!(!work.join("out").exists(), "nothing written");
}

/// Issue 20: two runs into one output directory both exited 0, one run's snapshots beside
/// the other's summary. The directory is now locked for the run: while this process holds
/// the lock, every command that writes there is refused with the holder's pid, writing
/// nothing.
#[test]
fn a_second_run_into_a_locked_directory_is_refused_with_the_pid() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("busy");
    let lock = mfgsim::output::DirLock::acquire(&d).unwrap();
    let out = d.to_str().unwrap();
    let pid = format!("pid {}", std::process::id());
    let commands: [&[&str]; 5] = [
        &[
            "learn",
            "scenarios/gig.toml",
            "--agents",
            "1e3",
            "--iterations",
            "2",
            "--quiet",
        ],
        &["solve", "scenarios/gig.toml"],
        &["equilibria", "scenarios/adoption.toml"],
        &[
            "finite-n",
            "scenarios/gig.toml",
            "--agents",
            "100",
            "--seeds",
            "2",
            "--steps",
            "5",
            "--burn-in",
            "1",
            "--quiet",
        ],
        &[
            "sweep",
            "scenarios/gig.toml",
            "--grid",
            "model.gamma=0.5,0.6",
            "--quiet",
        ],
    ];
    for args in commands {
        let mut args = args.to_vec();
        args.extend(["--out", out]);
        let o = mfgsim(&args);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
        assert!(
            t.contains("in use by another mfgsim run") && t.contains(&pid),
            "{t}"
        );
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            [mfgsim::output::LOCK_FILE],
            "{args:?} wrote into the locked directory"
        );
    }
    drop(lock);
    let o = mfgsim(&["solve", "scenarios/gig.toml", "--out", out]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !d.join(mfgsim::output::LOCK_FILE).exists(),
        "the lock file goes with the run"
    );
}

/// Issue 20: a refused `learn` (here: too many agents for the memory) left an empty
/// `snapshots.parts/` behind.
#[test]
fn refused_runs_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("refused");
    let o = mfgsim(&[
        "learn",
        "scenarios/gig.toml",
        "--agents",
        "1e11",
        "--iterations",
        "2",
        "--quiet",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!d.join("snapshots.parts").exists(), "{}", text(&o));
    assert!(
        !d.exists(),
        "the directory this run created is removed again"
    );
    // With the default directories (`cargo test` left out/<name>/... in the clone): a
    // refused learn and a refused finite-n (its journal's study.json) leave no `out/`.
    let gig = root("scenarios/gig.toml");
    for args in [
        &["learn", "--agents", "1e11", "--iterations", "2", "--quiet"][..],
        &[
            "finite-n", "--agents", "1e12", "--seeds", "2", "--steps", "5", "--quiet",
        ],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_mfgsim"))
            .arg(args[0])
            .arg(&gig)
            .args(&args[1..])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(!tmp.path().join("out").exists(), "{args:?} left out/");
    }
}

/// Issue 20: a symlinked sweep run directory sent a run's files outside `--out`; a
/// finite-n journal folder that is a link had its `study.json` deleted; `plot --out`
/// replaced any file.
#[cfg(unix)]
#[test]
fn no_writer_follows_a_link_or_replaces_a_foreign_file() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(
        outside.join("summary.json"),
        "{\"mfgsim_version\": \"mine\"}",
    )
    .unwrap();
    std::fs::write(outside.join("study.json"), "{\"mfgsim_version\": \"mine\"}").unwrap();
    // A sweep whose run directory is a planted link.
    let sw = tmp.path().join("sweep");
    let sweep = |dir: &Path| {
        mfgsim(&[
            "sweep",
            "scenarios/gig.toml",
            "--grid",
            "model.gamma=0.5,0.6",
            "--quiet",
            "--out",
            dir.to_str().unwrap(),
        ])
    };
    let o = sweep(&sw);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run = std::fs::read_dir(sw.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_dir_all(&run).unwrap();
    symlink(&outside, &run).unwrap();
    let o = sweep(&sw);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        2,
        "nothing written outside"
    );
    // A finite-n journal folder that is a link.
    let f = tmp.path().join("study");
    std::fs::create_dir(&f).unwrap();
    symlink(&outside, f.join("finite_n.runs")).unwrap();
    let o = mfgsim(&[
        "finite-n",
        "scenarios/gig.toml",
        "--agents",
        "100",
        "--seeds",
        "2",
        "--steps",
        "5",
        "--burn-in",
        "1",
        "--quiet",
        "--out",
        f.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(outside.join("study.json").exists(), "{}", text(&o));
    // plot --out over a foreign file, and through a link.
    let solved = tmp.path().join("solved");
    let o = mfgsim(&[
        "solve",
        "scenarios/gig.toml",
        "--out",
        solved.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let notes = tmp.path().join("notes.png");
    std::fs::write(&notes, "my notes").unwrap();
    let link = tmp.path().join("link.svg");
    symlink(outside.join("summary.json"), &link).unwrap();
    for target in [&notes, &link] {
        let o = mfgsim(&[
            "plot",
            solved.to_str().unwrap(),
            "--out",
            target.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("refusing to overwrite"), "{}", text(&o));
    }
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes");
    assert_eq!(
        std::fs::read_to_string(outside.join("summary.json")).unwrap(),
        "{\"mfgsim_version\": \"mine\"}"
    );
    // Its own charts are replaced.
    let chart = tmp.path().join("chart.svg");
    for _ in 0..2 {
        let o = mfgsim(&[
            "plot",
            solved.to_str().unwrap(),
            "--out",
            chart.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
}
