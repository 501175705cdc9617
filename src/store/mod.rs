//! Persistence, in domain terms. One trait per domain area, one `Store` handle
//! that has them all, two backends (SQLite, PostgreSQL) sharing one SQL text
//! (`sql.rs`), and migrations per backend under `migrations/`.
//!
//! Every query is scoped by pool id. Multi-row changes that must not be seen
//! half-done (a user with its aliases and code; a confirmation) run in one
//! transaction that starts with a write, so SQLite takes its write lock up
//! front instead of failing a lock upgrade under concurrency.

mod sql;

use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use std::sync::Arc;

pub use sql::{Backend, SqlStore, connect};

#[async_trait]
pub trait PoolStore: Send + Sync {
    async fn insert_pool(&self, pool: &Pool) -> Result<()>;
    async fn get_pool(&self, id: &str) -> Result<Option<Pool>>;
    /// Pools ordered by id, after `after` (cursor), at most `limit`.
    async fn list_pools(&self, after: Option<&str>, limit: i64) -> Result<Vec<Pool>>;
    async fn update_pool(&self, pool: &Pool) -> Result<bool>;
    async fn delete_pool(&self, id: &str) -> Result<bool>;

    async fn insert_client(&self, client: &AppClient) -> Result<()>;
    async fn get_client(&self, pool_id: &str, client_id: &str) -> Result<Option<AppClient>>;
    /// The pool of an app client (client ids are unique across pools).
    async fn client_pool_id(&self, client_id: &str) -> Result<Option<String>>;
    async fn list_clients(&self, pool_id: &str) -> Result<Vec<AppClient>>;
    async fn update_client(&self, client: &AppClient) -> Result<bool>;
    /// Deletes the client and, in the same transaction, revokes its refresh
    /// families (which ends its access tokens too) as of `now`.
    async fn delete_client(&self, pool_id: &str, client_id: &str, now: i64) -> Result<bool>;

