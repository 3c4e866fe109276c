//! Writing a run's checkpoints ([`Checkpointer`]) and opening one to resume ([`Resume`]):
//! the JSON header, the loop totals, and the checks that a checkpoint continues this run.

use super::format::{checksum, io_at, starts_with, SectionReader, SectionWriter};
use super::history::{encode_snapshot, history_header, read_history, record_words};
use super::manifest::{
    file_checksum, from_rank_zero, is_rank_state_file, rank_state_file, read_manifest, Manifest,
    RankFile, MANIFEST_FILE,
};
use super::*;
use crate::population::Collective;

/// The JSON header of `state.ckpt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Header {
    mfgsim_version: String,
    scenario: String,
    scenario_text: String,
    algo: String,
    options: BTreeMap<String, String>,
    iteration: u64,
    history_records: u64,
    /// The run's identity: random, drawn at a fresh start, kept by every resume, and
    /// written into `history.bin`'s header too.
    run_id: u64,
}

/// Loop totals saved with the state (not part of any algorithm).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Totals {
    pub ledger: Ledger,
    /// total_loop, step, learn, eval, output, checkpoint seconds of the previous segments.
    pub seconds: [f64; 6],
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// Writes the checkpoints of one run (see the module docs), or of this rank of a run sharded
/// over the ranks of `comm` (`manifest.rs`).
#[derive(Debug)]
pub(crate) struct Checkpointer<'c> {
    plan: CheckpointPlan,
    header: Header,
    /// `history.bin` (one process, or rank 0; `None` on the other ranks).
    history: Option<File>,
    /// The ranks of a sharded run.
    comm: Option<&'c dyn Collective>,
    /// This rank's state files still on disk, oldest first (sharded runs: at most two).
    rank_files: std::collections::VecDeque<PathBuf>,
    /// Records in `history` (and snapshots they cover).
    history_records: u64,
    last_end: Instant,
    last_write_seconds: f64,
    pub(crate) summary: CheckpointSummary,
}

