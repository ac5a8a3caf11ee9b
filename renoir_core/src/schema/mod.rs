//! Message schemas: model, compatibility, migration, registry.
