//! The checker's bookkeeping: the model's tables at each tested mean field, and the worst
//! violation of each condition over neighbour steps and ordered pairs.

use super::*;

/// Tables and tails of the model at one test mean field.
#[derive(Debug)]
pub(super) struct Evaluated {
    /// Index of the field held, `None` before the first fill.
    pub(super) field: Option<usize>,
    pub(super) tables: KernelTables,
    /// T(t|s,a,z) for t ∈ 1..|S| at index `(s·A + a)·(|S|−1) + t − 1`.
    pub(super) tails: Vec<f64>,
    /// Row max_a r(s, a, z) and its lowest arg max, per s.
    pub(super) max_reward: Vec<(f64, usize)>,
}

impl Evaluated {
    pub(super) fn new(ns: usize, na: usize) -> Self {
        Evaluated {
            field: None,
            tables: KernelTables::new(ns, na),
            tails: vec![0.0; ns * na * (ns - 1)],
            max_reward: vec![(0.0, 0); ns],
        }
    }

    pub(super) fn fill(&mut self, model: &(impl Model + ?Sized), field: usize, z: &[f64]) {
        model.fill_tables(z, &mut self.tables);
        let (ns, na) = (self.ns(), self.na());
        let nt = ns - 1;
        for s in 0..ns {
            for a in 0..na {
                let row = self.tables.row(s, a);
                let tails = &mut self.tails[(s * na + a) * nt..(s * na + a + 1) * nt];
                let mut acc = 0.0;
                for t in (1..ns).rev() {
                    acc += row[t];
                    tails[t - 1] = acc;
                }
            }
            // Strict `>`: the lowest arg max wins ties (a NaN at a = 0 propagates).
            self.max_reward[s] = (1..na).fold((self.tables.r(s, 0), 0), |best, a| {
                let r = self.tables.r(s, a);
                if r > best.0 {
                    (r, a)
                } else {
                    best
                }
            });
        }
        self.field = Some(field);
    }

    pub(super) fn ns(&self) -> usize {
        self.tables.num_states()
    }

    pub(super) fn na(&self) -> usize {
        self.tables.num_actions()
    }

    /// The tails T(1..|S|−1 | s, a, z).
    #[inline]
    pub(super) fn tails(&self, s: usize, a: usize) -> &[f64] {
        let nt = self.ns() - 1;
        let i = s * self.na() + a;
        &self.tails[i * nt..(i + 1) * nt]
    }
}

/// Where an inequality was tested, with field indices instead of labels.
#[derive(Debug, Clone, Copy)]
pub(super) struct Site {
    pub(super) s: usize,
    pub(super) a: usize,
    /// Threshold t (≥ 1) for kernel conditions.
    pub(super) t: Option<usize>,
    pub(super) step: Step,
    pub(super) z: usize,
    pub(super) z_prime: Option<usize>,
}

/// Running count for one condition.
#[derive(Debug, Clone, Default)]
pub(super) struct Tally {
    pub(super) tested: u64,
    pub(super) violations: u64,
    pub(super) worst: f64,
    pub(super) witness: Option<(Site, f64, f64)>,
}

impl Tally {
    /// Records the inequality `lhs ≥ rhs` at `site`.
    #[inline]
    pub(super) fn test(&mut self, tol: f64, lhs: f64, rhs: f64, site: impl FnOnce() -> Site) {
        self.tested += 1;
        let gap = rhs - lhs;
        if gap > tol || gap.is_nan() {
            self.violations += 1;
            let amount = if gap.is_nan() { f64::INFINITY } else { gap };
            if self.witness.is_none() || amount > self.worst {
                self.worst = amount;
                self.witness = Some((site(), lhs, rhs));
            }
        }
    }
}

/// Where an all-pairs increasing-differences test failed: (s, a), (s′, a′), t, z, z′.
#[derive(Debug, Clone, Copy)]
pub(super) struct PairSite {
    pub(super) s: usize,
    pub(super) a: usize,
    pub(super) s_prime: usize,
    pub(super) a_prime: usize,
    pub(super) t: Option<usize>,
    pub(super) z: usize,
    pub(super) z_prime: usize,
}

/// The worst all-pairs violation of one increasing-differences condition.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AllPairs {
    pub(super) worst: f64,
    pub(super) witness: Option<(PairSite, f64, f64)>,
}

