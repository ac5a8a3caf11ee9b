//! renoir_bench: the pieces of the `renoir-bench` driver (see src/main.rs
//! and docs/benchmarks.md), a library so tests can run single
//! configurations.

pub mod awake;
pub mod config;
pub mod machine;
pub mod pattern;
pub mod plot;
pub mod report;
pub mod runner;

/// The C benchmark program built by build.rs.
pub const RCL_EXE: &str = env!("RENOIR_BENCH_RCL_EXE");
/// Library folders the C program needs (LD_LIBRARY_PATH).
pub const ROS_LIBS: &str = env!("RENOIR_BENCH_ROS_LIBS");
/// The ROS 2 prefix it was built against.
pub const ROS_PREFIX: &str = env!("RENOIR_BENCH_ROS_PREFIX");
