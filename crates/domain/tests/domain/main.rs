//! The domain's tests, in one binary: one build and one link instead of one
//! per file. Each module reads given / when / then against the pure domain.
mod asyncapi;
mod invites;
mod roles;
mod rules;
mod schemas;
mod tenants;
