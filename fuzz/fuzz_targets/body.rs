// The body of the `scenario` fuzz target, also replayed over the committed corpus by the
// crate's test `fuzz_corpus` (which `include!`s this file), so a finding fixed once stays
// fixed without libFuzzer.
//
// Input: scenario TOML text, then `--set` overrides, separated by NUL bytes (invalid UTF-8
// is replaced, so the fuzzer explores the parser rather than the decoder). Each execution
// parses and validates; a scenario small enough (|S| ≤ 40, |A| ≤ 8) is solved with capped
// T-BR (≤ 200 iterations, ≤ 5000 sweeps per TQ-value iteration) and, for |S| ≤ 12, checked
// with one random pair. Invariants asserted: a validated scenario's solve returns a mean field
// on the simplex and a policy whose rows sum to 1, and every error names a key.

/// One fuzz execution (see above); panics on a broken invariant.
pub fn run_one(data: &[u8]) {
    use mfgsim::scenario::{Override, Scenario};
    let mut parts = data.split(|&b| b == 0);
    let text = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let overrides: Vec<Override> = parts
        .take(8)
        .map(|p| Override::set(String::from_utf8_lossy(p).into_owned()))
        .collect();
    let sc = match Scenario::parse_with(&text, std::path::Path::new("fuzz.toml"), &overrides) {
        Ok(sc) => sc,
        Err(e) => {
            // Errors are values with a message, never a panic; scenario errors name a key.
            let msg = e.to_string();
            assert!(!msg.is_empty());
            if let mfgsim::Error::Scenario { key, .. } = &e {
                assert!(!key.is_empty(), "{msg}");
            }
            return;
        }
    };
    let model = sc.model.as_model();
    let (ns, na) = (model.num_states(), model.num_actions());
    if ns > 40 || na > 8 {
        return;
    }
    let params = mfgsim::SolverParams {
        max_iterations: sc.solver.max_iterations.min(200),
        max_tq_sweeps: sc.solver.max_tq_sweeps.min(5000),
        ..sc.solver.clone()
    };
    let start = match &sc.start {
        mfgsim::scenario::StartSpec::Single(s) => s.clone(),
        mfgsim::scenario::StartSpec::Extremal => mfgsim::Start::Lowest,
    };
    let sol = mfgsim::solve(model, sc.game, &params, &start).expect("a validated scenario solves");
    let sum: f64 = sol.z.iter().sum();
    assert!(
        sol.z.iter().all(|p| p.is_finite() && *p >= -1e-12) && (sum - 1.0).abs() < 1e-9,
        "z off the simplex: {:?}",
        sol.z
    );
    for s in 0..ns {
        let row: f64 = sol.policy.row(s).iter().sum();
        assert!((row - 1.0).abs() < 1e-12, "policy row {s} sums to {row}");
    }
    assert_eq!(sol.converged(), sol.advice.is_none());
    let summary = mfgsim::solver::SolutionSummary::of(&sol);
    assert_eq!(summary.termination_kind, sol.termination.kind());
    if ns <= 12 {
        let opts = mfgsim::check::CheckOptions {
            random_pairs: 1,
            ..Default::default()
        };
        let report = mfgsim::check::check_model(model, Some(&sol.z), &opts).expect("checks");
        for c in &report.conditions {
            assert_eq!(c.holds, c.violations == 0);
            if let Some(all) = c.worst_violation_all_pairs {
                // Neighbour steps are among the ordered pairs.
                assert!(all >= c.worst_violation || c.worst_violation.is_infinite());
            }
        }
    }
}
