//! What the checker reports: the conditions of Definition 1, their witnesses and the
//! per-condition and whole report (with their `Display`).

use super::*;

/// One condition of Definition 1 (see the [module docs](crate::check) for the inequalities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// r(s, a, z) non-decreasing in s.
    RNondecreasingInS,
    /// r(s, a, z) supermodular in (s, a).
    RSupermodularSa,
    /// r(s, a, z) has increasing differences in (s, a) and z.
    RIncreasingDifferencesSaZ,
    /// max_a r(s, a, z) non-decreasing in s.
    RMaxNondecreasingInS,
    /// P(· | s, a, z) stochastically non-decreasing in s.
    PNondecreasingInS,
    /// P(· | s, a, z) stochastically non-decreasing in a.
    PNondecreasingInA,
    /// P(· | s, a, z) stochastically non-decreasing in z.
    PNondecreasingInZ,
    /// P(· | s, a, z) stochastically supermodular in (s, a).
    PSupermodularSa,
    /// P(· | s, a, z) has stochastically increasing differences in (s, a) and z.
    PIncreasingDifferencesSaZ,
}

impl Condition {
    /// Every condition, in the order of Definition 1 (and of [`CheckReport::conditions`]).
    pub const ALL: [Condition; 9] = [
        Condition::RNondecreasingInS,
        Condition::RSupermodularSa,
        Condition::RIncreasingDifferencesSaZ,
        Condition::RMaxNondecreasingInS,
        Condition::PNondecreasingInS,
        Condition::PNondecreasingInA,
        Condition::PNondecreasingInZ,
        Condition::PSupermodularSa,
        Condition::PIncreasingDifferencesSaZ,
    ];

    /// Short stable snake_case id, e.g. `p_increasing_differences_sa_z` (also its JSON form).
    pub fn id(self) -> &'static str {
        match self {
            Condition::RNondecreasingInS => "r_nondecreasing_in_s",
            Condition::RSupermodularSa => "r_supermodular_sa",
            Condition::RIncreasingDifferencesSaZ => "r_increasing_differences_sa_z",
            Condition::RMaxNondecreasingInS => "r_max_nondecreasing_in_s",
            Condition::PNondecreasingInS => "p_nondecreasing_in_s",
            Condition::PNondecreasingInA => "p_nondecreasing_in_a",
            Condition::PNondecreasingInZ => "p_nondecreasing_in_z",
            Condition::PSupermodularSa => "p_supermodular_sa",
            Condition::PIncreasingDifferencesSaZ => "p_increasing_differences_sa_z",
        }
    }

    /// One-line human description with the inequality tested.
    pub fn description(self) -> &'static str {
        match self {
            Condition::RNondecreasingInS => "r non-decreasing in s: r(s+1,a,z) ≥ r(s,a,z)",
            Condition::RSupermodularSa => {
                "r supermodular in (s,a): r(s+1,a+1,z) − r(s,a+1,z) ≥ r(s+1,a,z) − r(s,a,z)"
            }
            Condition::RIncreasingDifferencesSaZ => {
                "r has increasing differences in (s,a) and z: r(·,·,z') − r(·,·,z) \
                 non-decreasing in s and in a for z ⪯ z'"
            }
            Condition::RMaxNondecreasingInS => {
                "max_a r(s,a,z) non-decreasing in s: max_a r(s+1,a,z) ≥ max_a r(s,a,z)"
            }
            Condition::PNondecreasingInS => {
                "P stochastically non-decreasing in s: T(t|s+1,a,z) ≥ T(t|s,a,z)"
            }
            Condition::PNondecreasingInA => {
                "P stochastically non-decreasing in a: T(t|s,a+1,z) ≥ T(t|s,a,z)"
            }
            Condition::PNondecreasingInZ => {
                "P stochastically non-decreasing in z: T(t|s,a,z') ≥ T(t|s,a,z) for z ⪯ z'"
            }
            Condition::PSupermodularSa => {
                "P stochastically supermodular in (s,a): T(t|s+1,a+1,z) − T(t|s,a+1,z) ≥ \
                 T(t|s+1,a,z) − T(t|s,a,z)"
            }
            Condition::PIncreasingDifferencesSaZ => {
                "P has stochastically increasing differences in (s,a) and z: \
                 T(t|·,·,z') − T(t|·,·,z) non-decreasing in s and in a for z ⪯ z'"
            }
        }
    }

    /// True for the reward conditions (i), false for the kernel conditions (ii).
    pub fn is_reward(self) -> bool {
        matches!(
            self,
            Condition::RNondecreasingInS
                | Condition::RSupermodularSa
                | Condition::RIncreasingDifferencesSaZ
                | Condition::RMaxNondecreasingInS
        )
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.id())
    }
}

