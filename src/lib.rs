//! poolgate: self-hosted user pools and identity pools.
//!
//! A guided tour, from the outside in:

/// Wiring: settings → services → listener; graceful shutdown.
pub mod app;
/// The audit trail's request context.
pub mod audit;
/// A small TTL cache for hot reads.
pub mod cache;
/// The command line: serve, migrate, admin, keys.
pub mod cli;
/// Injectable time.
pub mod clock;
/// Layered configuration and its validation.
pub mod config;
/// Master key, sealing, password hashing, signing keys, random ids.
pub mod crypto;
/// The domain error and its stable codes.
pub mod error;
/// The S3-compatible storage gateway.
pub mod gateway;
/// The HTTP edge: native REST, admin, OIDC discovery, ops.
pub mod http;
/// Identity pools: federation to scoped storage credentials.
pub mod identity;
/// Outgoing email: SMTP and the dev outbox; templates.
pub mod mail;
/// The domain model, at the bottom: imports nothing above it.
pub mod model;
/// OpenID Connect relying party: provider discovery, JWKS, ID-token checks.
pub mod oidc_rp;
/// Outgoing text messages: the webhook and dev senders.
pub mod sms;
/// Persistence: traits in domain terms; SQLite and PostgreSQL.
pub mod store;
/// Logging and metrics.
pub mod telemetry;
/// Token claims and formats.
pub mod tokens;
/// User-pool services: pools, clients, sign-up, sign-in, tokens.
pub mod user_pools;

pub use app::Application;
