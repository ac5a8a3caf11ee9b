//! Dead-owner detection and reclamation across regions and the registry.
