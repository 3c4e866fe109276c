//! The finite-N study's journal: one file per finished (N, seed) run, so a study resumes
//! by skipping them.

use super::format::{checksum, io_at, starts_with};
use super::*;

// ---------------------------------------------------------------------------------------
// The finite-N study's journal
// ---------------------------------------------------------------------------------------

/// The journal file of a study's settings in its journal directory.
pub const STUDY_FILE: &str = "study.json";
pub(super) const RUN_MAGIC: &[u8; 8] = b"MFGSIMRN";

/// The finished runs of a finite-N study, one file per run (`run-N-SEED.bin`, written
/// atomically as each run finishes), so a study that is stopped or killed resumes by
/// skipping them ([`crate::finite_n::run_study_resumed`]).
///
/// `study.json` holds what a run's result depends on: the mfgsim version, the effective
/// scenario, T, B, the strategy, the engine, whether steps are kept and (learned strategy)
/// the `[learner]` knobs; the grid and the number of seeds may change between sessions (a
/// larger grid reuses the runs it shares).
#[derive(Debug)]
pub struct StudyJournal {
    dir: PathBuf,
}

impl StudyJournal {
    /// What a study's run results depend on, by name.
    pub fn settings(sc: &Scenario, params: &FiniteNParams) -> BTreeMap<String, String> {
        let learned = params.policy == PolicySource::Learned;
        BTreeMap::from([
            ("mfgsim_version".into(), env!("CARGO_PKG_VERSION").into()),
            ("scenario".into(), sc.text.clone()),
            ("steps".into(), params.steps.to_string()),
            ("burn_in".into(), params.burn_in.to_string()),
            ("policy".into(), params.policy.as_str().into()),
            ("engine".into(), params.engine.as_str().into()),
            ("keep_steps".into(), params.keep_steps.to_string()),
            (
                "learner".into(),
                if learned {
                    // What `run::finite_n` runs with: the scenario's `[learner]` table.
                    serde_json::to_string(&sc.learner).unwrap_or_default()
                } else {
                    String::new()
                },
            ),
        ])
    }

