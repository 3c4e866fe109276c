mod parsing {
    use crate::scenario::fields::renormalized;
    use crate::scenario::*;

    fn parse(text: &str, overrides: &[&str]) -> Result<Scenario> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Scenario::parse(text, Path::new("x.toml"), &o)
    }

    fn err(text: &str, overrides: &[&str]) -> String {
        parse(text, overrides).unwrap_err().to_string()
    }

    #[test]
    fn minimal_scenario_gets_paper_defaults() {
        let s = parse("[model]\nkind = \"infection\"\n", &[]).unwrap();
        assert_eq!(s.name, "x");
        assert_eq!(s.game, GameParams::default());
        match s.model {
            BuiltinModel::Infection(m) => assert_eq!(m.params(), &InfectionParams::default()),
            _ => panic!(),
        }
        assert_eq!(s.sim, SimParams::default());
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let e = err("[model]\nkind = \"infection\"\nbeta = 1\n", &[]);
        assert!(e.starts_with("x.toml: `model.beta`: unknown key"), "{e}");
        let e = err("[model]\nkind = \"gig\"\ngamma = 1.0\n", &[]);
        assert!(e.contains("`model.gamma`: must be in (0, 1)"), "{e}");
        let e = err("[model]\nkind = \"gig\"\nepsilon = 1.0\n", &[]);
        assert!(e.contains("`model.epsilon`: must be in [0, 1)"), "{e}");
        let e = err("[model]\nkind = \"infection\"\nw1_pmf = [0.5, 0.4]\n", &[]);
        assert!(e.contains("`model.w1_pmf`: must sum to 1"), "{e}");
        let e = err("[model]\nkind = \"gig\"\nregen_prob = -0.1\n", &[]);
        assert!(e.contains("`model.regen_prob`: must be in [0, 1]"), "{e}");
        let e = err("[model]\nkind = \"gig\"\nbase_pay = \"a lot\"\n", &[]);
        assert!(
            e.contains("`model.base_pay`: expected a number, got string"),
            "{e}"
        );
        let e = err("[model]\nkind = \"chess\"\n", &[]);
        assert!(e.contains("`model.kind`: unknown model `chess`"), "{e}");
        let e = err(
            "[model]\nkind = \"gig\"\n[solver]\nstart = \"middle\"\n",
            &[],
        );
        assert!(e.contains("`solver.start`"), "{e}");
        let e = err("[model]\nkind = \"gig\"\n[sim]\nagents = 0\n", &[]);
        assert!(e.contains("`sim.agents`: must be >= 1"), "{e}");
        let e = err("[model\n", &[]);
        assert!(e.contains("x.toml: `<syntax>`"), "{e}");
        let e = err("[solver]\n", &[]);
        assert!(e.contains("missing table `[model]`"), "{e}");
    }

    #[test]
    fn adoption_keys_are_read_and_each_bad_one_is_named() {
        let base = "[model]\nkind = \"adoption\"\n";
        let s = parse(base, &[]).unwrap();
        match &s.model {
            BuiltinModel::Adoption(m) => assert_eq!(m.params(), &AdoptionParams::default()),
            _ => panic!("not an adoption model"),
        }
        let s = parse(
            base,
            &[
                "model.num_states=4",
                "model.num_actions=3",
                "model.advance_prob=0.3",
                "model.advance_network=0.1",
                "model.lapse_prob=0.5",
                "model.lapse_protection=0.35",
                "model.lapse_protection_network=0.15",
                "model.regen_prob=0.05",
                "model.entry_pmf=[0.5, 0.5, 0, 0]",
                "model.standalone_value=0.2",
                "model.network_value=0.7",
                "model.invest_cost=0.05",
            ],
        )
        .unwrap();
        let BuiltinModel::Adoption(m) = &s.model else {
            panic!("not an adoption model")
        };
        assert_eq!(
            m.params(),
            &AdoptionParams {
                num_states: 4,
                num_actions: 3,
                advance_prob: 0.3,
                advance_network: 0.1,
                lapse_prob: 0.5,
                lapse_protection: 0.35,
                lapse_protection_network: 0.15,
                regen_prob: 0.05,
                entry_pmf: vec![0.5, 0.5, 0.0, 0.0],
                standalone_value: 0.2,
                network_value: 0.7,
                invest_cost: 0.05,
            }
        );
        for (line, want) in [
            (
                "num_states = 0",
                "`model.num_states`: must be in [1, 65536]",
            ),
            (
                "num_actions = 0",
                "`model.num_actions`: must be in [1, 256]",
            ),
            (
                "advance_prob = 1.5",
                "`model.advance_prob`: must be in [0, 1]",
            ),
            (
                "advance_network = 0.7",
                "`model.advance_network`: advance_prob + advance_network",
            ),
            ("lapse_prob = -1", "`model.lapse_prob`: must be in [0, 1]"),
            (
                "lapse_protection = 0.5",
                "`model.lapse_protection`: lapse_prob - lapse_protection",
            ),
            (
                "lapse_protection_network = 0.2",
                "`model.lapse_protection_network`: lapse_prob - lapse_protection - \
                 lapse_protection_network",
            ),
            ("regen_prob = 1.5", "`model.regen_prob`: must be in [0, 1]"),
            ("entry_pmf = [1.0]", "`model.entry_pmf`: has 1 entries"),
            (
                "standalone_value = \"none\"",
                "`model.standalone_value`: expected a number",
            ),
            (
                "network_value = nan",
                "`model.network_value`: must be finite",
            ),
            ("invest_cost = inf", "`model.invest_cost`: must be finite"),
            (
                "kappa = 0.1",
                "`model.kappa`: unknown key; expected one of: kind",
            ),
        ] {
            let e = err(&format!("{base}{line}\n"), &[]);
            assert!(e.starts_with("x.toml: ") && e.contains(want), "{line}: {e}");
        }
        let e = err("[model]\n", &[]);
        assert!(
            e.contains("`model.kind`: missing; expected \"infection\", \"gig\" or \"adoption\""),
            "{e}"
        );
    }

    #[test]
    fn learner_keys_are_read_and_each_bad_one_is_named() {
        let base = "[model]\nkind = \"gig\"\n";
        let s = parse(
            base,
            &[
                "learner.algo=tmfq",
                "learner.memory=inf",
                "learner.sim_agents=500",
                "learner.max_sim_transitions=1e6",
                "learner.gen_samples=77",
                "learner.rule=sampled",
                "learner.batch_samples=1e6",
                "learner.batch_memory=30",
                "learner.batch_sweeps=7",
                "learner.cold_start=true",
                "learner.reset_on_regeneration=true",
                "sim.engine=counts",
            ],
        )
        .unwrap();
        assert!(s.learner.tmfq.cold_start);
        assert!(s.learner.reset_on_regeneration);
        let d = parse(base, &["learner.rule=paper"]).unwrap();
        assert_eq!(d.learner.rule, Rule::Paper);
        assert!(!d.learner.tmfq.cold_start);
        assert!(!d.learner.reset_on_regeneration);
        assert_eq!(s.learner.algo, Algo::Tmfq);
        assert_eq!(s.learner.tq.memory, f64::INFINITY);
        assert_eq!(s.learner.tmfq.sim_agents, 500);
        assert_eq!(s.learner.tmfq.max_sim_transitions, 1_000_000);
        assert_eq!(s.learner.gmbl.gen_samples, 77);
        assert_eq!(s.learner.rule, Rule::Sampled);
        assert_eq!(s.learner.batch.samples, 1e6);
        assert_eq!(s.learner.batch.memory, 30.0);
        assert_eq!(s.learner.batch.sweeps, 7);
        assert_eq!(s.sim.engine, EngineKind::Counts);
        for (set, want) in [
            (
                "learner.algo=sarsa",
                "`learner.algo`: unknown algorithm `sarsa`",
            ),
            (
                "learner.memroy=3",
                "`learner.memroy`: unknown key; expected one of: algo",
            ),
            ("learner.memory=0.5", "`learner.memory`: must be >= 1"),
            (
                "learner.rule=exact",
                "`learner.rule`: unknown rule `exact`; expected one of: sampled, batch, paper",
            ),
            (
                "learner.cold_start=1",
                "`learner.cold_start`: expected true or false, got integer",
            ),
            (
                "learner.reset_on_regeneration=\"yes\"",
                "`learner.reset_on_regeneration`: expected true or false, got string",
            ),
            (
                "learner.batch_samples=0.5",
                "`learner.batch_samples`: must be a finite number >= 1",
            ),
            (
                "learner.batch_memory=inf",
                "`learner.batch_memory`: must be a finite number >= 1",
            ),
            (
                "learner.batch_sweeps=0",
                "`learner.batch_sweeps`: must be >= 1",
            ),
            (
                "learner.budget=-3",
                "`learner.budget`: must be a non-negative integer, got -3",
            ),
            (
                "learner.step_exponent=2",
                "`learner.step_exponent`: must be in (0.5, 1]",
            ),
            ("learner.sim_agents=0", "`learner.sim_agents`: must be >= 1"),
            (
                "learner.inner_tol=0",
                "`learner.inner_tol`: must be a finite number > 0",
            ),
            (
                "learner.check_every=0",
                "`learner.check_every`: must be >= 1",
            ),
            (
                "learner.max_sim_transitions=5",
                "`learner.max_sim_transitions`: must be >=",
            ),
            ("learner.mf_agents=0", "`learner.mf_agents`: must be >= 1"),
            (
                "learner.gen_samples=0",
                "`learner.gen_samples`: must be >= 1",
            ),
            (
                "learner.value_tol=-1",
                "`learner.value_tol`: must be a finite number > 0",
            ),
            ("sim.engine=gpu", "`sim.engine`: unknown engine `gpu`"),
            (
                "learner.mfq_neighbours=0",
                "`learner.mfq_neighbours`: must be >= 1",
            ),
            (
                "learner.mfq_bins=300",
                "`learner.mfq_bins`: must be in 1..=255",
            ),
        ] {
            let e = err(base, &[set]);
            let blamed = format!("--set {set}: ");
            assert!(e.starts_with(&blamed) && e.contains(want), "{set}: {e}");
        }
    }

    #[test]
    fn overrides_apply_and_are_validated() {
        let base = "[model]\nkind = \"gig\"\n";
        let s = parse(
            base,
            &["model.gamma=0.95", "sim.seed=7", "solver.start=lowest"],
        )
        .unwrap();
        assert_eq!(s.game.gamma, 0.95);
        assert_eq!(s.sim.seed, 7);
        assert_eq!(s.start, StartSpec::Single(Start::Lowest));
        assert!(s.text.contains("0.95"));
        let e = err(base, &["model.gamma=2"]);
        assert!(e.contains("`model.gamma`"), "{e}");
        let e = err(base, &["model.gamma"]);
        assert!(e.contains("--set") && e.contains("key.path=value"), "{e}");
        let e = err(base, &["model.kind.x=1"]);
        assert!(e.contains("not a table"), "{e}");
    }

    #[test]
    fn a_name_is_one_path_component() {
        let named = |n: &str| format!("name = {n:?}\n[model]\nkind = \"gig\"\n");
        for (name, want) in [
            ("../../escape", "must be a single path component"),
            ("a/b", "must be a single path component"),
            ("a\\b", "must be a single path component"),
            ("", "must not be empty"),
            ("..", "must not start with `.`"),
            (".hidden", "must not start with `.`"),
            ("-rf", "must not start with `-`"),
            ("a\nb", "must not contain control characters"),
        ] {
            let e = err(&named(name), &[]);
            assert!(
                e.starts_with("x.toml: `name`: ") && e.contains(want),
                "{name:?}: {e}"
            );
        }
        assert_eq!(parse(&named("gig 2 (β)"), &[]).unwrap().name, "gig 2 (β)");
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(err(&named(&long), &[]).contains("at most 200 bytes"));
        // A file stem that is not a valid name falls back to `scenario`.
        let s = Scenario::parse("[model]\nkind = \"gig\"\n", Path::new("-x.toml"), &[]).unwrap();
        assert_eq!(s.name, "scenario");
    }

    #[test]
    fn errors_in_overridden_keys_name_the_override() {
        let base = "[model]\nkind = \"gig\"\n";
        let e = err(base, &["model.gamma=abc"]);
        assert_eq!(
            e,
            "--set model.gamma=abc: `model.gamma`: expected a number, got string \"abc\""
        );
        // The last override of a key is blamed; keys not overridden still name the file.
        let e = err(base, &["model.gamma=0.5", "model.gamma=2"]);
        assert!(e.starts_with("--set model.gamma=2: `model.gamma`"), "{e}");
        // An unknown table made by the override blames the override, not the file.
        let e = Scenario::parse(
            "[model]\nkind = \"gig\"\n",
            Path::new("s.toml"),
            &["learner.tmfq.sim_agents=0".to_string()],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("--set learner.tmfq.sim_agents=0: `learner.tmfq`: unknown key"),
            "{e}"
        );
        let e = err("[model]\nkind = \"gig\"\nbeta = 1\n", &["model.gamma=0.5"]);
        assert!(e.starts_with("x.toml: `model.beta`"), "{e}");
        // A table override is blamed for a key inside it.
        let e = err(base, &["sim={agents = -1}"]);
        assert!(
            e.starts_with(
                "--set sim={agents = -1}: `sim.agents`: must be a non-negative integer, got -1"
            ),
            "{e}"
        );
        // Flags name themselves.
        let o = [Override {
            text: "sim.agents=0".into(),
            source: "--agents 0".into(),
        }];
        let e = Scenario::parse_with(base, Path::new("x.toml"), &o)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "--agents 0: `sim.agents`: must be >= 1");
        for bad in ["", "=3", " . =1", "model..gamma=1"] {
            let e = err(base, &[bad]);
            assert!(!e.contains("``"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_resized_pmf_says_which_keys_go_together() {
        let gig = "[model]\nkind = \"gig\"\nentry_pmf = [1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n";
        let e = err(gig, &["model.num_states=20"]);
        assert!(
            e.contains("`model.entry_pmf`: has 10 entries but model.num_states = 20"),
            "{e}"
        );
        assert!(
            e.contains("set model.num_states and model.entry_pmf together"),
            "{e}"
        );
        assert!(e.contains("default (all mass on state 0)"), "{e}");
        let inf = "[model]\nkind = \"infection\"\nw2_pmf = [0.5, 0.5]\n";
        let e = err(inf, &[]);
        assert!(
            e.contains("`model.w2_pmf`: has 2 entries but model.num_states = 25"),
            "{e}"
        );
        // Without the pmf in the file, the default follows the new size.
        assert!(parse("[model]\nkind = \"gig\"\n", &["model.num_states=20"]).is_ok());
    }

    #[test]
    fn sizes_and_integers_are_bounded_before_anything_is_built() {
        let e = err(
            "[model]\nkind = \"infection\"\nnum_states = 6577777777777\n",
            &[],
        );
        assert!(
            e.contains("`model.num_states`: must be in [1, 65536], got 6577777777777"),
            "{e}"
        );
        let e = err("[model]\nkind = \"gig\"\n[sim]\nagents = 1e19\n", &[]);
        assert!(e.contains("`sim.agents`: 1e19 is too large"), "{e}");
        let e = err("[model]\nkind = \"gig\"\nnum_actions = 1\n", &[]);
        assert!(
            e.contains("`model.epsilon`: must be 0 with model.num_actions = 1"),
            "{e}"
        );
        assert!(parse(
            "[model]\nkind = \"gig\"\nnum_actions = 1\nepsilon = 0\n",
            &[]
        )
        .is_ok());
    }

    #[test]
    fn pmfs_within_tolerance_are_renormalised_so_t_br_conserves_mass() {
        // Fuzz finding: w1_pmf summing to 1 + 9.1e-10 was accepted, and z drifted to a sum
        // of 1 + 6.4e-9.
        let mut w1 = vec![1.0 / 11.0; 11];
        w1[8] += 9.1e-10;
        let text = format!("[model]\nkind = \"infection\"\nw1_pmf = {w1:?}\n");
        let s = parse(&text, &[]).unwrap();
        let BuiltinModel::Infection(m) = &s.model else {
            panic!()
        };
        let sum: f64 = m.params().w1_pmf.iter().sum();
        assert!((sum - 1.0).abs() <= 11.0 * f64::EPSILON, "{sum}");
        let sol = crate::solver::solve(m, s.game, &s.solver, &Start::Uniform).unwrap();
        let z: f64 = sol.z.iter().sum();
        assert!((z - 1.0).abs() < 1e-12, "{z}");
        // Exact pmfs (the bundled ones) are left bit for bit.
        assert_eq!(renormalized(vec![0.25, 0.75]), vec![0.25, 0.75]);
        assert_eq!(
            renormalized(vec![0.5, 0.4]),
            vec![0.5, 0.4],
            "left for the model"
        );
    }

    #[test]
    fn scenario_files_are_capped_and_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let e = Scenario::load(dir.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b' '; MAX_SCENARIO_BYTES as usize + 1]).unwrap();
        let e = Scenario::load(&big, &[]).unwrap_err().to_string();
        assert!(
            e.contains("is 16777217 bytes, more than the 16777216"),
            "{e}"
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, b"[model]\nkind = \"\xff\"\n").unwrap();
        let e = Scenario::load(&bad, &[]).unwrap_err().to_string();
        assert!(
            e.contains("is not UTF-8 text (invalid byte at offset 16)"),
            "{e}"
        );
        if Path::new("/dev/zero").exists() {
            let e = Scenario::load(Path::new("/dev/zero"), &[])
                .unwrap_err()
                .to_string();
            assert!(e.contains("more than the 16777216 bytes"), "{e}");
        }
    }

    #[test]
    fn given_start_is_checked_against_the_model() {
        let e = err(
            "[model]\nkind = \"gig\"\n[solver]\nstart = [0.5, 0.5]\n",
            &[],
        );
        assert!(
            e.contains("`solver.start`") && e.contains("2 entries"),
            "{e}"
        );
    }
}

