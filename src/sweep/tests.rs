use std::path::Path;

use arrow_schema::DataType;

use super::*;
use crate::finite_n::FiniteNParams;
use crate::scenario::StartSpec;

#[test]
fn grid_values_parse_as_toml_with_ranges_and_nested_commas() {
    let a = GridAxis::parse("model.infection_constant=0.05,0.1,1").unwrap();
    assert_eq!(a.key, "model.infection_constant");
    assert_eq!(a.data_type(), DataType::Float64);
    assert_eq!(a.values.len(), 3);
    let a = GridAxis::parse("learner.algo=online,iql,mfq").unwrap();
    assert_eq!(a.data_type(), DataType::Utf8);
    assert_eq!(a.values[1].as_str(), Some("iql"));
    let a = GridAxis::parse("model.w1_pmf=[0.5,0.5],[0.25,0.75]").unwrap();
    assert_eq!(a.values.len(), 2);
    assert!(a.values[0].is_array());
    let a = GridAxis::parse("x=0:1:5").unwrap();
    let xs: Vec<f64> = a.values.iter().map(|v| v.as_float().unwrap()).collect();
    assert_eq!(xs, [0.0, 0.25, 0.5, 0.75, 1.0]);
    let a = GridAxis::parse("sim.agents=100:1000:4").unwrap();
    assert_eq!(a.data_type(), DataType::Int64);
    let ns: Vec<i64> = a.values.iter().map(|v| v.as_integer().unwrap()).collect();
    assert_eq!(ns, [100, 400, 700, 1000]);
    let a = GridAxis::parse("x=0.05:1:20").unwrap();
    assert_eq!(a.values[1].as_float(), Some(0.1));
    assert_eq!(a.values[19].as_float(), Some(1.0));
    for bad in ["novalue", "=1,2", "a..b=1", "x=", "x=1,1", "x=0:1:0"] {
        assert!(GridAxis::parse(bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn sweep_table_reads_every_key_and_names_bad_ones() {
    let t: toml::Table = r#"
command = "solve"
seeds = 3
start = "extremal"
[[grid]]
key = "model.infection_constant"
values = [0.1, 0.5]
[finite_n]
agents = [100, 1000]
steps = 20
"#
    .parse()
    .unwrap();
    let s = SweepSpec::from_table(Path::new("f.toml"), &t).unwrap();
    assert_eq!(s.command, SweepCommand::Solve);
    assert_eq!(s.seeds, 3);
    assert_eq!(s.start, Some(StartSpec::Extremal));
    assert_eq!(s.grid[0].values.len(), 2);
    assert_eq!(s.finite_n.agents, [100, 1000]);
    assert_eq!(s.finite_n.steps, 20);
    for (text, key) in [
        ("seeds = 0", "sweep.seeds"),
        ("command = \"plot\"", "sweep.command"),
        ("colour = 1", "sweep.colour"),
        ("[[grid]]\nkey = \"a\"", "sweep.grid[0].values"),
        ("[finite_n]\nsteps = -1", "sweep.finite_n.steps"),
    ] {
        let t: toml::Table = text.parse().unwrap();
        let e = SweepSpec::from_table(Path::new("f.toml"), &t).unwrap_err();
        assert!(e.to_string().contains(key), "{text}: {e}");
        assert!(e.to_string().contains("f.toml"), "{text}: {e}");
    }
}

#[test]
fn finite_n_runs_of_a_point_share_no_replicate() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/gig.toml"));
    let spec = |command| SweepSpec {
        command,
        seeds: 3,
        grid: vec![GridAxis::parse("sim.engine=agents,counts").unwrap()],
        finite_n: FiniteNParams {
            seeds: 4,
            ..FiniteNParams::default()
        },
        ..SweepSpec::default()
    };
    let seeds = |command| -> Vec<u64> {
        Sweep::plan(path, &["sim.seed=10".into()], spec(command))
            .unwrap()
            .runs
            .iter()
            .map(|r| r.seed)
            .collect()
    };
    // Replicates 10..14, 14..18, 18..22 at each grid point.
    assert_eq!(seeds(SweepCommand::FiniteN), [10, 14, 18, 10, 14, 18]);
    assert_eq!(seeds(SweepCommand::Learn), [10, 11, 12, 10, 11, 12]);
}
