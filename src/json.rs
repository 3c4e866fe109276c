//! Reading reports back from JSON: serde_json writes a non-finite f64 as `null`, so the
//! fields that may hold one say what `null` stands for.

use serde::{Deserialize, Deserializer};

/// A number, or `null` for +∞ (the fields whose only non-finite value is +∞: "no cap",
/// "never").
///
/// # Errors
/// When the value is neither a number nor `null`.
pub fn null_as_infinity<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// A number, or `null` for NaN (a measurement that had nothing to measure).
///
/// # Errors
/// When the value is neither a number nor `null`.
pub fn null_as_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        #[serde(deserialize_with = "null_as_infinity")]
        cap: f64,
        #[serde(deserialize_with = "null_as_nan")]
        m: f64,
    }

    #[test]
    fn null_reads_as_the_non_finite_value_it_was_written_from() {
        let t: T = serde_json::from_str(r#"{"cap": null, "m": null}"#).unwrap();
        assert_eq!(t.cap, f64::INFINITY);
        assert!(t.m.is_nan());
        let t: T = serde_json::from_str(r#"{"cap": 2.5, "m": -1}"#).unwrap();
        assert_eq!((t.cap, t.m), (2.5, -1.0));
        // What serde_json writes for the non-finite values: null.
        assert_eq!(serde_json::to_string(&f64::INFINITY).unwrap(), "null");
        assert!(serde_json::from_str::<T>(r#"{"cap": "x", "m": 1}"#).is_err());
    }
}