    /// `Conflict` when the pool has a resource server with this identifier.
    async fn insert_resource_server(&self, rs: &ResourceServer) -> Result<()>;
    async fn get_resource_server(
        &self,
        pool_id: &str,
        identifier: &str,
    ) -> Result<Option<ResourceServer>>;
    /// A pool's resource servers ordered by identifier, after `after`.
    async fn list_resource_servers(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ResourceServer>>;
    async fn update_resource_server(&self, rs: &ResourceServer) -> Result<bool>;
    async fn delete_resource_server(&self, pool_id: &str, identifier: &str) -> Result<bool>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user, its aliases and (optionally) a code, all or nothing.
    /// A taken username answers `UsernameExists`, a taken alias `AliasExists`.
    async fn create_user(
        &self,
        user: &User,
        aliases: &[Alias],
        code: Option<&CodeRecord>,
    ) -> Result<()>;
    async fn get_user(&self, pool_id: &str, sub: &str) -> Result<Option<User>>;
    /// The user and its groups (sorted as in tokens), in one round trip.
    async fn get_user_with_groups(
        &self,
        pool_id: &str,
        sub: &str,
    ) -> Result<Option<(User, Vec<Group>)>>;
    async fn get_user_by_username(&self, pool_id: &str, username: &str) -> Result<Option<User>>;
    /// What a sign-in needs of the user a name designates, in one round
    /// trip: the user, its groups (sorted as in tokens) and its sign-in
    /// throttle as seen from `source`.
    async fn sign_in_lookup(
        &self,
        pool_id: &str,
        by: UserLookup<'_>,
        source: &str,
    ) -> Result<Option<SignInRecord>>;
    /// The owner of a sign-in alias (email/phone/preferred_username).
    async fn find_alias(&self, pool_id: &str, kind: &str, value: &str) -> Result<Option<String>>;
    /// The owner of a sign-in alias, in one round trip.
    async fn get_user_by_alias(
        &self,
        pool_id: &str,
        kind: &str,
        value: &str,
    ) -> Result<Option<User>>;
    async fn update_user(&self, user: &User) -> Result<bool>;
    async fn delete_user(&self, pool_id: &str, sub: &str) -> Result<bool>;
    async fn count_users(&self, pool_id: &str) -> Result<i64>;
    /// The sign-in throttle of a user as seen from `source` (a client
    /// network): the account-wide and the per-source counters and locks.
    async fn signin_failures(
        &self,
        pool_id: &str,
        sub: &str,
        source: &str,
    ) -> Result<SigninThrottle>;
    /// Counts a failed sign-in atomically, account-wide and for `source`, and
    /// stores the locks computed from the new counts.
    async fn record_signin_failure(
        &self,
        pool_id: &str,
        sub: &str,
        source: &str,
        lock_account: &(dyn Fn(i32) -> i64 + Sync),
        lock_source: &(dyn Fn(i32) -> i64 + Sync),
    ) -> Result<()>;
    /// Forgets every counter of the user (a successful sign-in).
    async fn clear_signin_failures(&self, pool_id: &str, sub: &str) -> Result<()>;
    /// Marks `source` as a network the user signed in from at `at` (G2).
    async fn note_signin_success(
        &self,
        pool_id: &str,
        sub: &str,
        source: &str,
        at: i64,
    ) -> Result<()>;
    /// The throttle of a name that designates no user (G3), as seen from
    /// `source`: the same counters as an account's.
    async fn name_failures(
        &self,
        pool_id: &str,
        name_key: &str,
        source: &str,
    ) -> Result<SigninThrottle>;
    /// Counts a failed sign-in of an unknown name, like
    /// `record_signin_failure` does for an account.
    async fn record_name_failure(
        &self,
        pool_id: &str,
        name_key: &str,
        source: &str,
        now: i64,
        lock_account: &(dyn Fn(i32) -> i64 + Sync),
        lock_source: &(dyn Fn(i32) -> i64 + Sync),
    ) -> Result<()>;
    /// Drops unknown-name counters untouched and unlocked since `before`.
    async fn purge_name_failures(&self, before: i64) -> Result<u64>;
    /// Users for whom `filter` holds (all of them when `None`), ordered by
    /// sub, after `after` (cursor), at most `limit`. Filter values are bound
    /// as parameters, never spliced into the SQL text; a prefix's `LIKE`
    /// wildcards (`%`, `_`, `\`) are escaped.
    async fn list_users(
        &self,
        pool_id: &str,
        filter: Option<&UserFilter>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>>;
    /// The aliases a user owns.
    async fn user_aliases(&self, pool_id: &str, sub: &str) -> Result<Vec<Alias>>;

    /// Replaces the live code of (user, purpose).
    async fn put_code(&self, code: &CodeRecord) -> Result<()>;
    async fn get_code(
        &self,
        pool_id: &str,
        sub: &str,
        purpose: CodePurpose,
    ) -> Result<Option<CodeRecord>>;
    /// Counts a wrong try; returns the new count.
    async fn bump_code_attempts(
        &self,
        pool_id: &str,
        sub: &str,
        purpose: CodePurpose,
    ) -> Result<i32>;
    async fn delete_code(&self, pool_id: &str, sub: &str, purpose: CodePurpose) -> Result<()>;
    /// Consumes the sign-up code `code_hash` and confirms the user, adding
    /// `aliases` and marking the `verified` attributes (`email`, ...) as
    /// verified, in one transaction. `Ok(false)`: the code was already used or
    /// replaced (a concurrent confirmation won).
    /// Consumes the attribute-verification code `code_hash` and writes the
    /// user's new `attributes`, moving the sign-in alias of `kind` from
    /// `old_alias` to `new_alias` when given, in one transaction. A taken
    /// new alias answers `AliasExists` and changes nothing. `Ok(false)`: the
    /// code was already used or replaced.
    #[allow(clippy::too_many_arguments)]
    async fn verify_attribute(
        &self,
        pool_id: &str,
        sub: &str,
        purpose: CodePurpose,
        code_hash: &str,
        alias_move: Option<(&str, Option<&str>, &str)>,
        attributes: &Attributes,
        now: i64,
    ) -> Result<bool>;
    /// Consumes the reset code `code_hash` and sets the new password hash and
    /// status, revoking every refresh family of the user, in one
    /// transaction. `Ok(false)`: the code was already used or replaced.
    #[allow(clippy::too_many_arguments)]
    async fn reset_password(
        &self,
        pool_id: &str,
        sub: &str,
        code_hash: &str,
        password_hash: &str,
        srp_sealed: Option<&[u8]>,
        status: UserStatus,
        now: i64,
    ) -> Result<bool>;
    async fn confirm_signup(
        &self,
        pool_id: &str,
        sub: &str,
        code_hash: &str,
        aliases: &[Alias],
        verified: &[String],
        now: i64,
    ) -> Result<bool>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Starts a family with its first refresh token (by its hash; the token
    /// belongs to the family, dates from its creation and is unused), in
    /// one statement; an id already taken answers `Conflict` (exactly one
    /// of concurrent callers wins).
    async fn create_family(&self, family: &TokenFamily, first_token_hash: &str) -> Result<()>;
    async fn get_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshTokenRecord, TokenFamily)>>;
    /// The token, its family and the family's user, in one round trip (the
    /// refresh hot path).
    async fn get_refresh_session(&self, token_hash: &str) -> Result<Option<RefreshSession>>;
    /// Marks `old_hash` used and stores `next`, only if `old_hash` was unused.
    /// `Ok(false)`: someone else rotated it first.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        next: &RefreshTokenRecord,
        now: i64,
    ) -> Result<bool>;
    async fn get_family(&self, family_id: &str) -> Result<Option<TokenFamily>>;
    async fn revoke_family(&self, family_id: &str, now: i64) -> Result<bool>;
    async fn revoke_user_families(&self, pool_id: &str, sub: &str, now: i64) -> Result<u64>;
}

/// The hosted pages' sign-in sessions. (Authorization codes are sealed
/// and stored nowhere; their single use is the refresh family id, see
/// [`TokenStore::create_family`].)
#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Drops sign-in sessions and pending federation redirects that
    /// expired before `before`.
    async fn purge_login_sessions(&self, before: i64) -> Result<u64>;
    async fn insert_login_session(&self, session: &LoginSession) -> Result<()>;
    async fn get_login_session(&self, id_hash: &str) -> Result<Option<LoginSession>>;
    async fn delete_login_session(&self, id_hash: &str) -> Result<bool>;
}