mod bundled {
    use crate::scenario::*;

    #[test]
    fn bundled_scenarios_hold_the_paper_defaults() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let s = Scenario::load(&root.join("scenarios/infection.toml"), &[]).unwrap();
        match &s.model {
            BuiltinModel::Infection(m) => {
                let (got, want) = (m.params(), InfectionParams::default());
                assert_eq!(got.w2_pmf, want.w2_pmf);
                for (g, w) in got.w1_pmf.iter().zip(&want.w1_pmf) {
                    assert!((g - w).abs() < 1e-16);
                }
                assert_eq!(
                    InfectionParams {
                        w1_pmf: want.w1_pmf.clone(),
                        ..got.clone()
                    },
                    want
                );
            }
            _ => panic!("infection.toml is not an infection scenario"),
        }
        assert_eq!(s.game, GameParams::default());
        assert_eq!(s.solver, SolverParams::default());
        let s = Scenario::load(&root.join("scenarios/gig.toml"), &[]).unwrap();
        match &s.model {
            BuiltinModel::Gig(m) => assert_eq!(m.params(), &GigParams::default()),
            _ => panic!("gig.toml is not a gig scenario"),
        }
        assert_eq!(s.sim, SimParams::default());
        assert_eq!(s.learner, LearnerParams::default());
        let s = Scenario::load(&root.join("scenarios/infection.toml"), &[]).unwrap();
        assert_eq!(s.sim, SimParams::default());
        assert_eq!(s.learner, LearnerParams::default());
    }

    #[test]
    fn the_bundled_adoption_scenario_holds_the_model_defaults() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let s = Scenario::load(&root.join("scenarios/adoption.toml"), &[]).unwrap();
        match &s.model {
            BuiltinModel::Adoption(m) => assert_eq!(m.params(), &AdoptionParams::default()),
            _ => panic!("adoption.toml is not an adoption scenario"),
        }
        assert_eq!(s.name, "adoption");
        assert_eq!(s.game, GameParams::default());
        assert_eq!(s.solver, SolverParams::default());
        assert_eq!(s.sim, SimParams::default());
        assert_eq!(s.learner, LearnerParams::default());
    }
}

