//! The `[sim]` and `[learner]` tables as one declarative key table each ([`SIM_KEYS`],
//! [`LEARNER_KEYS`]): every key is spelled once, with how it is read, how its default is
//! shown and one line of help; the parser, the list of allowed keys and `mfgsim learn
//! --help` ([`key_docs`]) all come from it. Range checks stay on the parameter types
//! ([`SimParams`]'s below, [`LearnerParams::validate`]), which code-built parameters (the
//! Python package) pass through too.

use super::*;

/// One key of a table: its name, how it is read into `P` (absent: the default stays), how
/// `P`'s value is shown, and what it does.
pub struct Key<P: 'static> {
    /// The key as written in scenario files.
    pub key: &'static str,
    /// One line: which algorithms read it and what it means.
    pub help: &'static str,
    read: fn(&mut Fields<'_>, &mut P) -> Result<()>,
    show: fn(&P) -> String,
}

impl<P> std::fmt::Debug for Key<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("key", &self.key).finish()
    }
}

/// A key read with a [`Fields`] getter into a field, its default shown by `$show`.
macro_rules! key {
    ($key:literal, $get:ident, |$p:ident| $field:expr, $show:expr, $help:literal) => {
        Key {
            key: $key,
            help: $help,
            read: |f, $p| {
                if let Some(v) = f.$get($key)? {
                    $field = v;
                }
                Ok(())
            },
            show: |$p| ($show)(&$field),
        }
    };
}

fn plain<T: ToString>(v: &T) -> String {
    v.to_string()
}

fn debug(v: &f64) -> String {
    format!("{v:?}")
}

fn sci(v: &f64) -> String {
    format!("{v:e}")
}

fn sci_count(v: &u64) -> String {
    format!("{:e}", *v as f64)
}

/// The `[sim]` keys, in the order they are read (the first bad one is reported).
pub static SIM_KEYS: [Key<SimParams>; 4] = [
    key!(
        "agents",
        u64,
        |p| p.agents,
        plain,
        "N, real agents (online)"
    ),
    key!(
        "iterations",
        u64,
        |p| p.iterations,
        plain,
        "K, outer iterations"
    ),
    key!(
        "seed",
        u64,
        |p| p.seed,
        plain,
        "seed of every random stream"
    ),
    Key {
        key: "engine",
        help: "population simulator: agents | counts",
        read: |f, p| {
            p.engine = match f.string("engine")?.as_deref() {
                None => p.engine,
                Some("agents") => EngineKind::Agents,
                Some("counts") => EngineKind::Counts,
                Some(other) => {
                    return Err(f.error(
                        "engine",
                        format!("unknown engine `{other}`; expected \"agents\" or \"counts\""),
                    ))
                }
            };
            Ok(())
        },
        show: |p| format!("\"{}\"", p.engine.as_str()),
    },
];

/// The `[learner]` keys, in the order they are read (the first bad one is reported).
pub static LEARNER_KEYS: [Key<LearnerParams>; 21] = [
    Key {
        key: "algo",
        help: "online | tmfq | gmbl | iql | mfq",
        read: |f, p| {
            if let Some(name) = f.string("algo")? {
                p.algo = Algo::parse(&name).map_err(|r| f.error("algo", r))?;
            }
            Ok(())
        },
        show: |p| format!("\"{}\"", p.algo),
    },
    Key {
        key: "rule",
        help: "online: batch (all N as counts) | sampled (budget) | paper (Alg. 3 as written)",
        read: |f, p| {
            if let Some(name) = f.string("rule")? {
                p.rule = Rule::parse(&name).map_err(|r| f.error("rule", r))?;
            }
            Ok(())
        },
        show: |p| format!("\"{}\"", p.rule),
    },
    key!(
        "batch_samples",
        f64,
        |p| p.batch.samples,
        debug,
        "online batch: S, effective samples per (s, a) row"
    ),
    key!(
        "batch_memory",
        f64,
        |p| p.batch.memory,
        debug,
        "online batch: H, longest memory of a row in steps"
    ),
    key!(
        "batch_sweeps",
        usize,
        |p| p.batch.sweeps,
        plain,
        "online batch: K, most sweeps of eq. 6 per step"
    ),
    key!(
        "batch_drift",
        f64,
        |p| p.batch.drift,
        debug,
        "online batch: delta, L1 drift of a row's mean field that cuts its memory"
    ),
    key!(
        "batch_drift_gate",
        f64,
        |p| p.batch.drift_gate,
        debug,
        "online batch: G, a row of W samples tolerates drift sqrt(G/W)"
    ),
    key!(
        "budget",
        usize,
        |p| p.tq.budget,
        plain,
        "online, tmfq: most TQ updates per step"
    ),
    key!(
        "step_exponent",
        f64,
        |p| p.tq.step_exponent,
        debug,
        "online, tmfq: w in alpha = (1 + (1-gamma) n)^-w, (0.5, 1]"
    ),
    // `memory = inf` is TOML for "no cap".
    key!(
        "memory",
        f64,
        |p| p.tq.memory,
        debug,
        "online, tmfq: cap H on step-size counts, >= 1 or inf"
    ),
    key!(
        "sim_agents",
        usize,
        |p| p.tmfq.sim_agents,
        plain,
        "tmfq: M_sim simulated agents at the frozen z_k"
    ),
    key!(
        "inner_tol",
        f64,
        |p| p.tmfq.inner_tol,
        sci,
        "tmfq: eps1, stop when |Q_t - Q_(t-check)|_inf < eps1"
    ),
    key!(
        "check_every",
        u64,
        |p| p.tmfq.check_every,
        plain,
        "tmfq: simulator steps between two checks"
    ),
    key!(
        "max_sim_transitions",
        u64,
        |p| p.tmfq.max_sim_transitions,
        sci_count,
        "tmfq: cap on simulator transitions per iteration"
    ),
    key!(
        "mf_agents",
        u64,
        |p| p.tmfq.mf_agents,
        sci_count,
        "tmfq: M_mf states drawn from z_k for Next-MF"
    ),
    key!(
        "cold_start",
        bool,
        |p| p.tmfq.cold_start,
        plain,
        "tmfq: Q and counts start afresh at every k (Alg. 2 line 3)"
    ),
    key!(
        "gen_samples",
        u64,
        |p| p.gmbl.gen_samples,
        plain,
        "gmbl: M_gen samples of s' per (s, a) per iteration"
    ),
    key!(
        "value_tol",
        f64,
        |p| p.gmbl.value_tol,
        sci,
        "gmbl: tolerance of TQ-value iteration on P-hat"
    ),
    key!(
        "mfq_neighbours",
        usize,
        |p| p.mfq.neighbours,
        plain,
        "mfq: K, agents drawn per step for the mean-state view"
    ),
    key!(
        "mfq_bins",
        usize,
        |p| p.mfq.bins,
        plain,
        "mfq: equal-width bins of that mean over [0, |S|-1], <= 255"
    ),
    key!(
        "reset_on_regeneration",
        bool,
        |p| p.reset_on_regeneration,
        plain,
        "iql, mfq: a regenerated agent starts a new table"
    ),
];