impl<'c> Checkpointer<'c> {
    /// Prepares `plan.dir` for a fresh run (removing a previous checkpoint mfgsim wrote
    /// there) or for continuing the resumed one at `resumed` records (and, sharded, this
    /// rank's state file `resumed_file`). With `comm` every rank calls it at the same point
    /// (a fresh run's identity is rank 0's); rank 0 alone prepares the directory.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; [`Error::Output`] when `plan.dir` holds a
    /// `state.ckpt`, a rank's state file, `manifest.json` or `history.bin` that is not an
    /// mfgsim checkpoint.
    pub(crate) fn try_new(
        plan: &CheckpointPlan,
        sc: &Scenario,
        options: BTreeMap<String, String>,
        resumed: Option<(u64, u64)>,
        comm: Option<&'c dyn Collective>,
        resumed_file: Option<PathBuf>,
    ) -> Result<Self> {
        // (records, run id) of the resumed run; a fresh run draws its identity.
        let run_id = match (resumed, comm) {
            (Some((_, id)), _) => id,
            (None, Some(c)) => from_rank_zero(c, crate::output::random_id()),
            (None, None) => crate::output::random_id(),
        };
        let resumed = resumed.map(|(k, _)| k);
        let dir = &plan.dir;
        crate::output::ensure_real_dir(dir)?;
        let rank_files = resumed_file.into_iter().collect();
        if comm.is_some_and(|c| c.rank() != 0) {
            return Ok(Self::with(
                plan, sc, options, resumed, run_id, None, comm, rank_files,
            ));
        }
        let ns = sc.model.as_model().num_states();
        let (state, hist) = (dir.join(STATE_FILE), dir.join(HISTORY_FILE));
        for path in [&state, &hist] {
            if let Ok(m) = std::fs::symlink_metadata(path) {
                if !m.file_type().is_file() {
                    return Err(crate::output::not_a_plain_file(path, &m));
                }
            }
        }
        remove_stale_temps(dir)?;
        let history = match resumed {
            None => {
                // A previous sharded checkpoint: its rank files and manifest (mfgsim's only).
                let mut stale: Vec<(PathBuf, &[u8])> = Vec::new();
                for e in std::fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
                    if is_rank_state_file(&e.file_name().to_string_lossy()) {
                        stale.push((e.path(), &STATE_MAGIC[..]));
                    }
                }
                let manifest = dir.join(MANIFEST_FILE);
                if manifest.exists() {
                    read_manifest(dir).map_err(|_| Error::Output {
                        path: manifest.clone(),
                        reason: "is not an mfgsim checkpoint manifest; refusing to replace it \
                                 (move it or choose another --out)"
                            .into(),
                    })?;
                    std::fs::remove_file(&manifest).map_err(io_at(&manifest))?;
                }
                stale.push((state.clone(), &STATE_MAGIC[..]));
                stale.push((hist.clone(), &HISTORY_MAGIC[..]));
                for (path, magic) in &stale {
                    if path.exists() {
                        if !starts_with(path, magic)? {
                            return Err(Error::Output {
                                path: path.clone(),
                                reason: "is not an mfgsim checkpoint; refusing to replace it \
                                         (move it or choose another --out)"
                                    .into(),
                            });
                        }
                        std::fs::remove_file(path).map_err(io_at(path))?;
                    }
                }
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&hist)
                    .map_err(io_at(&hist))?;
                f.write_all(&history_header(ns, run_id))
                    .map_err(io_at(&hist))?;
                f.sync_data().map_err(io_at(&hist))?;
                f
            }
            Some(k) => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&hist)
                    .map_err(io_at(&hist))?;
                let keep =
                    history_header(ns, run_id).len() as u64 + k * record_words(ns) as u64 * 8;
                f.set_len(keep).map_err(io_at(&hist))?;
                if comm.is_some() {
                    // Rank files the manifest no longer names (older checkpoints of the
                    // segment before the resume; no rank writes before the next step).
                    let named: Vec<String> = read_manifest(dir)?
                        .files
                        .into_iter()
                        .map(|f| f.name)
                        .collect();
                    for e in std::fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        if is_rank_state_file(&name) && !named.contains(&name) {
                            let path = e.path();
                            std::fs::remove_file(&path).map_err(io_at(&path))?;
                        }
                    }
                }
                f
            }
        };
        let mut history = history;
        history.seek(SeekFrom::End(0)).map_err(io_at(&hist))?;
        Ok(Self::with(
            plan,
            sc,
            options,
            resumed,
            run_id,
            Some(history),
            comm,
            rank_files,
        ))
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the fields of a new checkpointer"
    )]
    fn with(
        plan: &CheckpointPlan,
        sc: &Scenario,
        options: BTreeMap<String, String>,
        resumed: Option<u64>,
        run_id: u64,
        history: Option<File>,
        comm: Option<&'c dyn Collective>,
        rank_files: std::collections::VecDeque<PathBuf>,
    ) -> Self {
        Checkpointer {
            plan: plan.clone(),
            header: Header {
                mfgsim_version: env!("CARGO_PKG_VERSION").to_string(),
                scenario: sc.name.clone(),
                scenario_text: sc.text.clone(),
                algo: sc.learner.algo.as_str().to_string(),
                options,
                iteration: resumed.unwrap_or(0),
                history_records: resumed.unwrap_or(0),
                run_id,
            },
            history,
            comm,
            rank_files,
            history_records: resumed.unwrap_or(0),
            last_end: Instant::now(),
            last_write_seconds: 0.0,
            summary: CheckpointSummary {
                resumed_from: resumed,
                ..CheckpointSummary::default()
            },
        }
    }

    /// Whether a checkpoint is due after iteration `k` (`auto` over ranks: rank 0's
    /// clock decides for all, one all-reduce).
    pub(crate) fn due(&self, k: u64) -> bool {
        match self.plan.every {
            Interval::Never => false,
            Interval::Every(every) => k.is_multiple_of(every),
            Interval::Auto => {
                let since = self.last_end.elapsed().as_secs_f64();
                let due =
                    since >= AUTO_MIN_SECONDS && since >= AUTO_COST_RATIO * self.last_write_seconds;
                match self.comm {
                    Some(c) => from_rank_zero(c, u64::from(due)) == 1,
                    None => due,
                }
            }
        }
    }

    /// Whether this run writes checkpoints at all.
    pub(crate) fn writes(&self) -> bool {
        self.plan.every != Interval::Never
    }

    /// Writes the checkpoint after the last of `snapshots`: the new history records (synced),
    /// then `state.ckpt` atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; the previous checkpoint is then still complete.
    pub(crate) fn write<M: Model + ?Sized>(
        &mut self,
        run: &dyn Algorithm,
        eval: &Evaluator<'_, M>,
        snapshots: &[Snapshot],
        totals: &Totals,
    ) -> Result<()> {
        let t0 = Instant::now();
        let k = snapshots.last().map_or(0, |s| s.iteration);
        let hist = self.plan.dir.join(HISTORY_FILE);
        if let Some(history) = self.history.as_mut() {
            let mut words = Vec::new();
            for s in &snapshots[self.history_records as usize..] {
                encode_snapshot(s, &mut words);
            }
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            history.write_all(&bytes).map_err(io_at(&hist))?;
            history.sync_data().map_err(io_at(&hist))?;
        }
        self.history_records = snapshots.len() as u64;

        let path = match self.comm {
            Some(c) => self.plan.dir.join(rank_state_file(c.rank(), c.size(), k)),
            None => self.plan.dir.join(STATE_FILE),
        };
        self.header.iteration = k;
        self.header.history_records = self.history_records;
        let mut file = AtomicFile::create(&path)?;
        {
            // A large buffer: the agents' column is written in few system calls.
            let mut out = BufWriter::with_capacity(8 << 20, file.writer());
            let json = serde_json::to_vec(&self.header).map_err(|e| Error::Output {
                path: path.clone(),
                reason: format!("encoding the header: {e}"),
            })?;
            let mut head = STATE_MAGIC.to_vec();
            head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            head.extend_from_slice(&(json.len() as u64).to_le_bytes());
            head.extend_from_slice(&json);
            head.extend_from_slice(&checksum(&json).to_le_bytes());
            out.write_all(&head).map_err(io_at(&path))?;
            let mut w = SectionWriter {
                out: &mut out,
                path: &path,
                sections: 0,
                scratch: Vec::new(),
            };
            run.save_state(&mut w)?;
            eval.save_state(&mut w)?;
            save_totals(&mut w, totals)?;
            let sections = w.sections;
            out.write_all(END_MAGIC).map_err(io_at(&path))?;
            out.write_all(&sections.to_le_bytes())
                .map_err(io_at(&path))?;
            out.flush().map_err(io_at(&path))?;
        }
        file.commit()?;
        if let Some(c) = self.comm {
            self.commit_ranks(c, &path, k)?;
        }
        let seconds = t0.elapsed().as_secs_f64();
        let s = &mut self.summary;
        s.written += 1;
        s.last_iteration = Some(k);
        s.state_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        s.write_seconds += seconds;
        s.max_write_seconds = s.max_write_seconds.max(seconds);
        self.last_write_seconds = seconds;
        self.last_end = Instant::now();
        Ok(())
    }
}

