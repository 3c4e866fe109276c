//! Building record batches row by row: [`TableBuilder`], [`RowAppender`], [`numbered_fields`].

use super::*;

/// `prefix_0`, `prefix_1`, …, `prefix_{n−1}`: one non-nullable column per state or action.
pub fn numbered_fields(prefix: &str, n: usize, data_type: DataType) -> Vec<Field> {
    (0..n)
        .map(|i| Field::new(format!("{prefix}_{i}"), data_type.clone(), false))
        .collect()
}

/// One typed column builder.
#[derive(Debug)]
enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int64(Int64Builder),
    UInt32(UInt32Builder),
    UInt64(UInt64Builder),
    Float64(Float64Builder),
}

impl ColumnBuilder {
    fn new(data_type: &DataType, capacity: usize) -> Option<Self> {
        Some(match data_type {
            DataType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(capacity)),
            DataType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
            DataType::UInt32 => ColumnBuilder::UInt32(UInt32Builder::with_capacity(capacity)),
            DataType::UInt64 => ColumnBuilder::UInt64(UInt64Builder::with_capacity(capacity)),
            DataType::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            _ => return None,
        })
    }

    /// The finished array; the builder is replaced by an empty one of `capacity` rows (the
    /// finished buffers now belong to the batch).
    fn finish(&mut self, capacity: usize) -> ArrayRef {
        fn take<B>(b: &mut B, fresh: B, finish: impl FnOnce(&mut B) -> ArrayRef) -> ArrayRef {
            let array = finish(b);
            *b = fresh;
            array
        }
        match self {
            ColumnBuilder::Boolean(b) => take(b, BooleanBuilder::with_capacity(capacity), |b| {
                Arc::new(b.finish())
            }),
            ColumnBuilder::Int64(b) => take(b, Int64Builder::with_capacity(capacity), |b| {
                Arc::new(b.finish())
            }),
            ColumnBuilder::UInt32(b) => take(b, UInt32Builder::with_capacity(capacity), |b| {
                Arc::new(b.finish())
            }),
            ColumnBuilder::UInt64(b) => take(b, UInt64Builder::with_capacity(capacity), |b| {
                Arc::new(b.finish())
            }),
            ColumnBuilder::Float64(b) => take(b, Float64Builder::with_capacity(capacity), |b| {
                Arc::new(b.finish())
            }),
        }
    }
}

/// Row-at-a-time builder of [`RecordBatch`]es for a fixed schema of numeric columns
/// (`Int64`, `UInt32`, `UInt64`, `Float64`; nullable or not).
///
/// Allocate one per table and keep it for the whole run: [`TableBuilder::push_row`] appends
/// into the column builders and [`TableBuilder::finish`] turns them into a batch and leaves
/// the builder empty, with `capacity` rows reserved for the next batch.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// use mfgsim::output::{numbered_fields, TableBuilder};
///
/// let mut fields = vec![Field::new("step", DataType::Int64, false)];
/// fields.extend(numbered_fields("z", 3, DataType::Float64));
/// let mut rows = TableBuilder::new(Arc::new(Schema::new(fields)), 1024);
/// for step in 0..10 {
///     rows.push_row(|r| { r.i64(step).f64s(&[0.2, 0.3, 0.5]); });
/// }
/// let batch = rows.finish();
/// assert_eq!((batch.num_rows(), batch.num_columns()), (10, 4));
/// assert!(rows.is_empty());
/// ```
#[derive(Debug)]
pub struct TableBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    capacity: usize,
    rows: usize,
}

