//! `equilibria.parquet`: the distinct equilibria of a census, one row per (equilibrium,
//! state).

use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::table::{numbered_fields, write_parquet, RunMetadata, TableBuilder};
use crate::census::Census;
use crate::error::Result;

/// Schema of `equilibria.parquet` for |A| = `num_actions`:
///
/// | column              | type    | meaning                                            |
/// |---------------------|---------|----------------------------------------------------|
/// | `equilibrium`       | Int64   | index into `summary.json`'s `equilibria` (ascending mean state) |
/// | `mixed`             | Boolean | false: a T-MFE in Π^ε (one trembling-hand strategy); true: a mixture of them |
/// | `state`             | Int64   | s                                                  |
/// | `z`                 | Float64 | z(s)                                               |
/// | `greedy_action`     | Int64   | the action μ plays most at s                       |
/// | `mu_0` … `mu_{A−1}` | Float64 | μ(s, a)                                            |
/// | `exploitability`    | Float64 | max_s exploitability of μ at z (same on every row of an equilibrium) |
/// | `consistency_l1`    | Float64 | ‖Φ(z, μ) − z‖₁ (same on every row)                 |
/// | `reached`           | Int64   | attempts (start × algorithm) that reached it       |
pub fn census_schema(num_actions: usize) -> SchemaRef {
    let mut fields = vec![
        Field::new("equilibrium", DataType::Int64, false),
        Field::new("mixed", DataType::Boolean, false),
        Field::new("state", DataType::Int64, false),
        Field::new("z", DataType::Float64, false),
        Field::new("greedy_action", DataType::Int64, false),
    ];
    fields.extend(numbered_fields("mu", num_actions, DataType::Float64));
    for f in ["exploitability", "consistency_l1"] {
        fields.push(Field::new(f, DataType::Float64, false));
    }
    fields.push(Field::new("reached", DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The equilibria of `census` as one batch of [`census_schema`].
pub fn census_batch(census: &Census, num_actions: usize) -> RecordBatch {
    let rows: usize = census.equilibria.iter().map(|e| e.z.len()).sum();
    let mut t = TableBuilder::new(census_schema(num_actions), rows);
    for (i, e) in census.equilibria.iter().enumerate() {
        for (s, zs) in e.z.iter().enumerate() {
            t.push_row(|r| {
                r.i64(int(i))
                    .bool(e.kind == "mixed")
                    .i64(int(s))
                    .f64(*zs)
                    .i64(int(e.greedy_action[s]))
                    .f64s(&e.mu[s])
                    .f64(e.exploitability)
                    .f64(e.consistency_l1)
                    .i64(int(e.reached));
            });
        }
    }
    t.finish()
}

/// Writes `equilibria.parquet` atomically.
///
/// # Errors
/// [`crate::Error::Io`] / [`crate::Error::Output`] naming `path`.
pub fn write_census(
    path: &Path,
    census: &Census,
    num_actions: usize,
    meta: &RunMetadata,
) -> Result<()> {
    write_parquet(path, &census_batch(census, num_actions), meta)
}
