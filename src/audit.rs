//! The audit trail's context. The HTTP edge runs each request inside a
//! task-local `RequestContext` (IP, user agent, request id); a flow that
//! resolves a user notes its `sub`. Services read both when they record an
//! event, so no business signature carries transport details, and every
//! facade (native, Cognito JSON, OAuth) gets the same trail by setting the
//! same context.
//!
//! Admin changes carry more: an `AdminCtx` (actor, door, request context)
//! that only the edges make after their admin check, and that every
//! changing admin service method takes and records.

use crate::clock::Clock;
use crate::error::Result;
use crate::model::AuditEvent;
use crate::store::AuditStore;
use std::cell::RefCell;
use std::future::Future;

#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

tokio::task_local! {
    static REQUEST: RequestContext;
    static SUBJECT: RefCell<Option<String>>;
}

/// Runs `f` with the request's context.
pub async fn with_request<F: Future>(ctx: RequestContext, f: F) -> F::Output {
    REQUEST.scope(ctx, f).await
}

/// The current request's context (empty outside a request, e.g. the CLI).
pub fn request() -> RequestContext {
    REQUEST.try_with(Clone::clone).unwrap_or_default()
}

/// Notes the user a flow is about (no-op outside `with_subject`).
pub fn note_subject(sub: &str) {
    let _ = SUBJECT.try_with(|s| *s.borrow_mut() = Some(sub.to_owned()));
}

/// Runs `f`, returning its output and the user it noted, if any.
pub async fn with_subject<F: Future>(f: F) -> (F::Output, Option<String>) {
    SUBJECT
        .scope(RefCell::new(None), async {
            let out = f.await;
            let sub = SUBJECT.with(|s| s.borrow().clone());
            (out, sub)
        })
        .await
}

/// The door an admin change came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The native admin API (`/v1/admin/*`, bearer admin key).
    Native,
    /// The Cognito JSON protocol (`POST /`, SigV4 with an admin key).
    Cognito,
    /// The `poolgate admin` command line (acts on the store directly).
    Cli,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Native => "native",
            Door::Cognito => "cognito",
            Door::Cli => "cli",
        }
    }
}

/// Proof that an admin check passed, and who passed it. Every admin service
/// method that changes something takes one, and records its audit event
/// itself (`AdminCtx::audited`), so no door can forget the trail.
///
/// Only the edges construct it, after their own check: the native admin-key
/// extractor (`http::extract::Admin`), the Cognito protocol's SigV4 check
/// (`http::cognito::dispatch`) and the command line (`cli.rs`, whose check is
/// access to the config and the database). The fields are private, so a
/// value cannot be made up elsewhere than through those constructors.
#[derive(Debug, Clone)]
pub struct AdminCtx {
    actor: String,
    door: Door,
    request: RequestContext,
}

impl AdminCtx {
    /// A bearer of the admin key `key` on the native API. The actor names
    /// the key by a fingerprint, never the key.
    pub(crate) fn native_key(key: &str) -> Self {
        Self::new(admin_key_actor(key), Door::Native)
    }

    /// A request to the Cognito protocol signed (SigV4) with the admin key
    /// `key`. The same key is the same actor on both HTTP doors.
    pub(crate) fn cognito_key(key: &str) -> Self {
        Self::new(admin_key_actor(key), Door::Cognito)
    }

    /// The command line, run by the operating-system user `user`. Public
    /// because its check is outside the process: whoever holds the config
    /// and the database (the `poolgate admin` CLI, the bench tools in
    /// `src/bin`) is an administrator already.
    pub fn cli(user: &str) -> Self {
        Self::new(format!("os-user:{user}"), Door::Cli)
    }

