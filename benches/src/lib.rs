//! Benchmarks of the media plane.