impl Checkpointer<'_> {
    /// After every rank wrote its state file for iteration `k` (this rank's at `path`): one
    /// all-reduce of every file's checksum and length, then rank 0 writes the manifest
    /// (atomically: the checkpoint's commit point), and this rank removes its file of two
    /// checkpoints ago (`manifest.rs`).
    fn commit_ranks(&mut self, comm: &dyn Collective, path: &Path, k: u64) -> Result<()> {
        let (rank, ranks) = (comm.rank(), comm.size());
        let (sum, len) = file_checksum(path)?;
        let mut words = vec![0u64; 2 * ranks];
        (words[rank], words[ranks + rank]) = (sum, len);
        comm.all_reduce_sum(&mut words);
        if rank == 0 {
            let manifest = Manifest {
                format_version: FORMAT_VERSION,
                mfgsim_version: env!("CARGO_PKG_VERSION").to_string(),
                ranks,
                iteration: k,
                run_id: self.header.run_id,
                files: (0..ranks)
                    .map(|r| RankFile {
                        name: rank_state_file(r, ranks, k),
                        checksum: words[r],
                        bytes: words[ranks + r],
                    })
                    .collect(),
            };
            let target = self.plan.dir.join(MANIFEST_FILE);
            let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Output {
                path: target.clone(),
                reason: format!("encoding the manifest: {e}"),
            })?;
            let mut file = AtomicFile::create(&target)?;
            file.writer().write_all(&json).map_err(io_at(&target))?;
            file.commit()?;
        }
        self.rank_files.push_back(path.to_path_buf());
        while self.rank_files.len() > 2 {
            if let Some(old) = self.rank_files.pop_front() {
                std::fs::remove_file(&old).map_err(io_at(&old))?;
            }
        }
        Ok(())
    }
}