impl AllPairs {
    /// Finds the largest D(s, a) − D(s′, a′) over (s, a) ⪯ (s′, a′) for `d` on the |S|×|A|
    /// grid (row-major), in O(|S||A|): `min_up[(s, a)]` holds the minimum of D over the
    /// upper set {s′ ≥ s, a′ ≥ a} and where it is, built from the top corner down.
    pub(super) fn scan(
        &mut self,
        tol: f64,
        ns: usize,
        na: usize,
        d: &[f64],
        min_up: &mut [(f64, usize)],
        site: impl Fn(usize, usize) -> PairSite,
    ) {
        for s in (0..ns).rev() {
            for a in (0..na).rev() {
                let i = s * na + a;
                let mut best = (d[i], i);
                for j in [(s + 1 < ns).then(|| i + na), (a + 1 < na).then(|| i + 1)]
                    .into_iter()
                    .flatten()
                {
                    // `<` keeps NaN out of the minimum (the neighbour tests flag NaN).
                    if min_up[j].0 < best.0 {
                        best = min_up[j];
                    }
                }
                min_up[i] = best;
                let gap = d[i] - best.0;
                if gap > tol && (self.witness.is_none() || gap > self.worst) {
                    self.worst = gap;
                    self.witness = Some((site(i, best.1), best.0, d[i]));
                }
            }
        }
    }
}

/// One [`Tally`] per [`Condition`] plus the tolerance.
#[derive(Debug)]
pub(super) struct Tallies {
    pub(super) tol: f64,
    pub(super) by_condition: [Tally; Condition::ALL.len()],
    /// All-pairs worst violations of r's and P's increasing differences.
    pub(super) reward_all_pairs: AllPairs,
    pub(super) kernel_all_pairs: AllPairs,
    /// Scratch of |S||A|: a difference grid and its upper-set minima.
    pub(super) grid: Vec<f64>,
    pub(super) min_up: Vec<(f64, usize)>,
}

impl Tallies {
    pub(super) fn new(tol: f64) -> Self {
        Tallies {
            tol,
            by_condition: Default::default(),
            reward_all_pairs: AllPairs::default(),
            kernel_all_pairs: AllPairs::default(),
            grid: Vec::new(),
            min_up: Vec::new(),
        }
    }

    /// The tally of `c` (indexed by declaration order, which is [`Condition::ALL`] order).
    pub(super) fn of(&mut self, c: Condition) -> &mut Tally {
        &mut self.by_condition[c as usize]
    }

    /// Conditions at a single mean field.
    pub(super) fn single(&mut self, e: &Evaluated) {
        let (ns, na, tol) = (e.ns(), e.na(), self.tol);
        let z = e.field.expect("filled");
        let r = |s, a| e.tables.r(s, a);
        let site = |s, a, t, step| {
            move || Site {
                s,
                a,
                t,
                step,
                z,
                z_prime: None,
            }
        };
        for s in 0..ns.saturating_sub(1) {
            for a in 0..na {
                self.of(Condition::RNondecreasingInS).test(
                    tol,
                    r(s + 1, a),
                    r(s, a),
                    site(s, a, None, Step::S),
                );
                if a + 1 < na {
                    self.of(Condition::RSupermodularSa).test(
                        tol,
                        r(s + 1, a + 1) - r(s, a + 1),
                        r(s + 1, a) - r(s, a),
                        site(s, a, None, Step::SA),
                    );
                }
            }
            let ((hi, _), (lo, arg)) = (e.max_reward[s + 1], e.max_reward[s]);
            self.of(Condition::RMaxNondecreasingInS)
                .test(tol, hi, lo, site(s, arg, None, Step::S));
        }

        for s in 0..ns {
            for a in 0..na {
                let here = e.tails(s, a);
                let up_s = (s + 1 < ns).then(|| e.tails(s + 1, a));
                let up_a = (a + 1 < na).then(|| e.tails(s, a + 1));
                if let Some(up_s) = up_s {
                    for (i, (&u, &h)) in up_s.iter().zip(here).enumerate() {
                        self.of(Condition::PNondecreasingInS).test(
                            tol,
                            u,
                            h,
                            site(s, a, Some(i + 1), Step::S),
                        );
                    }
                }
                if let Some(up_a) = up_a {
                    for (i, (&u, &h)) in up_a.iter().zip(here).enumerate() {
                        self.of(Condition::PNondecreasingInA).test(
                            tol,
                            u,
                            h,
                            site(s, a, Some(i + 1), Step::A),
                        );
                    }
                }
                if let (Some(up_s), Some(up_a)) = (up_s, up_a) {
                    let up_sa = e.tails(s + 1, a + 1);
                    for i in 0..ns - 1 {
                        self.of(Condition::PSupermodularSa).test(
                            tol,
                            up_sa[i] - up_a[i],
                            up_s[i] - here[i],
                            site(s, a, Some(i + 1), Step::SA),
                        );
                    }
                }
            }
        }
    }

