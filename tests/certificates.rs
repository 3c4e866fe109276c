//! The learners' certificates beside the L1 gap: every snapshot's consistency
//! ‖Φ(z, μ_k) − z‖₁ and Wasserstein-1 distance to z*, through the run layer into
//! `snapshots.parquet` (written and read back as `mfgsim learn` writes it) and the report
//! behind `summary.json`, for each kind of learner.

use mfgsim::operator::phi;
use mfgsim::output::{push_snapshot, read_parquet, snapshot_schema, write_parquet};
use mfgsim::output::{RunMetadata, TableBuilder};
use mfgsim::scenario::Scenario;
use mfgsim::space::{l1_distance, wasserstein1};
use mfgsim::KernelTables;

use crate::util::root;

/// Slack for the bounds L1/2 ≤ W1 ≤ (S − 1)·L1/2, which hold exactly for distributions of
/// equal mass; the empirical and exact mean fields sum to 1 up to rounding.
const ROUNDING: f64 = 1e-12;

#[test]
fn snapshots_parquet_carries_finite_certificates_within_the_l1_bounds() {
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "scenarios/infection.toml",
            "online",
            &["sim.agents=20000", "sim.iterations=6"],
        ),
        (
            "scenarios/gig.toml",
            "online",
            &["sim.agents=1e9", "sim.engine=counts", "sim.iterations=5"],
        ),
        (
            "scenarios/gig.toml",
            "iql",
            &["sim.agents=3000", "sim.iterations=4"],
        ),
        (
            "scenarios/infection.toml",
            "gmbl",
            &["sim.iterations=3", "learner.gen_samples=2000"],
        ),
        (
            "scenarios/gig.toml",
            "tmfq",
            &[
                "learner.sim_agents=20000",
                "learner.max_sim_transitions=100000",
                "learner.mf_agents=20000",
                "sim.iterations=2",
            ],
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (scenario, algo, extra) in cases {
        let name = format!("{algo} on {scenario}");
        let mut o = vec![format!("learner.algo={algo}"), "sim.seed=3".to_string()];
        o.extend(extra.iter().map(|s| s.to_string()));
        let sc = Scenario::load(&root(scenario), &o).unwrap();
        let model = sc.model.as_model();
        let ns = model.num_states();
        let report = crate::util::learn_to_end(&sc);

        // snapshots.parquet as the CLI writes it, read back.
        let mut rows = TableBuilder::new(snapshot_schema(ns), report.snapshots.len());
        for s in &report.snapshots {
            push_snapshot(&mut rows, s);
        }
        let path = dir.path().join(format!("{algo}-{ns}.parquet"));
        write_parquet(&path, &rows.finish(), &RunMetadata::new("", 3)).unwrap();
        let t = read_parquet(&path).unwrap();
        let names = t.column_names();
        let at = |c: &str| names.iter().position(|n| *n == c).unwrap();
        assert!(
            at("l1_to_tmfe") < at("w1_to_tmfe") && at("w1_to_tmfe") < at("consistency"),
            "{name}: {names:?}"
        );
        let l1 = t.f64_column("l1_to_tmfe").unwrap();
        let w1 = t.f64_column("w1_to_tmfe").unwrap();
        let consistency = t.f64_column("consistency").unwrap();
        assert_eq!(w1.len(), sc.sim.iterations as usize, "{name}");
        let s1 = (ns - 1) as f64;
        for (k, snap) in report.snapshots.iter().enumerate() {
            let (l, w, c) = (l1[k], w1[k], consistency[k]);
            assert!(
                l.is_finite() && w.is_finite() && c.is_finite(),
                "{name} row {k}"
            );
            assert!((0.0..=2.0 + ROUNDING).contains(&c), "{name} row {k}: {c}");
            // W1 ≥ TV = L1/2 (states are integers), and each of the S − 1 CDF gaps ≤ TV.
            assert!(
                w >= l / 2.0 - ROUNDING,
                "{name} row {k}: W1 {w} < L1/2 {l}/2"
            );
            assert!(
                w <= s1 * l / 2.0 + ROUNDING,
                "{name} row {k}: W1 {w} L1 {l}"
            );
            // The file holds the snapshot's values bit for bit, and W1 is of z against z*.
            assert_eq!(w.to_bits(), snap.w1_to_tmfe.to_bits(), "{name} row {k}");
            assert_eq!(c.to_bits(), snap.consistency.to_bits(), "{name} row {k}");
            assert_eq!(w, wasserstein1(&snap.z, &report.tmfe.z), "{name} row {k}");
        }

        // The report (summary.json) carries the last snapshot's certificates.
        let last = report.snapshots.last().unwrap();
        assert_eq!(report.consistency.to_bits(), last.consistency.to_bits());
        assert_eq!(report.w1_to_tmfe.to_bits(), last.w1_to_tmfe.to_bits());
        let summary = serde_json::to_value(&report).unwrap();
        assert_eq!(summary["consistency"].as_f64(), Some(last.consistency));
        assert_eq!(summary["w1_to_tmfe"].as_f64(), Some(last.w1_to_tmfe));
        // And the consistency is Φ's, recomputed here from the final strategy (for IQL the
        // population-average one) at the final mean field.
        let mut next = vec![0.0; ns];
        phi(
            &KernelTables::of(model, &report.z),
            &report.z,
            &report.policy,
            &mut next,
        );
        assert_eq!(report.consistency, l1_distance(&next, &report.z), "{name}");
    }
}
