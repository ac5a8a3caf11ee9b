//! Syscall layer: shm, memfd, mmap, fallocate, futex, process identity.