    /// Opens the journal in `dir` for a study of `sc` with `params`. With `resume`, checks
    /// `study.json` against these settings and returns the finished runs; without, removes
    /// a previous journal mfgsim wrote there and starts an empty one.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Input`] naming `study.json` and the setting that differs, or a
    /// run file that is corrupt; [`Error::Output`] for files there that mfgsim did not write.
    pub fn open(
        dir: &Path,
        sc: &Scenario,
        params: &FiniteNParams,
        resume: bool,
    ) -> Result<(Self, Vec<RunResult>)> {
        let settings = Self::settings(sc, params);
        let study = dir.join(STUDY_FILE);
        let journal = StudyJournal {
            dir: dir.to_path_buf(),
        };
        let ns = sc.model.as_model().num_states();
        if let Ok(m) = std::fs::symlink_metadata(dir) {
            if !m.file_type().is_dir() {
                return Err(crate::output::not_a_plain_file(dir, &m));
            }
        }
        if resume && study.exists() {
            let text = std::fs::read_to_string(&study).map_err(io_at(&study))?;
            let saved: BTreeMap<String, String> =
                serde_json::from_str(&text).map_err(|e| Error::Input {
                    path: study.clone(),
                    key: "settings".into(),
                    reason: format!("unreadable: {e}"),
                })?;
            // The telling keys first (a policy change also changes `learner`).
            let order = [
                "mfgsim_version",
                "scenario",
                "engine",
                "policy",
                "steps",
                "burn_in",
                "keep_steps",
            ];
            let mut keys: Vec<&String> = settings.keys().chain(saved.keys()).collect();
            keys.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(order.len()));
            for key in keys {
                let (a, b) = (saved.get(key), settings.get(key));
                if a != b {
                    let what = if key == "scenario" {
                        "another scenario or --set values".to_string()
                    } else {
                        format!(
                            "{}, this study has {}",
                            a.filter(|v| !v.is_empty()).map_or("none", |v| v),
                            b.filter(|v| !v.is_empty()).map_or("none", |v| v)
                        )
                    };
                    return Err(Error::Input {
                        path: study.clone(),
                        key: key.clone(),
                        reason: format!(
                            "the finished runs were made with {what}; resume with the same \
                             settings, or start afresh without --resume"
                        ),
                    });
                }
            }
            let runs = journal.read_runs(ns)?;
            return Ok((journal, runs));
        }
        journal.clear()?;
        crate::output::ensure_real_dir(dir)?;
        let text = serde_json::to_string_pretty(&settings).map_err(|e| Error::Output {
            path: study.clone(),
            reason: e.to_string(),
        })?;
        let mut f = AtomicFile::create(&study)?;
        f.write_all(text.as_bytes()).map_err(io_at(&study))?;
        f.commit()?;
        Ok((journal, Vec::new()))
    }

    fn run_path(&self, agents: u64, seed: u64) -> PathBuf {
        self.dir.join(format!("run-{agents}-{seed}.bin"))
    }

    /// Saves one finished run, atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn save(&self, r: &RunResult) -> Result<()> {
        let path = self.run_path(r.agents, r.seed);
        let mut words = vec![r.agents, r.replicate as u64, r.seed, r.recorded];
        let f = |x: f64| x.to_bits();
        words.extend([f(r.mean_l1), f(r.max_l1), f(r.sd_l1), f(r.seconds)]);
        words.push(r.bias.len() as u64);
        words.extend(r.bias.iter().chain(&r.variance).map(|&x| f(x)));
        let expl = |e: Option<Exploitability>| match e {
            Some(e) => [1, f(e.max), f(e.weighted)],
            None => [0, 0, 0],
        };
        words.extend(expl(r.mean_exploitability));
        words.push(r.steps.len() as u64);
        for s in &r.steps {
            words.extend([s.t, f(s.l1)]);
            words.extend(s.z.iter().map(|&x| f(x)));
            words.extend(expl(s.exploitability));
        }
        let mut bytes = RUN_MAGIC.to_vec();
        bytes.extend(words.iter().flat_map(|w| w.to_le_bytes()));
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        let mut file = AtomicFile::create(&path)?;
        file.write_all(&bytes).map_err(io_at(&path))?;
        file.commit()
    }

    /// The runs in the journal, sorted by (N, seed).
    fn read_runs(&self, ns: usize) -> Result<Vec<RunResult>> {
        let mut runs = Vec::new();
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(io_at(&self.dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("run-") && n.ends_with(".bin"))
            })
            .collect();
        names.sort();
        for path in names {
            let bytes = std::fs::read(&path).map_err(io_at(&path))?;
            let run = decode_run(&bytes, ns).ok_or_else(|| Error::Input {
                path: path.clone(),
                key: "run".into(),
                reason: "corrupt or of another size; delete it and resume again".into(),
            })?;
            runs.push(run);
        }
        runs.sort_by_key(|r| (r.agents, r.seed));
        Ok(runs)
    }

    /// Removes the journal's files (after the study's outputs are written, or before a
    /// fresh study); files mfgsim did not write are left, and the directory with them.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn clear(&self) -> Result<()> {
        // Never through a link: a journal folder that is one is not ours to empty.
        if !std::fs::symlink_metadata(&self.dir).is_ok_and(|m| m.file_type().is_dir()) {
            return Ok(());
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(());
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            // Regular files only (a link is never followed), and only by content: a
            // `study.json` of ours has the `mfgsim_version` key, a run file its magic.
            if !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let ours = (name == STUDY_FILE && crate::output::written_by_mfgsim(&path))
                || (name.starts_with("run-")
                    && name.ends_with(".bin")
                    && starts_with(&path, RUN_MAGIC)?);
            if ours {
                std::fs::remove_file(&path).map_err(io_at(&path))?;
            }
        }
        // Only succeeds when nothing else is left.
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }
}

pub(super) fn decode_run(bytes: &[u8], ns: usize) -> Option<RunResult> {
    if bytes.len() < 16 || &bytes[..8] != RUN_MAGIC || !bytes.len().is_multiple_of(8) {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if checksum(body) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let words: Vec<u64> = body[8..]
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    let mut it = words.into_iter();
    let mut next = || it.next();
    let f = f64::from_bits;
    let (agents, replicate, seed, recorded) = (next()?, next()?, next()?, next()?);
    let (mean_l1, max_l1, sd_l1, seconds) = (f(next()?), f(next()?), f(next()?), f(next()?));
    if next()? != ns as u64 {
        return None;
    }
    let bias = (0..ns).map(|_| next().map(f)).collect::<Option<Vec<_>>>()?;
    let variance = (0..ns).map(|_| next().map(f)).collect::<Option<Vec<_>>>()?;
    let expl = |next: &mut dyn FnMut() -> Option<u64>| -> Option<Option<Exploitability>> {
        let (flag, max, weighted) = (next()?, f(next()?), f(next()?));
        Some((flag == 1).then_some(Exploitability { max, weighted }))
    };
    let mean_exploitability = expl(&mut next)?;
    let count = next()?;
    let mut steps = Vec::with_capacity(count.min(1 << 20) as usize);
    for _ in 0..count {
        let (t, l1) = (next()?, f(next()?));
        let z = (0..ns).map(|_| next().map(f)).collect::<Option<Vec<_>>>()?;
        steps.push(StepRecord {
            t,
            l1,
            z,
            exploitability: expl(&mut next)?,
        });
    }
    if next().is_some() {
        return None;
    }
    Some(RunResult {
        agents,
        replicate: usize::try_from(replicate).ok()?,
        seed,
        mean_l1,
        max_l1,
        sd_l1,
        bias,
        variance,
        mean_exploitability,
        recorded,
        steps,
        seconds,
    })
}
