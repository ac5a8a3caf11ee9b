//! Named shared-memory regions with validated headers.