/// A documented key: `table` (`"sim"` or `"learner"`), the key, its default as written in
/// TOML, one line of help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDoc {
    /// The table, without brackets.
    pub table: &'static str,
    /// The key.
    pub key: &'static str,
    /// The default, as TOML.
    pub default: String,
    /// What it does.
    pub help: &'static str,
}

/// Every `[sim]` and `[learner]` key with its default (from the library's `Default`s) and
/// help, in table order: what `mfgsim learn --help` lists.
pub fn key_docs() -> Vec<KeyDoc> {
    let mut out = docs("sim", &SIM_KEYS, &SimParams::default());
    out.extend(docs("learner", &LEARNER_KEYS, &LearnerParams::default()));
    out
}

fn docs<P>(table: &'static str, keys: &[Key<P>], defaults: &P) -> Vec<KeyDoc> {
    keys.iter()
        .map(|k| KeyDoc {
            table,
            key: k.key,
            default: (k.show)(defaults),
            help: k.help,
        })
        .collect()
}

/// Reads a table through its key list into `P::default()`, refusing unknown keys.
fn read_keys<P: Default>(f: &mut Fields<'_>, keys: &[Key<P>]) -> Result<P> {
    let mut p = P::default();
    for k in keys {
        (k.read)(f, &mut p)?;
    }
    Ok(p)
}

fn names<P>(keys: &[Key<P>]) -> Vec<&'static str> {
    keys.iter().map(|k| k.key).collect()
}

pub(super) fn parse_sim(path: &Path, t: toml::Table) -> Result<SimParams> {
    let mut f = Fields::new(path, "sim", t);
    let p = read_keys(&mut f, &SIM_KEYS)?;
    if p.agents == 0 {
        return Err(f.error("agents", "must be >= 1".into()));
    }
    if p.iterations == 0 {
        return Err(f.error("iterations", "must be >= 1".into()));
    }
    f.finish(&names(&SIM_KEYS))?;
    Ok(p)
}

pub(super) fn parse_learner(path: &Path, t: toml::Table) -> Result<LearnerParams> {
    let mut f = Fields::new(path, "learner", t);
    let p = read_keys(&mut f, &LEARNER_KEYS)?;
    f.finish(&names(&LEARNER_KEYS))?;
    p.validate().map_err(|e| e.in_file(path, "learner"))?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every documented default, written back as TOML, parses to the defaults: the help can
    /// show nothing the parser would read differently, and every key is read by its table.
    #[test]
    fn documented_defaults_parse_back_to_the_defaults() {
        let docs = key_docs();
        assert_eq!(docs.len(), SIM_KEYS.len() + LEARNER_KEYS.len());
        let mut text = String::from("[model]\nkind = \"infection\"\n");
        for table in ["sim", "learner"] {
            text.push_str(&format!("[{table}]\n"));
            for d in docs.iter().filter(|d| d.table == table) {
                text.push_str(&format!("{} = {}\n", d.key, d.default));
            }
        }
        let sc = Scenario::parse(&text, Path::new("keys.toml"), &[]).unwrap();
        assert_eq!(sc.sim, SimParams::default());
        assert_eq!(sc.learner, LearnerParams::default());
        // Each key changes what it names (a typo in a reader would leave the default).
        for (key, value) in [
            ("sim.agents", "7"),
            ("learner.mfq_bins", "3"),
            ("learner.memory", "inf"),
            ("learner.max_sim_transitions", "123456789"),
        ] {
            let sc = Scenario::parse(&text, Path::new("keys.toml"), &[format!("{key}={value}")])
                .unwrap();
            assert_ne!(
                (sc.sim, sc.learner),
                (SimParams::default(), LearnerParams::default()),
                "{key}"
            );
        }
        let names: std::collections::BTreeSet<_> = docs.iter().map(|d| d.key).collect();
        assert_eq!(names.len(), docs.len(), "a key is listed twice");
    }

    /// The README's `[learner]` table names every key the parser reads.
    #[test]
    fn the_readme_lists_every_learner_key() {
        let readme = include_str!("../../README.md");
        for k in &LEARNER_KEYS {
            assert!(
                readme.contains(&format!("| `{}` |", k.key)),
                "README.md's [learner] table lacks `{}`",
                k.key
            );
        }
    }
}
