//! Benchmarks of the media plane. The load generator arrives with its own issue.