/// Which argument a violated inequality steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// s → s+1 at fixed a.
    S,
    /// a → a+1 at fixed s.
    A,
    /// Both: the 2×2 square (s, a) … (s+1, a+1) of a supermodularity test.
    SA,
    /// z → z' at fixed (s, a).
    Z,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::S => "s",
            Step::A => "a",
            Step::SA => "sa",
            Step::Z => "z",
        }
    }
}

/// Where the worst violation of a condition occurred: the inequality `lhs ≥ rhs` failed
/// by `rhs − lhs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Witness {
    /// State s: the lower corner of the comparison (s is compared with s+1 when stepping s).
    pub s: usize,
    /// Action a: the lower corner of the comparison. For `r_max_nondecreasing_in_s`, the
    /// maximising action at s (lowest index on ties).
    pub a: usize,
    /// Threshold t ∈ {1..|S|−1} of the tail T(t|·) for kernel conditions; `None` for reward
    /// conditions.
    pub threshold: Option<usize>,
    /// Which argument was stepped.
    pub step: Step,
    /// Label of the mean field z, e.g. `point(3)`, `uniform`, `tmfe`, `random#17/lo`. For
    /// pair conditions the lower side z of z ⪯ z'.
    pub z: String,
    /// Label of the upper side z' for pair conditions; `None` otherwise.
    pub z_prime: Option<String>,
    /// Left-hand side of the failed inequality (the side that should be larger).
    pub lhs: f64,
    /// Right-hand side of the failed inequality.
    pub rhs: f64,
}

impl fmt::Display for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s={} a={}", self.s, self.a)?;
        if let Some(t) = self.threshold {
            write!(f, " t={t}")?;
        }
        write!(f, " step={} z={}", self.step.as_str(), self.z)?;
        if let Some(zp) = &self.z_prime {
            write!(f, " z'={zp}")?;
        }
        Ok(())
    }
}

/// Where the worst violation of an increasing-differences condition over *all* ordered
/// pairs (s, a) ⪯ (s′, a′) (s ≤ s′ and a ≤ a′) occurred: D(s′, a′) ≥ D(s, a) failed by
/// `rhs − lhs`, with D = r(·,·,z′) − r(·,·,z) or D_t = T(t|·,·,z′) − T(t|·,·,z).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairWitness {
    /// The lower corner (s, a).
    pub s: usize,
    /// See `s`.
    pub a: usize,
    /// The upper corner (s′, a′).
    pub s_prime: usize,
    /// See `s_prime`.
    pub a_prime: usize,
    /// Threshold t of the tail for the kernel condition; `None` for the reward.
    pub threshold: Option<usize>,
    /// Label of the lower mean field z.
    pub z: String,
    /// Label of the upper mean field z′.
    pub z_prime: String,
    /// D(s′, a′) (should be the larger).
    pub lhs: f64,
    /// D(s, a).
    pub rhs: f64,
}

impl fmt::Display for PairWitness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(s,a)=({},{}) (s',a')=({},{})",
            self.s, self.a, self.s_prime, self.a_prime
        )?;
        if let Some(t) = self.threshold {
            write!(f, " t={t}")?;
        }
        write!(f, " z={} z'={}", self.z, self.z_prime)
    }
}

