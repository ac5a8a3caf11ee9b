//! Offset-based allocators (owner: memory layer). Filled in by its work.