pub(super) fn save_totals(w: &mut dyn StateWriter, t: &Totals) -> Result<()> {
    let l = &t.ledger;
    w.u64s(
        "ledger_total",
        &[
            l.simulator_transitions,
            l.real_transitions,
            l.generative_samples,
            l.tq_updates,
        ],
    )?;
    w.f64s("loop_seconds", &t.seconds)
}

pub(super) fn load_totals(r: &mut dyn StateReader) -> Result<Totals> {
    let mut l = [0u64; 4];
    r.u64s("ledger_total", &mut l)?;
    let mut seconds = [0.0; 6];
    r.f64s("loop_seconds", &mut seconds)?;
    Ok(Totals {
        ledger: Ledger {
            simulator_transitions: l[0],
            real_transitions: l[1],
            generative_samples: l[2],
            tq_updates: l[3],
        },
        seconds,
    })
}

/// Removes the temporary files of a `state.ckpt` write that a kill interrupted
/// (`AtomicFile` names them `.state.ckpt.tmp-` and random hex digits); they can be as large as the state.
pub(super) fn remove_stale_temps(dir: &Path) -> Result<()> {
    let prefix = format!(".{STATE_FILE}.tmp-");
    for e in std::fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // Also the temporaries of the ranks' state files and of the manifest.
        if name.starts_with(&prefix)
            || (name.starts_with(".state.rank-") && name.contains(".ckpt.tmp-"))
            || name.starts_with(&format!(".{MANIFEST_FILE}.tmp-"))
        {
            let path = e.path();
            std::fs::remove_file(&path).map_err(io_at(&path))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading and validation
// ---------------------------------------------------------------------------------------

/// An opened, validated checkpoint, positioned at its first section.
pub(crate) struct Resume {
    reader: SectionReader<BufReader<File>>,
    header: Header,
    started: Instant,
    /// Sharded: this rank's state file (named by the manifest).
    rank_file: Option<PathBuf>,
}

impl std::fmt::Debug for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resume")
            .field("path", &self.reader.path)
            .field("iteration", &self.header.iteration)
            .finish_non_exhaustive()
    }
}

/// The dotted keys of a TOML document with their values (arrays and inline values as TOML
/// text).
pub(super) fn flatten(text: &str) -> BTreeMap<String, String> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => walk(&key, t, out),
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(t) = text.parse::<toml::Table>() {
        walk("", &t, &mut out);
    }
    out
}