/// Federated sign-in: a pool's identity providers, the provider subjects
/// linked to users, and pending redirects to a provider.
#[async_trait]
pub trait FederationStore: Send + Sync {
    /// A taken name answers `Conflict`.
    async fn insert_identity_provider(&self, p: &IdentityProvider) -> Result<()>;
    async fn get_identity_provider(
        &self,
        pool_id: &str,
        name: &str,
    ) -> Result<Option<IdentityProvider>>;
    async fn list_identity_providers(&self, pool_id: &str) -> Result<Vec<IdentityProvider>>;
    async fn update_identity_provider(&self, p: &IdentityProvider) -> Result<bool>;
    async fn delete_identity_provider(&self, pool_id: &str, name: &str) -> Result<bool>;
    /// Links a provider subject to a user; a subject already linked
    /// answers `Conflict` (exactly one of two concurrent links wins).
    async fn link_identity(&self, link: &UserIdentity) -> Result<()>;
    /// The user (sub) a provider subject signs in as.
    async fn find_identity(
        &self,
        pool_id: &str,
        provider: &str,
        subject: &str,
    ) -> Result<Option<String>>;
    async fn identities_of_user(&self, pool_id: &str, sub: &str) -> Result<Vec<UserIdentity>>;
    async fn unlink_identity(&self, pool_id: &str, provider: &str, subject: &str) -> Result<bool>;
    async fn insert_federation_state(&self, st: &FederationState) -> Result<()>;
    /// Removes and returns a pending redirect (exactly one caller gets
    /// it), if it has not expired by `now`.
    async fn take_federation_state(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<FederationState>>;
}

/// Users' second factors.
#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn get_user_mfa(&self, pool_id: &str, sub: &str) -> Result<Option<UserMfa>>;
    /// Creates or replaces the row, except `totp_last_step`, which only
    /// [`MfaStore::use_totp_step`] moves.
    async fn put_user_mfa(&self, m: &UserMfa) -> Result<()>;
    /// Accepts a TOTP code's time step once: `true` when `step` is later
    /// than every step accepted before (exactly one of concurrent callers).
    async fn use_totp_step(&self, pool_id: &str, sub: &str, step: i64) -> Result<bool>;
}

/// Users' passkeys.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Adds a credential; `false` when the pool already has one with its id.
    async fn insert_webauthn_credential(&self, c: &WebAuthnCredential) -> Result<bool>;
    async fn webauthn_credentials_of(
        &self,
        pool_id: &str,
        sub: &str,
    ) -> Result<Vec<WebAuthnCredential>>;
    async fn delete_webauthn_credential(
        &self,
        pool_id: &str,
        sub: &str,
        credential_id: &str,
    ) -> Result<bool>;
    /// Records a verified assertion: `true` when its counter moves the
    /// stored one forward (or both are 0, for authenticators without a
    /// counter) — exactly one of concurrent callers with one value.
    async fn use_webauthn_credential(
        &self,
        pool_id: &str,
        credential_id: &str,
        sign_count: i64,
        passkey: &str,
        now: i64,
    ) -> Result<bool>;
}

