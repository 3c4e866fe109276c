//! Statistics shared by the studies over an N grid: least squares, bootstrap percentile
//! intervals and the power-law rate fit ln y_N = a + b·ln N with bootstrap intervals.
//!
//! # Formula
//! ```text
//! point:     y_g = stat(g, all units of group g),   (b, a) = OLS of ln y_g on ln N_g
//!            (groups with y_g ≤ 0 or non-finite are left out of the fit)
//! bootstrap: for r = 0, …, B − 1 (stream (seed, Eval, r, 0)):
//!                picks_g = K_g draws with replacement from 0..K_g
//!                (paired: group 0's picks reused for every group, which needs equal K_g)
//!                y*_g = stat(g, picks_g);  (b*, a*) = OLS of ln y*_g on ln N_g
//! intervals: the (α/2, 1 − α/2) percentiles of y*_g, b*, a*; se(b) = sd of b*
//! ```
//! Used by [`crate::finite_n`] (the statistic is a mean of replicate errors) and
//! [`crate::nash_gap`] (the statistic is a maximum over initial states of mean gains).

use rand::RngExt;

use crate::rng::{stream, Purpose};

/// A fitted power law ln y_N = intercept + slope·ln N.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RateFit {
    /// b.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub slope: f64,
    /// a (natural logarithm): y_N ≈ e^a · N^b.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub intercept: f64,
    /// e^a, the prefactor of the rate.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub prefactor: f64,
    /// Bootstrap percentile interval of b (None with one replicate).
    pub slope_ci: Option<(f64, f64)>,
    /// Bootstrap percentile interval of a.
    pub intercept_ci: Option<(f64, f64)>,
    /// Bootstrap standard error of b.
    pub slope_se: Option<f64>,
    /// Coefficient of determination of the fit on the group means.
    #[serde(deserialize_with = "crate::json::null_as_nan")]
    pub r_squared: f64,
    /// Number of N values fitted.
    pub points: usize,
}

/// The groups and resampling scheme of [`bootstrap_rate_fit`].
#[derive(Debug, Clone, Copy)]
pub struct BootstrapSpec<'a> {
    /// N of each group (the x of the fit is ln N).
    pub agents: &'a [u64],
    /// K_g, the number of resampled units of each group (≥ 1).
    pub sizes: &'a [usize],
    /// Reuse group 0's picks for every group (all sizes must be equal).
    pub paired: bool,
    /// B, bootstrap resamples (0: no intervals).
    pub resamples: usize,
    /// 1 − confidence.
    pub alpha: f64,
    /// Seed of the resampling streams `(seed, Eval, r, 0)`.
    pub seed: u64,
}

/// What [`bootstrap_rate_fit`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapFit {
    /// The statistic of each group on all its units.
    pub values: Vec<f64>,
    /// Percentile interval of each group's statistic (None without resamples).
    pub intervals: Vec<Option<(f64, f64)>>,
    /// Bootstrap standard deviation of each group's statistic (NaN without resamples).
    pub sds: Vec<f64>,
    /// The rate fit over the groups with a positive statistic (None with fewer than two).
    pub fit: Option<RateFit>,
}

/// The statistic `stat(g, picks)` of each group, its bootstrap intervals and the rate fit of
/// its logarithm on ln N, with bootstrap intervals of the slope and intercept (module docs).
pub fn bootstrap_rate_fit(
    spec: &BootstrapSpec<'_>,
    stat: &(dyn Fn(usize, &[usize]) -> f64 + Sync),
) -> BootstrapFit {
    let groups = spec.sizes.len();
    let paired = spec.paired && spec.sizes.iter().all(|&k| k == spec.sizes[0]);
    let mut boot = vec![vec![0.0; groups]; spec.resamples];
    let mut picks = Vec::new();
    for (r, values) in boot.iter_mut().enumerate() {
        let mut rng = stream(spec.seed, Purpose::Eval, r as u64, 0);
        for (g, &k) in spec.sizes.iter().enumerate() {
            if g == 0 || !paired {
                picks.clear();
                picks.extend((0..k).map(|_| rng.random_range(0..k)));
            }
            values[g] = stat(g, &picks);
        }
    }
    let values: Vec<f64> = spec
        .sizes
        .iter()
        .enumerate()
        .map(|(g, &k)| stat(g, &(0..k).collect::<Vec<_>>()))
        .collect();
    let intervals = (0..groups)
        .map(|g| {
            (spec.resamples > 0).then(|| {
                let mut v: Vec<f64> = boot.iter().map(|m| m[g]).collect();
                percentile_interval(&mut v, spec.alpha)
            })
        })
        .collect();
    let sds = (0..groups)
        .map(|g| {
            let b = boot.len() as f64;
            let m = boot.iter().map(|v| v[g]).sum::<f64>() / b;
            (boot.iter().map(|v| (v[g] - m).powi(2)).sum::<f64>() / b).sqrt()
        })
        .collect();
    let xs: Vec<f64> = spec.agents.iter().map(|&n| (n as f64).ln()).collect();
    let ln = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .map(|&y| if y > 0.0 { y.ln() } else { f64::NAN })
            .collect()
    };
    let ys = ln(&values);
    let Some((slope, intercept, r_squared)) = least_squares(&xs, &ys) else {
        return BootstrapFit {
            values,
            intervals,
            sds,
            fit: None,
        };
    };
    let (mut slope_ci, mut intercept_ci, mut slope_se) = (None, None, None);
    let (mut bs, mut bi) = (
        Vec::with_capacity(boot.len()),
        Vec::with_capacity(boot.len()),
    );
    for v in &boot {
        if let Some((b, a, _)) = least_squares(&xs, &ln(v)) {
            bs.push(b);
            bi.push(a);
        }
    }
    if !bs.is_empty() {
        let m = bs.iter().sum::<f64>() / bs.len() as f64;
        slope_se = Some((bs.iter().map(|b| (b - m).powi(2)).sum::<f64>() / bs.len() as f64).sqrt());
        slope_ci = Some(percentile_interval(&mut bs, spec.alpha));
        intercept_ci = Some(percentile_interval(&mut bi, spec.alpha));
    }
    let points = ys.iter().filter(|y| y.is_finite()).count();
    BootstrapFit {
        values,
        intervals,
        sds,
        fit: Some(RateFit {
            slope,
            intercept,
            prefactor: intercept.exp(),
            slope_ci,
            intercept_ci,
            slope_se,
            r_squared,
            points,
        }),
    }
}