mod with_model_tests {
    use std::sync::Arc;

    use crate::model::Gig;
    use crate::scenario::*;

    fn custom() -> BuiltinModel {
        BuiltinModel::Custom(Arc::new(Gig::default()))
    }

    #[test]
    fn a_model_in_code_takes_the_other_tables_and_overrides() {
        let game = GameParams::try_new(0.8, 0.2).unwrap();
        let text = "name = \"mine\"\n[sim]\nagents = 5\n";
        let s = Scenario::with_model(custom(), game, text, Path::new("m"), &["sim.seed=3".into()])
            .unwrap();
        assert_eq!((s.name.as_str(), s.sim.agents, s.sim.seed), ("mine", 5, 3));
        assert_eq!(s.game, game);
        assert_eq!(s.model.as_model().name(), "gig");
        assert!(s.text.contains("kind = \"gig\""), "{}", s.text);
        let d = Scenario::with_model(custom(), game, "", Path::new("m"), &[]).unwrap();
        assert_eq!(d.sim, SimParams::default());
        assert_eq!(d.learner, LearnerParams::default());
        // Custom models compare by identity.
        assert_eq!(d.model, d.model.clone());
        assert_ne!(d.model, custom());
    }

    #[test]
    fn a_model_table_or_an_unknown_key_is_refused_by_name() {
        let game = GameParams::default();
        let e = Scenario::with_model(
            custom(),
            game,
            "[model]\nkind = \"gig\"\n",
            Path::new("m"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("m: `model`: the model is given in code"),
            "{e}"
        );
        let e = Scenario::with_model(custom(), game, "", Path::new("m"), &["sim.agnets=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`sim.agnets`: unknown key"), "{e}");
        let e = Scenario::with_model(
            custom(),
            game,
            "[solver]\nstart = [1.0]\n",
            Path::new("m"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`solver.start`"), "{e}");
        // The name becomes out/<name>/: a path is refused here too.
        let e = Scenario::with_model(custom(), game, "name = \"../x\"\n", Path::new("m"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`name`: must be a single path component"), "{e}");
    }
}