    /// Conditions on an ordered pair z ⪯ z' (`lo` holds z, `hi` holds z').
    pub(super) fn pair(&mut self, lo: &Evaluated, hi: &Evaluated) {
        let (ns, na, tol) = (lo.ns(), lo.na(), self.tol);
        let (z, zp) = (lo.field.expect("filled"), hi.field.expect("filled"));
        let site = |s, a, t, step| {
            move || Site {
                s,
                a,
                t,
                step,
                z,
                z_prime: Some(zp),
            }
        };
        let d = |s, a| hi.tables.r(s, a) - lo.tables.r(s, a);
        for s in 0..ns {
            for a in 0..na {
                if s + 1 < ns {
                    self.of(Condition::RIncreasingDifferencesSaZ).test(
                        tol,
                        d(s + 1, a),
                        d(s, a),
                        site(s, a, None, Step::S),
                    );
                }
                if a + 1 < na {
                    self.of(Condition::RIncreasingDifferencesSaZ).test(
                        tol,
                        d(s, a + 1),
                        d(s, a),
                        site(s, a, None, Step::A),
                    );
                }
            }
        }

        for s in 0..ns {
            for a in 0..na {
                let (t_lo, t_hi) = (lo.tails(s, a), hi.tails(s, a));
                let up_s = (s + 1 < ns).then(|| (lo.tails(s + 1, a), hi.tails(s + 1, a)));
                let up_a = (a + 1 < na).then(|| (lo.tails(s, a + 1), hi.tails(s, a + 1)));
                for i in 0..ns - 1 {
                    let t = Some(i + 1);
                    self.of(Condition::PNondecreasingInZ).test(
                        tol,
                        t_hi[i],
                        t_lo[i],
                        site(s, a, t, Step::Z),
                    );
                    let here = t_hi[i] - t_lo[i];
                    for (up, step) in [(up_s, Step::S), (up_a, Step::A)] {
                        if let Some((u_lo, u_hi)) = up {
                            self.of(Condition::PIncreasingDifferencesSaZ).test(
                                tol,
                                u_hi[i] - u_lo[i],
                                here,
                                site(s, a, t, step),
                            );
                        }
                    }
                }
            }
        }
    }

    /// The increasing-differences conditions over every ordered pair (s, a) ⪯ (s′, a′) at
    /// the mean-field pair z ⪯ z′ (see [`AllPairs::scan`]).
    pub(super) fn all_pairs(&mut self, lo: &Evaluated, hi: &Evaluated) {
        let (ns, na, tol) = (lo.ns(), lo.na(), self.tol);
        let (z, z_prime) = (lo.field.expect("filled"), hi.field.expect("filled"));
        self.grid.resize(ns * na, 0.0);
        self.min_up.resize(ns * na, (0.0, 0));
        let site = |t: Option<usize>| {
            move |i: usize, j: usize| PairSite {
                s: i / na,
                a: i % na,
                s_prime: j / na,
                a_prime: j % na,
                t,
                z,
                z_prime,
            }
        };
        for (i, g) in self.grid.iter_mut().enumerate() {
            *g = hi.tables.reward[i] - lo.tables.reward[i];
        }
        self.reward_all_pairs
            .scan(tol, ns, na, &self.grid, &mut self.min_up, site(None));
        for k in 0..ns - 1 {
            for (i, g) in self.grid.iter_mut().enumerate() {
                *g = hi.tails(i / na, i % na)[k] - lo.tails(i / na, i % na)[k];
            }
            self.kernel_all_pairs.scan(
                tol,
                ns,
                na,
                &self.grid,
                &mut self.min_up,
                site(Some(k + 1)),
            );
        }
    }

    /// The final report on `c`, with labels resolved from `fields`.
    pub(super) fn report(&self, c: Condition, fields: &[Field]) -> ConditionReport {
        let t = &self.by_condition[c as usize];
        let witness = t.witness.map(|(site, lhs, rhs)| Witness {
            s: site.s,
            a: site.a,
            threshold: site.t,
            step: site.step,
            z: fields[site.z].label.clone(),
            z_prime: site.z_prime.map(|i| fields[i].label.clone()),
            lhs,
            rhs,
        });
        let all = match c {
            Condition::RIncreasingDifferencesSaZ => Some(&self.reward_all_pairs),
            Condition::PIncreasingDifferencesSaZ => Some(&self.kernel_all_pairs),
            _ => None,
        };
        ConditionReport {
            condition: c,
            description: c.description().to_string(),
            holds: t.violations == 0,
            tested: t.tested,
            violations: t.violations,
            worst_violation: if t.violations == 0 { 0.0 } else { t.worst },
            witness,
            worst_violation_all_pairs: all.map(|a| if a.witness.is_some() { a.worst } else { 0.0 }),
            witness_all_pairs: all
                .and_then(|a| a.witness)
                .map(|(p, lhs, rhs)| PairWitness {
                    s: p.s,
                    a: p.a,
                    s_prime: p.s_prime,
                    a_prime: p.a_prime,
                    threshold: p.t,
                    z: fields[p.z].label.clone(),
                    z_prime: fields[p.z_prime].label.clone(),
                    lhs,
                    rhs,
                }),
        }
    }
}
