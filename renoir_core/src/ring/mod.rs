//! Lock-free rings usable across processes.
