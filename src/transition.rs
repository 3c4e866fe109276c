//! Compact transition buffer filled by the population step.
