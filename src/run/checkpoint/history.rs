//! `history.bin`: one fixed-size, checksummed record per snapshot, appended before each
//! `state.ckpt` and read back on resume up to the iteration the state names.

use super::format::{checksum, io_at};
use super::*;

// ---------------------------------------------------------------------------------------
// Snapshot history
// ---------------------------------------------------------------------------------------

/// Words of one history record for |S| states (the last word is its checksum).
pub(super) fn record_words(ns: usize) -> usize {
    ns + 26
}

pub(super) fn encode_snapshot(s: &Snapshot, out: &mut Vec<u64>) {
    let start = out.len();
    let f = |x: f64| x.to_bits();
    out.push(s.iteration);
    out.extend(s.z.iter().map(|&x| f(x)));
    out.extend([
        f(s.mean_state),
        f(s.l1_to_tmfe),
        f(s.w1_to_tmfe),
        f(s.consistency),
        f(s.exploitability.max),
        f(s.exploitability.weighted),
    ]);
    match s.agent_exploitability {
        Some(e) => out.extend([1, f(e.max), f(e.weighted)]),
        None => out.extend([0, 0, 0]),
    }
    out.extend([s.regenerated, u64::from(s.policy_changes)]);
    for l in [&s.ledger, &s.total] {
        out.extend([
            l.simulator_transitions,
            l.real_transitions,
            l.generative_samples,
            l.tq_updates,
        ]);
    }
    out.extend([
        s.inner_steps,
        u64::from(s.inner_converged),
        f(s.step_seconds),
        f(s.learn_seconds),
        f(s.eval_seconds),
    ]);
    let bytes: Vec<u8> = out[start..].iter().flat_map(|w| w.to_le_bytes()).collect();
    out.push(checksum(&bytes));
}

pub(super) fn decode_snapshot(words: &[u64], ns: usize) -> Option<Snapshot> {
    let (body, sum) = words.split_at(words.len() - 1);
    let bytes: Vec<u8> = body.iter().flat_map(|w| w.to_le_bytes()).collect();
    if checksum(&bytes) != sum[0] {
        return None;
    }
    let mut it = body.iter().copied();
    let mut next = || it.next().expect("record length checked");
    let f = f64::from_bits;
    let iteration = next();
    let z = (0..ns).map(|_| f(next())).collect();
    let (mean_state, l1_to_tmfe) = (f(next()), f(next()));
    let (w1_to_tmfe, consistency) = (f(next()), f(next()));
    let exploitability = Exploitability {
        max: f(next()),
        weighted: f(next()),
    };
    let (flag, max, weighted) = (next(), f(next()), f(next()));
    let agent_exploitability = (flag == 1).then_some(Exploitability { max, weighted });
    let regenerated = next();
    let policy_changes = u32::try_from(next()).ok()?;
    let mut ledger = || Ledger {
        simulator_transitions: next(),
        real_transitions: next(),
        generative_samples: next(),
        tq_updates: next(),
    };
    let (ledger, total) = (ledger(), ledger());
    Some(Snapshot {
        iteration,
        z,
        mean_state,
        l1_to_tmfe,
        w1_to_tmfe,
        consistency,
        exploitability,
        agent_exploitability,
        regenerated,
        policy_changes,
        ledger,
        total,
        inner_steps: next(),
        inner_converged: next() == 1,
        step_seconds: f(next()),
        learn_seconds: f(next()),
        eval_seconds: f(next()),
    })
}

pub(super) fn history_header(ns: usize, run_id: u64) -> Vec<u8> {
    let mut h = HISTORY_MAGIC.to_vec();
    h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(&(ns as u32).to_le_bytes());
    h.extend_from_slice(&run_id.to_le_bytes());
    h
}

/// The first `records` snapshots of a history file.
pub(super) fn read_history(
    path: &Path,
    ns: usize,
    records: u64,
    run_id: u64,
) -> Result<Vec<Snapshot>> {
    let bad = |reason: String| Error::Input {
        path: path.to_path_buf(),
        key: "history".into(),
        reason,
    };
    let mut f = BufReader::new(File::open(path).map_err(io_at(path))?);
    let header = history_header(ns, run_id);
    let mut found = vec![0u8; header.len()];
    f.read_exact(&mut found)
        .map_err(|_| bad("the file ends early".into()))?;
    let id_at = header.len() - 8;
    if found[..id_at] != header[..id_at] {
        return Err(bad(format!(
            "not the snapshot history of a {ns}-state run (format {FORMAT_VERSION})"
        )));
    }
    if found[id_at..] != header[id_at..] {
        return Err(bad(format!(
            "belongs to another run (run id {:016x}, the checkpoint's is {run_id:016x}); a \
             history is only valid with the state.ckpt written beside it: start afresh \
             without --resume",
            u64::from_le_bytes(found[id_at..].try_into().expect("8 bytes"))
        )));
    }
    let words = record_words(ns);
    let mut buf = vec![0u8; words * 8];
    let mut record = vec![0u64; words];
    let mut out = Vec::with_capacity(records.min(1 << 20) as usize);
    for i in 0..records {
        f.read_exact(&mut buf).map_err(|_| {
            bad(format!(
                "holds {i} snapshots, the checkpoint needs {records} (truncated)"
            ))
        })?;
        for (w, b) in record.iter_mut().zip(buf.chunks_exact(8)) {
            *w = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        }
        let s = decode_snapshot(&record, ns)
            .ok_or_else(|| bad(format!("snapshot {} is corrupt (checksum)", i + 1)))?;
        if s.iteration != i + 1 {
            return Err(bad(format!(
                "record {} holds iteration {}",
                i + 1,
                s.iteration
            )));
        }
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_round_trip_bitwise() {
        let s = Snapshot {
            iteration: 7,
            z: vec![0.25, 0.75],
            mean_state: 0.75,
            l1_to_tmfe: f64::NAN,
            w1_to_tmfe: 0.5,
            consistency: 1e-12,
            exploitability: Exploitability {
                max: 1e-300,
                weighted: -0.0,
            },
            agent_exploitability: Some(Exploitability {
                max: 2.0,
                weighted: 3.0,
            }),
            regenerated: 11,
            policy_changes: 2,
            ledger: Ledger {
                real_transitions: 5,
                ..Ledger::default()
            },
            total: Ledger {
                tq_updates: u64::MAX,
                ..Ledger::default()
            },
            inner_steps: 1,
            inner_converged: true,
            step_seconds: 0.5,
            learn_seconds: 0.25,
            eval_seconds: 0.125,
        };
        let mut words = Vec::new();
        encode_snapshot(&s, &mut words);
        assert_eq!(words.len(), record_words(2));
        let back = decode_snapshot(&words, 2).unwrap();
        assert!(back.l1_to_tmfe.is_nan());
        let (mut a, mut b) = (s.clone(), back.clone());
        (a.l1_to_tmfe, b.l1_to_tmfe) = (0.0, 0.0);
        assert_eq!(a, b);
        assert_eq!(back.exploitability.weighted.to_bits(), (-0.0f64).to_bits());
        words[3] ^= 1;
        assert!(decode_snapshot(&words, 2).is_none());
    }
}
