//! The transitions of one step as Arrow arrays: the dataset's schema ([`transitions_schema`])
//! and the rows of a [`Selection`] of a step's buffer as one `RecordBatch` (for the Python
//! package, benches and tests; `mfgsim learn` writes the same rows with the encoder in
//! [`super`], without building Arrow arrays).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, UInt16Array, UInt32Array, UInt64Array,
    UInt8Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use crate::population::{StateCode, CHUNK};
use crate::transition::{
    is_regenerated, unpack_action, BufferCode, BufferRef, Selection, StepTransitions,
    TransitionBuffer,
};

/// Schema of the transitions dataset of a population of `num_agents` agents on
/// `num_states` states, with the narrowest integer types that hold every value:
///
/// | column | type | meaning |
/// | --- | --- | --- |
/// | `iteration` | UInt32 | k (1-based), the learning iteration whose step this is |
/// | `agent` | UInt32 (UInt64 when N > 2^32) | agent index i in 0..N |
/// | `s` | UInt8 (UInt16 when \|S\| > 256) | state before the step |
/// | `a` | UInt8 | action taken (at most 128 actions) |
/// | `r` | Float64 | r(s, a, z^N) at the step's empirical mean field |
/// | `s_next` | as `s` | state after the step (the new agent's state if regenerated) |
/// | `regenerated` | Boolean | the agent left and was replaced during the step |
///
/// Every column is non-nullable; pandas, pyarrow, polars and DuckDB read the integer
/// columns as unsigned integers (`uint8`, `UInt32`, `UTINYINT`, …).
pub fn transitions_schema(num_states: usize, num_agents: usize) -> SchemaRef {
    let state = if num_states <= 1 << 8 {
        DataType::UInt8
    } else {
        DataType::UInt16
    };
    let agent = if u32::try_from(num_agents).is_ok() {
        DataType::UInt32
    } else {
        DataType::UInt64
    };
    Arc::new(Schema::new(vec![
        Field::new("iteration", DataType::UInt32, false),
        Field::new("agent", agent, false),
        Field::new("s", state.clone(), false),
        Field::new("a", DataType::UInt8, false),
        Field::new("r", DataType::Float64, false),
        Field::new("s_next", state, false),
        Field::new("regenerated", DataType::Boolean, false),
    ]))
}

/// The transitions of `buffer` (the step of learning iteration `iteration`) as one batch of
/// [`transitions_schema`], in agent order: each agent kept with probability `fraction` as
/// [`Selection::draw`] decides. The chunks are selected and copied in parallel on the rayon
/// pool; the rows are the same for any thread count. (`mfgsim learn` writes the same rows
/// with [`super::TransitionsExport`], without building Arrow arrays.)
///
/// # Panics
/// When `iteration` exceeds `u32::MAX`.
pub fn transitions_batch<T: BufferCode>(
    buffer: &TransitionBuffer<T>,
    iteration: u64,
    fraction: f64,
    seed: u64,
) -> RecordBatch {
    let mut selection = Selection::default();
    selection.draw(buffer.len(), iteration, fraction, seed);
    StepTransitions::new(buffer, iteration, &selection).to_batch()
}

impl StepTransitions<'_> {
    /// The exported rows as one Arrow batch of [`transitions_schema`], in agent order (what
    /// the part files hold).
    ///
    /// # Panics
    /// When the iteration exceeds `u32::MAX`.
    pub fn to_batch(&self) -> RecordBatch {
        let (k, selection) = (self.iteration(), self.selection());
        match self.buffer() {
            BufferRef::U8(b) => transitions_columns(b, k, selection),
            BufferRef::U16(b) => transitions_columns(b, k, selection),
        }
    }
}