impl Resume {
    /// Opens `dir/state.ckpt` (with `comm`: the manifest, then this rank's file it names)
    /// and checks that it continues a run of `sc` with `options`.
    ///
    /// # Errors
    /// [`Error::Io`] when a file cannot be read; [`Error::Input`] naming the file and what
    /// differs: not a checkpoint, another format version, mfgsim version, scenario key,
    /// option, or a checkpoint beyond `sim.iterations`; sharded: a manifest of another
    /// number of ranks (naming both), or a rank's file whose checksum, length, iteration or
    /// run differs from the manifest's.
    pub(crate) fn open(
        dir: &Path,
        sc: &Scenario,
        options: &BTreeMap<String, String>,
        comm: Option<&dyn Collective>,
    ) -> Result<Self> {
        let started = Instant::now();
        let manifest = match comm {
            Some(c) => {
                super::check_sharded_resume(dir, c.size())?;
                Some(read_manifest(dir)?)
            }
            None => None,
        };
        let path = match (&manifest, comm) {
            (Some(m), Some(c)) => {
                let f = &m.files[c.rank()];
                let path = dir.join(&f.name);
                let (sum, len) = file_checksum(&path)?;
                if (sum, len) != (f.checksum, f.bytes) {
                    return Err(Error::Input {
                        path,
                        key: "checksum".into(),
                        reason: format!(
                            "{len} bytes with checksum {sum:016x}, the manifest {} says {} \
                             bytes with {:016x}: the file is damaged or of another checkpoint",
                            dir.join(MANIFEST_FILE).display(),
                            f.bytes,
                            f.checksum
                        ),
                    });
                }
                path
            }
            _ => dir.join(STATE_FILE),
        };
        let file = File::open(&path).map_err(io_at(&path))?;
        let mut reader = SectionReader {
            inp: BufReader::with_capacity(8 << 20, file),
            path: path.clone(),
            sections: 0,
            scratch: Vec::new(),
        };
        let mut magic = [0u8; 8];
        reader.read_exact("format", &mut magic)?;
        if &magic != STATE_MAGIC {
            return Err(reader.corrupt("format", "is not an mfgsim checkpoint"));
        }
        let mut v = [0u8; 4];
        reader.read_exact("format", &mut v)?;
        let version = u32::from_le_bytes(v);
        if version != FORMAT_VERSION {
            return Err(reader.corrupt(
                "format",
                format!(
                    "checkpoint format version {version}; this mfgsim reads version {FORMAT_VERSION}"
                ),
            ));
        }
        let len = reader.u64_raw("header")?;
        if len > 1 << 26 {
            return Err(reader.corrupt("header", format!("implausible length {len}")));
        }
        let mut json = vec![0u8; len as usize];
        reader.read_exact("header", &mut json)?;
        reader.check("header", checksum(&json))?;
        let header: Header = serde_json::from_slice(&json)
            .map_err(|e| reader.corrupt("header", format!("unreadable: {e}")))?;
        if let Some(m) = &manifest {
            if (header.iteration, header.run_id) != (m.iteration, m.run_id) {
                return Err(reader.corrupt(
                    "iteration",
                    format!(
                        "the file holds iteration {} of run {:016x}, the manifest iteration {} \
                         of run {:016x}",
                        header.iteration, header.run_id, m.iteration, m.run_id
                    ),
                ));
            }
        }
        let it = Resume {
            reader,
            header,
            started,
            rank_file: manifest.is_some().then_some(path),
        };
        it.validate(sc, options)?;
        Ok(it)
    }

    fn differs(&self, key: &str, saved: &str, now: &str) -> Error {
        self.reader.corrupt(
            key,
            format!(
                "the checkpoint was written with {saved}, this run has {now}; resume with the \
                 same scenario, --set values and flags, or start afresh without --resume"
            ),
        )
    }

    fn validate(&self, sc: &Scenario, options: &BTreeMap<String, String>) -> Result<()> {
        let h = &self.header;
        let version = env!("CARGO_PKG_VERSION");
        if h.mfgsim_version != version {
            return Err(self.differs(
                "mfgsim_version",
                &format!("mfgsim {}", h.mfgsim_version),
                &format!("mfgsim {version}"),
            ));
        }
        if h.scenario != sc.name {
            return Err(self.differs(
                "name",
                &format!("scenario `{}`", h.scenario),
                &format!("scenario `{}`", sc.name),
            ));
        }
        let (saved, now) = (flatten(&h.scenario_text), flatten(&sc.text));
        let keys: std::collections::BTreeSet<&String> = saved.keys().chain(now.keys()).collect();
        for key in keys {
            if FREE_KEYS.contains(&key.as_str()) {
                continue;
            }
            let (a, b) = (saved.get(key), now.get(key));
            if a != b {
                let show = |v: Option<&String>| v.map_or("no value".to_string(), |v| v.clone());
                return Err(self.differs(key, &show(a), &show(b)));
            }
        }
        let keys: std::collections::BTreeSet<&String> =
            h.options.keys().chain(options.keys()).collect();
        for key in keys {
            let (a, b) = (h.options.get(key), options.get(key));
            if a != b {
                let show = |v: Option<&String>| v.map_or("it unset".to_string(), |v| v.clone());
                return Err(self.differs(key, &show(a), &show(b)));
            }
        }
        if h.iteration > sc.sim.iterations {
            return Err(self.reader.corrupt(
                "sim.iterations",
                format!(
                    "the checkpoint is at iteration {}, beyond the {} asked for",
                    h.iteration, sc.sim.iterations
                ),
            ));
        }
        Ok(())
    }

