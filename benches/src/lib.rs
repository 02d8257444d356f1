//! Home of FDL's criterion benchmarks (`cargo bench -p fdl-benches`); the library is empty.
//! End-to-end throughput is measured by `fdl bench` (see `docs/benchmarks.md`).