/// The rows of `selection` of `buffer` as one batch of [`transitions_schema`].
///
/// # Panics
/// When `iteration` exceeds `u32::MAX`.
pub(crate) fn transitions_columns<T: StateCode>(
    buffer: &TransitionBuffer<T>,
    iteration: u64,
    selection: &Selection,
) -> RecordBatch {
    let n = buffer.len();
    let schema = transitions_schema(buffer.tables().num_states(), selection.population());
    let iteration = u32::try_from(iteration).expect("iteration exceeds u32::MAX");
    let lens: Vec<usize> = (0..n.div_ceil(CHUNK))
        .map(|c| selection.chunk_agents(c, n).len())
        .collect();
    let wide_agents = schema.field(1).data_type() == &DataType::UInt64;
    let wide_states = schema.field(2).data_type() == &DataType::UInt16;
    match (wide_agents, wide_states) {
        (false, false) => columns::<T, u32, u8>(buffer, &schema, iteration, &lens, selection),
        (false, true) => columns::<T, u32, u16>(buffer, &schema, iteration, &lens, selection),
        (true, false) => columns::<T, u64, u8>(buffer, &schema, iteration, &lens, selection),
        (true, true) => columns::<T, u64, u16>(buffer, &schema, iteration, &lens, selection),
    }
}

/// An Arrow native integer type made from an index known to fit.
trait FromIndex: Copy + Default + Send + Sync {
    type Array: From<Vec<Self>> + arrow_array::Array + 'static;
    fn from_index(i: usize) -> Self;
}

macro_rules! from_index {
    ($($t:ty => $a:ty),*) => {$(
        impl FromIndex for $t {
            type Array = $a;
            #[inline]
            fn from_index(i: usize) -> Self {
                i as $t
            }
        }
    )*};
}
from_index!(u8 => UInt8Array, u16 => UInt16Array, u32 => UInt32Array, u64 => UInt64Array);

/// Splits `out` into consecutive pieces of `lens`.
fn pieces<'a, X>(mut out: &'a mut [X], lens: &[usize]) -> Vec<&'a mut [X]> {
    lens.iter()
        .map(|&l| {
            let (head, tail) = std::mem::take(&mut out).split_at_mut(l);
            out = tail;
            head
        })
        .collect()
}