/// What a refresh needs, read in one round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshSession {
    pub token: RefreshTokenRecord,
    pub family: TokenFamily,
    pub user: User,
    /// The user's groups, in token order.
    pub groups: Vec<Group>,
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    /// A taken name answers `Conflict`.
    async fn insert_group(&self, group: &Group) -> Result<()>;
    async fn get_group(&self, pool_id: &str, name: &str) -> Result<Option<Group>>;
    async fn list_groups(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Group>>;
    async fn update_group(&self, group: &Group) -> Result<bool>;
    async fn delete_group(&self, pool_id: &str, name: &str) -> Result<bool>;
    /// Idempotent.
    async fn add_member(&self, pool_id: &str, group: &str, sub: &str) -> Result<()>;
    async fn remove_member(&self, pool_id: &str, group: &str, sub: &str) -> Result<bool>;
    /// The user's groups, in token order (precedence, then name).
    async fn groups_of_user(&self, pool_id: &str, sub: &str) -> Result<Vec<Group>>;
    /// Members by `sub`, after `after`, at most `limit`.
    async fn members_of_group(
        &self,
        pool_id: &str,
        group: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: &AuthSession) -> Result<()>;
    async fn get_session(&self, id: &str) -> Result<Option<AuthSession>>;
    /// Removes and returns the session: it can be used once.
    async fn take_session(&self, id: &str) -> Result<Option<AuthSession>>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn insert_key(&self, key: &SigningKeyRecord) -> Result<()>;
    async fn list_keys(&self, pool_id: &str) -> Result<Vec<SigningKeyRecord>>;
    async fn set_key_status(
        &self,
        kid: &str,
        status: &str,
        retire_after: Option<i64>,
    ) -> Result<bool>;
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    async fn push_outbox(&self, msg: &OutboxMessage) -> Result<()>;
    /// Newest first, optionally filtered by recipient and pool.
    async fn list_outbox(
        &self,
        to: Option<&str>,
        pool_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit(&self, event: &AuditEvent) -> Result<()>;
    /// Newest first; `sub` narrows to one user; `before` is the cursor
    /// `(created_at, id)` of the last event of the previous page.
    async fn list_audit(
        &self,
        pool_id: &str,
        sub: Option<&str>,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>>;
    /// Admin changes only (events with a door), across every pool, newest
    /// first, with the same cursor as `list_audit`.
    async fn list_admin_audit(
        &self,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>>;
}

/// Identity pools, roles, identities and their logins.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn insert_identity_pool(&self, p: &crate::model::IdentityPool) -> Result<()>;
    async fn get_identity_pool(&self, id: &str) -> Result<Option<crate::model::IdentityPool>>;
    async fn list_identity_pools(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<crate::model::IdentityPool>>;
    async fn update_identity_pool(&self, p: &crate::model::IdentityPool) -> Result<bool>;
    async fn delete_identity_pool(&self, id: &str) -> Result<bool>;

    async fn insert_role(&self, r: &crate::model::Role) -> Result<()>;
    async fn get_role(&self, name: &str) -> Result<Option<crate::model::Role>>;
    async fn list_roles(&self) -> Result<Vec<crate::model::Role>>;
    async fn update_role(&self, r: &crate::model::Role) -> Result<bool>;
    async fn delete_role(&self, name: &str) -> Result<bool>;

    /// The identity a login belongs to, if any.
    async fn login_identity(
        &self,
        pool_id: &str,
        provider: &str,
        subject: &str,
    ) -> Result<Option<String>>;
    async fn get_identity(&self, identity_id: &str) -> Result<Option<crate::model::Identity>>;
    /// The (provider, subject) pairs linked to an identity.
    async fn identity_logins(&self, identity_id: &str) -> Result<Vec<(String, String)>>;
    /// Creates the identity (when `create`) and links the logins, in one
    /// transaction that first locks the identity, so that `guard` and the
    /// one-subject-per-provider rule are checked against the logins the
    /// identity holds at that moment (racing requests see one order).
    /// Nothing is linked unless the answer is `Linked`.
    async fn link_logins(
        &self,
        pool_id: &str,
        identity_id: &str,
        create: bool,
        logins: &[(String, String)],
        now: i64,
        guard: LinkGuard<'_>,
    ) -> Result<LinkOutcome>;
    /// Identities holding more than one subject of one provider, as
    /// (identity pool, identity, provider, subjects), ordered; `pool_id`
    /// narrows to one identity pool.
    async fn identities_with_repeated_providers(
        &self,
        pool_id: Option<&str>,
    ) -> Result<Vec<(String, String, String, Vec<String>)>>;
    async fn set_identity_disabled(&self, identity_id: &str, at: Option<i64>) -> Result<bool>;
    /// A pool's identities ordered by id, after `after`; disabled ones
    /// left out when `hide_disabled`.
    async fn list_identities(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
        hide_disabled: bool,
    ) -> Result<Vec<crate::model::Identity>>;
    /// Removes the identity's logins from these providers; how many went.
    async fn unlink_providers(&self, identity_id: &str, providers: &[String]) -> Result<u64>;
    /// Deletes the identity and its logins, in one transaction.
    async fn delete_identity(&self, identity_id: &str) -> Result<bool>;
    /// What the gateway asks of an identity behind credentials: whether it
    /// is disabled, and its credentials epoch (None: no such identity).
    async fn identity_standing(&self, identity_id: &str) -> Result<Option<(bool, i64)>>;
    /// Moves the identity's credentials epoch on: credentials minted before
    /// stop working. False when there is no such identity.
    async fn bump_credentials_epoch(&self, identity_id: &str) -> Result<bool>;
}

/// What must hold of an existing identity for new logins to join it
/// (Cognito's linking rule, checked inside the linking transaction).
#[derive(Debug, Clone, Copy)]
pub enum LinkGuard<'a> {
    /// The identity is created by this call.
    New,
    /// The identity must hold no logins yet: a guest being upgraded.
    Guest,
    /// At least one of these logins must be linked to the identity.
    ProvenBy(&'a [(String, String)]),
    /// The caller proved the identity with a token this server signed for
    /// it (an OpenID token of the identity pool).
    Vouched,
    /// An admin-authenticated caller (the developer provider). Cognito lets
    /// an identity hold several developer user identifiers.
    Trusted,
}

/// How a `link_logins` call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Linked,
    /// A login is linked to another identity (possibly meanwhile).
    LoginTaken,
    /// The guard did not hold: the identity has logins and none of them
    /// was presented.
    NotProven,
    /// The identity already holds another subject of one of the providers.
    ProviderTaken,
    /// The identity does not exist in that identity pool.
    NoIdentity,
}

/// Fixed-window rate-limit counters shared by every node.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Counts one hit in `bucket` for the window starting at `window_start`
    /// (a new window resets the count) and returns the hits so far.
    async fn rate_hit(&self, bucket: &str, window_start: i64) -> Result<i64>;
    /// Counts one hit in `first`, and one in `second` only while `first`
    /// is within `first_max` (a caller over its own budget does not spend
    /// the shared one), as one atomic step. Returns both counts; `None`
    /// when `second` was not counted.
    async fn rate_hit_pair(
        &self,
        first: &str,
        first_max: i64,
        second: &str,
        window_start: i64,
    ) -> Result<(i64, Option<i64>)>;
    /// Drops counters of windows that started before `before`.
    async fn purge_rate_limits(&self, before: i64) -> Result<u64>;
}

#[async_trait]
pub trait MetaStore: Send + Sync {
    /// Inserts (key, value) unless the key exists; returns the stored value.
    async fn meta_get_or_put(&self, key: &str, value: &str) -> Result<String>;
    async fn ping(&self) -> Result<()>;
    /// Highest applied migration version, and the highest this binary knows.
    async fn schema_versions(&self) -> Result<(i64, i64)>;
    async fn migrate(&self) -> Result<()>;
    fn backend(&self) -> Backend;
}

/// Everything the services need from persistence.
pub trait Store:
    PoolStore
    + UserStore
    + GroupStore
    + TokenStore
    + SessionStore
    + KeyStore
    + OutboxStore
    + AuditStore
    + IdentityStore
    + LimitStore
    + OAuthStore
    + FederationStore
    + MfaStore
    + PasskeyStore
    + MetaStore
{
}
impl<T> Store for T where
    T: PoolStore
        + UserStore
        + GroupStore
        + TokenStore
        + SessionStore
        + KeyStore
        + OutboxStore
        + AuditStore
        + IdentityStore
        + LimitStore
        + OAuthStore
        + FederationStore
        + MfaStore
        + PasskeyStore
        + MetaStore
{
}

pub type SharedStore = Arc<dyn Store>;