/// Ordinary least squares y = a + b·x over the finite pairs: `(b, a, R²)`, or `None` with
/// fewer than two distinct x.
pub fn least_squares(xs: &[f64], ys: &[f64]) -> Option<(f64, f64, f64)> {
    let pts: Vec<(f64, f64)> = xs
        .iter()
        .zip(ys)
        .map(|(&x, &y)| (x, y))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return None;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    let b = sxy / sxx;
    let r2 = if syy > 0.0 { b * sxy / syy } else { 1.0 };
    Some((b, my - b * mx, r2))
}

/// The (α/2, 1 − α/2) empirical quantiles of `v` (sorted in place; linear interpolation).
pub fn percentile_interval(v: &mut [f64], alpha: f64) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (quantile(v, alpha / 2.0), quantile(v, 1.0 - alpha / 2.0))
}

/// Quantile of sorted data, linear interpolation between order statistics.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The standard normal quantile Φ⁻¹(p) for p ∈ (0, 1) (Acklam's rational approximation,
/// relative error below 1.2e-9); NaN outside (0, 1).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Mean, sample standard deviation (divisor n − 1; 0 for one value) and standard error.
pub fn mean_sd_se(v: &[f64]) -> (f64, f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, sd, sd / n.sqrt())
}

#[cfg(test)]
mod tests {
    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((normal_quantile(0.5)).abs() < 1e-15);
        assert!((normal_quantile(0.001) + 3.090_232_306).abs() < 1e-8);
        assert!(normal_quantile(1.0).is_nan());
        assert_eq!(mean_sd_se(&[1.0, 3.0]), (2.0, 2f64.sqrt(), 1.0));
    }

    use super::*;

    #[test]
    fn least_squares_recovers_a_line_and_skips_bad_points() {
        let xs = [0.0, 1.0, 2.0, 3.0, f64::NAN];
        let ys: Vec<f64> = xs.iter().map(|x| 2.0 - 0.5 * x).collect();
        let (b, a, r2) = least_squares(&xs, &ys).unwrap();
        assert!((b + 0.5).abs() < 1e-15 && (a - 2.0).abs() < 1e-15 && (r2 - 1.0).abs() < 1e-15);
        assert_eq!(least_squares(&[1.0, 1.0], &[0.0, 1.0]), None);
        assert_eq!(least_squares(&[1.0], &[0.0]), None);
    }

    #[test]
    fn quantiles_interpolate() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile_interval(&mut v, 0.0), (1.0, 4.0));
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn the_fit_recovers_a_power_law_and_skips_zero_groups() {
        let agents = [10, 100, 1000, 10_000];
        let data: Vec<Vec<f64>> = agents
            .iter()
            .map(|&n| {
                (0..8)
                    .map(|j| (n as f64).powf(-0.5) * (1.0 + 0.01 * j as f64))
                    .collect()
            })
            .collect();
        let mut with_zero = data.clone();
        with_zero.push(vec![0.0; 8]);
        let all = [10, 100, 1000, 10_000, 100_000];
        let spec = BootstrapSpec {
            agents: &all,
            sizes: &[8; 5],
            paired: true,
            resamples: 200,
            alpha: 0.05,
            seed: 1,
        };
        let out = bootstrap_rate_fit(&spec, &|g, p| {
            p.iter().map(|&j| with_zero[g][j]).sum::<f64>() / p.len() as f64
        });
        let fit = out.fit.unwrap();
        assert_eq!(fit.points, 4);
        assert!((fit.slope + 0.5).abs() < 1e-12, "{fit:?}");
        let (lo, hi) = fit.slope_ci.unwrap();
        assert!(lo <= -0.5 + 1e-9 && hi >= -0.5 - 1e-9);
        let (lo, hi) = out.intervals[0].unwrap();
        assert!(lo <= out.values[0] && out.values[0] <= hi);
    }
}