/// Fills the columns of [`transitions_columns`], chunk `c` on its own task.
fn columns<T: StateCode, Ag: FromIndex, St: FromIndex>(
    buffer: &TransitionBuffer<T>,
    schema: &SchemaRef,
    iteration: u32,
    lens: &[usize],
    selection: &Selection,
) -> RecordBatch {
    let n = buffer.len();
    let first = selection.first_agent();
    let rows: usize = lens.iter().sum();
    let (mut agent, mut s, mut a) = (
        vec![Ag::default(); rows],
        vec![St::default(); rows],
        vec![0u8; rows],
    );
    let (mut r, mut s_next, mut regen) = (
        vec![0.0; rows],
        vec![St::default(); rows],
        vec![false; rows],
    );
    let (prev, packed, next, tables) = (
        buffer.states(),
        buffer.actions(),
        buffer.next_states(),
        buffer.tables(),
    );
    pieces(&mut agent, lens)
        .into_par_iter()
        .zip(pieces(&mut s, lens))
        .zip(pieces(&mut a, lens))
        .zip(pieces(&mut r, lens))
        .zip(pieces(&mut s_next, lens))
        .zip(pieces(&mut regen, lens))
        .enumerate()
        .for_each(|(c, (((((agent, s), a), r), s_next), regen))| {
            let kept = selection.chunk_agents(c, n);
            for j in 0..kept.len() {
                let i = kept.agent(j);
                let (si, ai) = (prev[i].index(), unpack_action(packed[i]));
                agent[j] = Ag::from_index(first + i);
                s[j] = St::from_index(si);
                a[j] = ai as u8;
                r[j] = tables.r(si, ai);
                s_next[j] = St::from_index(next[i].index());
                regen[j] = is_regenerated(packed[i]);
            }
        });
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(vec![iteration; rows])),
        Arc::new(Ag::Array::from(agent)),
        Arc::new(St::Array::from(s)),
        Arc::new(UInt8Array::from(a)),
        Arc::new(Float64Array::from(r)),
        Arc::new(St::Array::from(s_next)),
        Arc::new(BooleanArray::from(regen)),
    ];
    RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Infection, Model};
    use crate::population::Population;
    use crate::space::{uniform, Policy};
    use crate::test_util::in_pool;

    /// One stepped population of `n` agents (several chunks, the last one short).
    fn stepped(n: usize) -> Population {
        let m = Infection::default();
        let (ns, na) = (m.num_states(), m.num_actions());
        let mut pop = Population::try_new(ns, n, &uniform(ns), 11).unwrap();
        pop.step_par(&m, &Policy::uniform(ns, na), 0, 11).unwrap();
        pop
    }

    #[test]
    fn selection_is_the_same_for_any_thread_count() {
        let n = 3 * CHUNK + 1234;
        let pop = stepped(n);
        let buffer = pop.transitions().unwrap();
        for fraction in [1.0, 0.3] {
            let one = in_pool(1, || transitions_batch(buffer, 5, fraction, 42));
            let two = in_pool(2, || transitions_batch(buffer, 5, fraction, 42));
            let four = in_pool(4, || transitions_batch(buffer, 5, fraction, 42));
            assert_eq!(one, two, "fraction {fraction}");
            assert_eq!(one, four, "fraction {fraction}");
            let rows = one.num_rows() as f64;
            assert!((rows / n as f64 - fraction).abs() < 0.02, "{rows} rows");
        }
    }

    #[test]
    fn blocks_of_whole_chunks_keep_the_agents_of_the_whole_population() {
        let n = 3 * CHUNK + 1234;
        let kept = |s: &Selection, len: usize| -> Vec<usize> {
            (0..len.div_ceil(CHUNK))
                .flat_map(|c| {
                    let rows = s.chunk_agents(c, len);
                    (0..rows.len()).map(move |j| s.first_agent() + rows.agent(j))
                })
                .collect()
        };
        for fraction in [1.0, 0.3] {
            let mut whole = Selection::default();
            whole.draw(n, 7, fraction, 42);
            let want = kept(&whole, n);
            // Blocks of 1 and 2 chunks and the partial rest, as ranks hold them.
            let mut got = Vec::new();
            for block in [0..CHUNK, CHUNK..3 * CHUNK, 3 * CHUNK..n] {
                let mut s = Selection::default();
                s.draw_block(block.clone(), n, 7, fraction, 42);
                assert_eq!(s.population(), n);
                got.extend(kept(&s, block.len()));
            }
            assert_eq!(got, want, "fraction {fraction}");
            assert_eq!(want.len() == n, fraction == 1.0);
        }
    }

    #[test]
    fn batch_holds_each_kept_transition_in_narrow_types() {
        let n = CHUNK + 77;
        let pop = stepped(n);
        let buffer = pop.transitions().unwrap();
        let b = transitions_batch(buffer, 9, 0.5, 3);
        assert_eq!(
            b.schema(),
            transitions_schema(buffer.tables().num_states(), n)
        );
        let col = |i: usize| b.column(i);
        let iteration = col(0).as_any().downcast_ref::<UInt32Array>().unwrap();
        let agent = col(1).as_any().downcast_ref::<UInt32Array>().unwrap();
        let s = col(2).as_any().downcast_ref::<UInt8Array>().unwrap();
        let a = col(3).as_any().downcast_ref::<UInt8Array>().unwrap();
        let r = col(4).as_any().downcast_ref::<Float64Array>().unwrap();
        let s_next = col(5).as_any().downcast_ref::<UInt8Array>().unwrap();
        let regen = col(6).as_any().downcast_ref::<BooleanArray>().unwrap();
        let mut last = None;
        for j in 0..b.num_rows() {
            let i = agent.value(j) as usize;
            assert!(last.is_none_or(|l| l < i), "agents in order");
            last = Some(i);
            let t = buffer.get(i);
            assert_eq!(iteration.value(j), 9);
            assert_eq!(usize::from(s.value(j)), t.state);
            assert_eq!(usize::from(a.value(j)), t.action);
            assert_eq!(r.value(j), buffer.reward(i));
            assert_eq!(usize::from(s_next.value(j)), t.next_state);
            assert_eq!(regen.value(j), t.regenerated);
        }
    }

    #[test]
    fn schema_widens_for_many_states_and_agents() {
        let narrow = transitions_schema(256, 1 << 20);
        assert_eq!(narrow.field(1).data_type(), &DataType::UInt32);
        assert_eq!(narrow.field(2).data_type(), &DataType::UInt8);
        let wide = transitions_schema(257, usize::MAX);
        assert_eq!(wide.field(1).data_type(), &DataType::UInt64);
        assert_eq!(wide.field(2).data_type(), &DataType::UInt16);
        assert_eq!(wide.field(5).data_type(), &DataType::UInt16);
    }
}
