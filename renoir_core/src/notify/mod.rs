//! Cross-process wakeups: futex events and the per-process doorbell.
