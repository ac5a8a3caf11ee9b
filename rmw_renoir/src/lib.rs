//! The rmw C ABI. Filled in by its work.