/// Verdict on one condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionReport {
    /// Which condition (serialized as its [`Condition::id`]).
    #[serde(rename = "id")]
    pub condition: Condition,
    /// [`Condition::description`].
    pub description: String,
    /// True when no inequality failed by more than the tolerance.
    pub holds: bool,
    /// Number of inequalities tested.
    pub tested: u64,
    /// Number of inequalities that failed by more than the tolerance.
    pub violations: u64,
    /// Largest amount `rhs − lhs` by which an inequality failed beyond the tolerance; 0 when
    /// the condition holds (infinite when a side was NaN).
    pub worst_violation: f64,
    /// Where the worst violation occurred (first one found on ties); `None` when it holds.
    pub witness: Option<Witness>,
    /// For the two increasing-differences conditions: the largest violation over every
    /// ordered pair (s, a) ⪯ (s′, a′), not only neighbouring steps (it is at least
    /// `worst_violation`: the neighbour steps are some of those pairs, and violations along
    /// a path add up). 0 when the condition holds; `None` for the other conditions. The
    /// verdict is the same either way (differences non-decreasing along every neighbour
    /// step ⇔ along every ordered pair).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_violation_all_pairs: Option<f64>,
    /// Where that violation occurred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness_all_pairs: Option<PairWitness>,
}

/// Result of [`check_model`]: one [`ConditionReport`] per [`Condition`], in
/// [`Condition::ALL`] order. Its `Display` is a per-condition table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// [`Model::name`].
    pub model: String,
    /// |S|.
    pub num_states: usize,
    /// |A|.
    pub num_actions: usize,
    /// Violation tolerance used.
    pub tol: f64,
    /// Seed of the random pairs.
    pub seed: u64,
    /// Number of distinct test mean fields.
    pub mean_fields: usize,
    /// Number of ordered pairs z ⪯ z' tested.
    pub pairs: usize,
    /// Whether a T-MFE was passed in (and so appears as `tmfe` among the mean fields).
    pub with_tmfe: bool,
    /// One entry per condition, in [`Condition::ALL`] order.
    pub conditions: Vec<ConditionReport>,
}

impl CheckReport {
    /// True when every condition holds.
    pub fn all_hold(&self) -> bool {
        self.conditions.iter().all(|c| c.holds)
    }

    /// The report on condition `c`.
    pub fn condition(&self, c: Condition) -> &ConditionReport {
        self.conditions
            .iter()
            .find(|r| r.condition == c)
            .expect("a report covers every condition")
    }

    /// The conditions that are violated, in [`Condition::ALL`] order.
    pub fn violated(&self) -> Vec<Condition> {
        self.conditions
            .iter()
            .filter(|c| !c.holds)
            .map(|c| c.condition)
            .collect()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Definition 1 check of `{}` (|S| = {}, |A| = {}): {} mean fields{}, {} pairs z ⪯ z', \
             tol {:e}, seed {}",
            self.model,
            self.num_states,
            self.num_actions,
            self.mean_fields,
            if self.with_tmfe { " incl. tmfe" } else { "" },
            self.pairs,
            self.tol,
            self.seed
        )?;
        writeln!(
            f,
            "{:<30} {:<8} {:>9} {:>9} {:>10}  witness",
            "condition", "verdict", "tested", "failed", "worst"
        )?;
        for c in &self.conditions {
            let worst = if c.worst_violation == 0.0 {
                "0".to_string()
            } else {
                format!("{:.3e}", c.worst_violation)
            };
            let witness = c
                .witness
                .as_ref()
                .map_or_else(|| "-".to_string(), ToString::to_string);
            writeln!(
                f,
                "{:<30} {:<8} {:>9} {:>9} {:>10}  {}",
                c.condition,
                if c.holds { "holds" } else { "VIOLATED" },
                c.tested,
                c.violations,
                worst,
                witness
            )?;
            if let (Some(all), Some(w)) = (c.worst_violation_all_pairs, &c.witness_all_pairs) {
                writeln!(
                    f,
                    "{:<30} {:<8} {:>9} {:>9} {:>10.3e}  {w}",
                    "  over all (s,a) ⪯ (s',a')", "", "", "", all
                )?;
            }
        }
        let bad = self.conditions.iter().filter(|c| !c.holds).count();
        if bad == 0 {
            writeln!(f, "all {} conditions hold", self.conditions.len())?;
        } else {
            writeln!(f, "{bad} of {} conditions violated", self.conditions.len())?;
        }
        writeln!(f, "T(t|s,a,z) = Σ_{{s'≥t}} P(s'|s,a,z); conditions:")?;
        for c in &self.conditions {
            writeln!(f, "  {}: {}", c.condition, c.description)?;
        }
        Ok(())
    }
}