    fn new(actor: String, door: Door) -> Self {
        Self {
            actor,
            door,
            request: request(),
        }
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn door(&self) -> Door {
        self.door
    }

    /// Runs an admin change and records `Admin:<action>` with the actor, the
    /// door, the target and the outcome (`Success` or the error code: a
    /// refused change is recorded as failed). An audit write that fails is
    /// logged; it does not fail the change.
    pub async fn audited<T>(
        &self,
        store: &dyn AuditStore,
        clock: &dyn Clock,
        action: &str,
        target: Target<'_>,
        change: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        self.audited_as(store, clock, action, target, |_| None, change)
            .await
    }

    /// `audited` for a change that creates the object it is about: `created`
    /// names the new pool or client (its id is only known afterwards).
    pub async fn audited_as<T>(
        &self,
        store: &dyn AuditStore,
        clock: &dyn Clock,
        action: &str,
        target: Target<'_>,
        created: impl FnOnce(&T) -> Option<Created>,
        change: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let out = change.await;
        let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let mut pool_id = target.pool_id.map(str::to_owned);
        let mut client_id = target.client_id.map(str::to_owned);
        match out.as_ref().ok().and_then(created) {
            Some(Created::Pool(id)) => pool_id = Some(id),
            Some(Created::Client(id)) => client_id = Some(id),
            None => {}
        }
        let event = AuditEvent {
            id: crate::crypto::random::ordered_id(),
            pool_id: pool_id.map(|p| cut(&p, 256)),
            sub: None,
            username: target.username.map(|u| cut(u, 256)),
            client_id: client_id.map(|c| cut(&c, 128)),
            event: format!("Admin:{action}"),
            outcome: match &out {
                Ok(_) => "Success".to_owned(),
                Err(e) => e.kind.code().to_owned(),
            },
            ip: self.request.ip.clone(),
            user_agent: self.request.user_agent.as_deref().map(|u| cut(u, 512)),
            request_id: self.request.request_id.clone(),
            created_at: clock.now(),
            actor: Some(self.actor.clone()),
            door: Some(self.door.as_str().to_owned()),
            target: target.object.map(|o| cut(&o, 512)),
        };
        if let Err(e) = store.insert_audit(&event).await {
            tracing::error!(error = ?e, action, "admin audit event not recorded");
        }
        out
    }
}

/// The object a creating change made (`AdminCtx::audited_as`).
pub enum Created {
    Pool(String),
    Client(String),
}

/// What an admin change is about: the pool (user pool or identity pool), the
/// user, the app client, and any other object (`group:admins`,
/// `role:owner`, ...).
#[derive(Debug, Clone, Default)]
pub struct Target<'a> {
    pub pool_id: Option<&'a str>,
    pub username: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub object: Option<String>,
}

impl<'a> Target<'a> {
    pub fn none() -> Self {
        Self::default()
    }
    pub fn pool(pool_id: &'a str) -> Self {
        Self {
            pool_id: Some(pool_id),
            ..Self::default()
        }
    }
    pub fn user(pool_id: &'a str, username: &'a str) -> Self {
        Self {
            pool_id: Some(pool_id),
            username: Some(username),
            ..Self::default()
        }
    }
    pub fn client(pool_id: &'a str, client_id: &'a str) -> Self {
        Self {
            pool_id: Some(pool_id),
            client_id: Some(client_id),
            ..Self::default()
        }
    }
    pub fn object(mut self, kind: &str, name: &str) -> Self {
        self.object = Some(format!("{kind}:{name}"));
        self
    }
}

/// How the trail names an admin key: `admin-key:` and the first 12 hex
/// digits of its SHA-256. Stable across restarts and key-list reorderings,
/// tells the configured keys apart, and is no use to guess the key (keys
/// are at least 20 characters; generated ones are 256-bit random).
pub fn admin_key_actor(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(key.as_bytes()));
    format!("admin-key:{}", &h[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn au1_an_admin_key_is_named_by_a_stable_fingerprint_never_by_itself() {
        let key = "an-admin-key-0123456789abcdef";
        let a = admin_key_actor(key);
        assert_eq!(a, admin_key_actor(key));
        assert_ne!(a, admin_key_actor("another-admin-key-0123456789"));
        assert!(a.starts_with("admin-key:") && a.len() == "admin-key:".len() + 12);
        assert!(!a.contains(key) && !a.contains(&key[..12]));
        // The same key is the same actor on both HTTP doors.
        let (n, c) = (AdminCtx::native_key(key), AdminCtx::cognito_key(key));
        assert_eq!(n.actor(), c.actor());
        assert_eq!((n.door(), c.door()), (Door::Native, Door::Cognito));
        assert_eq!(AdminCtx::cli("ops").actor(), "os-user:ops");
    }
}