    /// The checkpoint's iteration k.
    pub(crate) fn iteration(&self) -> u64 {
        self.header.iteration
    }

    /// The run's identity (see [`Header`]).
    pub(crate) fn run_id(&self) -> u64 {
        self.header.run_id
    }

    /// Sharded: this rank's state file (the checkpointer removes it in due course).
    pub(crate) fn rank_file(&self) -> Option<PathBuf> {
        self.rank_file.clone()
    }

    /// Reads the state into `run` and `eval`, then the loop totals and the k snapshots of
    /// the history.
    ///
    /// # Errors
    /// [`Error::Input`] naming the file and section for anything that does not fit (or is
    /// corrupt), [`Error::Io`] for read errors.
    pub(crate) fn load<M: Model + ?Sized>(
        mut self,
        dir: &Path,
        run: &mut dyn Algorithm,
        eval: &mut Evaluator<'_, M>,
        ns: usize,
    ) -> Result<(Totals, Vec<Snapshot>, f64)> {
        let r = &mut self.reader;
        run.load_state(r)?;
        eval.load_state(r)?;
        let totals = load_totals(r)?;
        let mut end = [0u8; 8];
        r.read_exact("end", &mut end)?;
        if &end[..4] != END_MAGIC
            || u32::from_le_bytes(end[4..].try_into().expect("4")) != r.sections
        {
            return Err(r.corrupt("end", "the sections do not end where the trailer says"));
        }
        if run.iterations() != self.header.iteration {
            return Err(r.corrupt(
                "iteration",
                format!(
                    "the header says {}, the algorithm's state {}",
                    self.header.iteration,
                    run.iterations()
                ),
            ));
        }
        let history = read_history(
            &dir.join(HISTORY_FILE),
            ns,
            self.header.history_records,
            self.header.run_id,
        )?;
        Ok((totals, history, self.started.elapsed().as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_of_another_mfgsim_version_or_format_is_refused() {
        use std::sync::atomic::AtomicBool;
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/gig.toml"));
        let o = [
            "sim.agents=1000".to_string(),
            "sim.iterations=3".to_string(),
        ];
        let sc = Scenario::load(path, &o).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let plan = CheckpointPlan {
            dir: dir.path().to_path_buf(),
            every: Interval::Every(1),
            resume: false,
            options: BTreeMap::new(),
        };
        let opts = crate::run::LearnOptions::default();
        crate::run::learn_checkpointed(
            &sc,
            &opts,
            Some(&plan),
            &AtomicBool::new(false),
            &mut |_, _| Ok(()),
        )
        .unwrap();
        let state = dir.path().join(STATE_FILE);
        let bytes = std::fs::read(&state).unwrap();
        let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
        let mut header: Header = serde_json::from_slice(&bytes[20..20 + len]).unwrap();
        header.mfgsim_version = "0.0.1".into();
        let json = serde_json::to_vec(&header).unwrap();
        let mut out = bytes[..12].to_vec();
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&checksum(&json).to_le_bytes());
        out.extend_from_slice(&bytes[20 + len + 8..]);
        std::fs::write(&state, &out).unwrap();
        let e = Resume::open(dir.path(), &sc, &BTreeMap::new(), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`mfgsim_version`")
                && e.contains("mfgsim 0.0.1")
                && e.contains(env!("CARGO_PKG_VERSION")),
            "{e}"
        );
        let other = FORMAT_VERSION + 1;
        out[8..12].copy_from_slice(&other.to_le_bytes());
        std::fs::write(&state, &out).unwrap();
        let e = Resume::open(dir.path(), &sc, &BTreeMap::new(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("format version {other}")), "{e}");
        std::fs::write(&state, b"hello").unwrap();
        let e = Resume::open(dir.path(), &sc, &BTreeMap::new(), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("truncated") || e.contains("not an mfgsim checkpoint"),
            "{e}"
        );
    }

    #[test]
    fn flatten_names_nested_keys() {
        let f = flatten("name = \"a\"\n[model]\ngamma = 0.9\n[sim]\nagents = 10\n");
        assert_eq!(f["model.gamma"], "0.9");
        assert_eq!(f["sim.agents"], "10");
        assert_eq!(f["name"], "\"a\"");
    }
}
