//! The user-pool control plane on the Cognito protocol (all SigV4-signed
//! with an admin key), one file per aggregate: pools and their schema, app
//! clients, groups, identity providers, resource servers, MFA
//! configuration. Cognito's shapes are turned into the native settings and
//! handed to the same services as the admin API, so validation is shared.

pub(super) mod clients;
pub(super) mod groups;
pub(super) mod mfa;
pub(super) mod pools;
pub(super) mod providers;
pub(super) mod resource_servers;
mod schema;
