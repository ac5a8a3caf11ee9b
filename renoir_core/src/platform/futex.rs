//! Non-private futex wait/wake on words in shared memory.