impl TableBuilder {
    /// A builder for `schema`, reserving `capacity` rows per batch.
    ///
    /// # Panics
    /// When a field's type is not `Boolean`, `Int64`, `UInt32`, `UInt64` or `Float64` (a schema is
    /// fixed by code, so this is a bug, not an input error).
    pub fn new(schema: SchemaRef, capacity: usize) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                ColumnBuilder::new(f.data_type(), capacity).unwrap_or_else(|| {
                    panic!(
                        "TableBuilder: column `{}` has unsupported type {}",
                        f.name(),
                        f.data_type()
                    )
                })
            })
            .collect();
        TableBuilder {
            schema,
            columns,
            capacity,
            rows: 0,
        }
    }

    /// The schema of the batches built.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows appended since the last [`TableBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row is pending.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one row: `fill` gives one value per column, in schema order.
    ///
    /// # Panics
    /// When `fill` gives too few or too many values, a value of the wrong type, or a null
    /// for a non-nullable column. A panic inside `fill` leaves the builder unusable.
    pub fn push_row(&mut self, fill: impl FnOnce(&mut RowAppender<'_>)) {
        let width = self.columns.len();
        let mut row = RowAppender {
            schema: &self.schema,
            columns: &mut self.columns,
            next: 0,
        };
        fill(&mut row);
        assert_eq!(
            row.next, width,
            "TableBuilder::push_row: row has {} values, the schema has {width} columns",
            row.next
        );
        self.rows += 1;
    }

    /// The pending rows as a batch; the builder is left empty for the next batch.
    pub fn finish(&mut self) -> RecordBatch {
        let arrays = self
            .columns
            .iter_mut()
            .map(|c| c.finish(self.capacity))
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .expect("TableBuilder keeps columns equal in length and type")
    }
}

/// Cursor over one row of a [`TableBuilder`]: each call fills the next column.
#[derive(Debug)]
pub struct RowAppender<'a> {
    schema: &'a Schema,
    columns: &'a mut [ColumnBuilder],
    next: usize,
}

impl RowAppender<'_> {
    /// The next column's builder; panics past the last column.
    fn column(&mut self, want: &str) -> (&Field, &mut ColumnBuilder) {
        let i = self.next;
        assert!(
            i < self.columns.len(),
            "TableBuilder::push_row: more values than the {} columns (next is {want})",
            self.columns.len()
        );
        self.next += 1;
        (self.schema.field(i), &mut self.columns[i])
    }

    fn mismatch(field: &Field, got: &str) -> ! {
        panic!(
            "TableBuilder::push_row: column `{}` is {}, got {got}",
            field.name(),
            field.data_type()
        )
    }

    /// Appends a `Boolean` value.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        match self.column("bool") {
            (_, ColumnBuilder::Boolean(b)) => b.append_value(v),
            (f, _) => Self::mismatch(f, "bool"),
        }
        self
    }

    /// Appends an `Int64` value.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        match self.column("i64") {
            (_, ColumnBuilder::Int64(b)) => b.append_value(v),
            (f, _) => Self::mismatch(f, "i64"),
        }
        self
    }

    /// Appends a `UInt32` value.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        match self.column("u32") {
            (_, ColumnBuilder::UInt32(b)) => b.append_value(v),
            (f, _) => Self::mismatch(f, "u32"),
        }
        self
    }

    /// Appends a `UInt64` value.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        match self.column("u64") {
            (_, ColumnBuilder::UInt64(b)) => b.append_value(v),
            (f, _) => Self::mismatch(f, "u64"),
        }
        self
    }

    /// Appends a `Float64` value.
    pub fn f64(&mut self, v: f64) -> &mut Self {
        match self.column("f64") {
            (_, ColumnBuilder::Float64(b)) => b.append_value(v),
            (f, _) => Self::mismatch(f, "f64"),
        }
        self
    }

    /// Appends a `Float64` value or a null (the column must be nullable).
    pub fn opt_f64(&mut self, v: Option<f64>) -> &mut Self {
        match self.column("Option<f64>") {
            (f, _) if v.is_none() && !f.is_nullable() => {
                panic!(
                    "TableBuilder::push_row: null for non-nullable column `{}`",
                    f.name()
                )
            }
            (_, ColumnBuilder::Float64(b)) => b.append_option(v),
            (f, _) => Self::mismatch(f, "Option<f64>"),
        }
        self
    }

    /// Appends one `Float64` value to each of the next `vs.len()` columns (e.g. `z_0..z_{S−1}`).
    pub fn f64s(&mut self, vs: &[f64]) -> &mut Self {
        for v in vs {
            self.f64(*v);
        }
        self
    }
}
