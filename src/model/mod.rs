//! The domain model: plain data of user pools, clients, users, groups,
//! tokens, identity pools, roles and identities, and the checks of its shape.
//! This module is the bottom layer: it imports nothing from the store, the
//! crypto, the config, the services or the edge (only `crate::error`).

pub mod attributes;
mod filter;
mod identity;
mod user_pool;
mod validate;

pub use filter::*;
pub use identity::*;
pub use user_pool::*;
pub use validate::*;
