//! Learners that turn sampled transitions into strategies.
