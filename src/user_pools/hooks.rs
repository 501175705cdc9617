//! The hooks seam: the points where Cognito invokes a Lambda trigger, as
//! one trait the services call. Each method takes a typed event (what
//! Cognito's event carries: trigger source, pool, client, user name,
//! attributes, client metadata) and returns a typed outcome (what
//! Cognito reads from the `response`). An `Err` from a hook refuses the
//! operation before it has done anything (the pre- hooks) or is reported
//! after it (the post- hooks), as Cognito does.
//!
//! Every method has a default that does nothing, which is poolgate's
//! behaviour without triggers. [`PoolRules`] is the built-in
//! implementation: a pool's `hooks` settings (today the pre sign-up
//! auto-confirm rule). Webhook and Lambda transports (issue 10) implement
//! the same trait and serialise these events into Cognito's JSON.
//!
//! Where the services call each hook:
//!
//! | hook | called from |
//! |---|---|
//! | `pre_sign_up` | `sign_up` (`PreSignUp_SignUp`), `admin_create_user` (`_AdminCreateUser`) |
//! | `post_confirmation` | `confirm_sign_up` (`PostConfirmation_ConfirmSignUp`), `reset_password` (`_ConfirmForgotPassword`) |
//! | `pre_authentication` | `verify_password`, after the user is found, before the password is checked |
//! | `post_authentication` | `finish_sign_in`, after the credential and the user's state checked out, before tokens |
//! | `pre_token_generation` | `issue` (every token set: sign-in, refresh, hosted UI) |
//! | `user_migration` | `verify_password` and `forgot_password` for an unknown name |
//! | `custom_message` | `send_code` (sign-up, resend, forgot password, attribute codes) |
//! | `custom_email_sender`, `custom_sms_sender` | `send_code`, before the mailer or SMS gateway |
//! | `define/create/verify_auth_challenge` | `CUSTOM_AUTH` (issue 10; poolgate has no such flow yet) |

use crate::error::Result;
use crate::model::{Attributes, Pool, UserStatus};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Cognito's `triggerSource` values at the points poolgate calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerSource {
    PreSignUpSignUp,
    PreSignUpAdminCreateUser,
    PreSignUpExternalProvider,
    PostConfirmationConfirmSignUp,
    PostConfirmationConfirmForgotPassword,
    PreAuthentication,
    PostAuthentication,
    TokenGenerationAuthentication,
    TokenGenerationRefreshTokens,
    TokenGenerationHostedAuth,
    UserMigrationAuthentication,
    UserMigrationForgotPassword,
    CustomMessageSignUp,
    CustomMessageResendCode,
    CustomMessageForgotPassword,
    CustomMessageVerifyUserAttribute,
    CustomMessageAuthentication,
    CustomAuthChallenge,
}

impl TriggerSource {
    /// The `triggerSource` string of Cognito's event.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreSignUpSignUp => "PreSignUp_SignUp",
            Self::PreSignUpAdminCreateUser => "PreSignUp_AdminCreateUser",
            Self::PreSignUpExternalProvider => "PreSignUp_ExternalProvider",
            Self::PostConfirmationConfirmSignUp => "PostConfirmation_ConfirmSignUp",
            Self::PostConfirmationConfirmForgotPassword => "PostConfirmation_ConfirmForgotPassword",
            Self::PreAuthentication => "PreAuthentication_Authentication",
            Self::PostAuthentication => "PostAuthentication_Authentication",
            Self::TokenGenerationAuthentication => "TokenGeneration_Authentication",
            Self::TokenGenerationRefreshTokens => "TokenGeneration_RefreshTokens",
            Self::TokenGenerationHostedAuth => "TokenGeneration_HostedAuth",
            Self::UserMigrationAuthentication => "UserMigration_Authentication",
            Self::UserMigrationForgotPassword => "UserMigration_ForgotPassword",
            Self::CustomMessageSignUp => "CustomMessage_SignUp",
            Self::CustomMessageResendCode => "CustomMessage_ResendCode",
            Self::CustomMessageForgotPassword => "CustomMessage_ForgotPassword",
            Self::CustomMessageVerifyUserAttribute => "CustomMessage_VerifyUserAttribute",
            Self::CustomMessageAuthentication => "CustomMessage_Authentication",
            Self::CustomAuthChallenge => "CustomAuthChallenge",
        }
    }
}

impl TriggerSource {
    /// The custom message source of a code message.
    pub fn of_message(t: crate::mail::Template) -> Self {
        use crate::mail::Template;
        match t {
            Template::Verification | Template::Invitation => Self::CustomMessageSignUp,
            Template::ResetPassword => Self::CustomMessageForgotPassword,
            Template::AttributeVerification => Self::CustomMessageVerifyUserAttribute,
            Template::SignInCode => Self::CustomMessageAuthentication,
        }
    }
}

/// What every event carries (Cognito's common fields).
#[derive(Debug, Clone)]
pub struct Trigger {
    pub source: TriggerSource,
    pub pool_id: String,
    /// The app client of the request (`callerContext.clientId`); none for
    /// admin operations.
    pub client_id: Option<String>,
    /// `userName`: the user's username (the sub in email/phone pools).
    pub user_name: String,
    /// `request.clientMetadata`.
    pub client_metadata: BTreeMap<String, String>,
}

impl Trigger {
    pub fn new(source: TriggerSource, pool_id: &str, client_id: Option<&str>, user: &str) -> Self {
        Self {
            source,
            pool_id: pool_id.to_owned(),
            client_id: client_id.map(str::to_owned),
            user_name: user.to_owned(),
            client_metadata: BTreeMap::new(),
        }
    }
}

/// An event about a user: the common fields and `request.userAttributes`.
#[derive(Debug, Clone)]
pub struct UserEvent {
    pub trigger: Trigger,
    pub user_attributes: Attributes,
}

/// Pre sign-up's `response`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreSignUpOutcome {
    /// `autoConfirmUser`: the user is confirmed without a code.
    pub auto_confirm_user: bool,
    /// `autoVerifyEmail` (with `auto_confirm_user`): the email is verified.
    pub auto_verify_email: bool,
    /// `autoVerifyPhone` (with `auto_confirm_user`): the phone is verified.
    pub auto_verify_phone: bool,
}

impl PreSignUpOutcome {
    /// Whether the answer verifies `email` or `phone_number`.
    pub fn auto_verifies(&self, attr: &str) -> bool {
        match attr {
            "email" => self.auto_verify_email,
            "phone_number" => self.auto_verify_phone,
            _ => false,
        }
    }
}

/// Pre token generation's `request`: the user, its groups and the scopes
/// of the access token about to be signed.
#[derive(Debug, Clone)]
pub struct TokenEvent {
    pub trigger: Trigger,
    pub user_attributes: Attributes,
    pub groups: Vec<String>,
    pub scopes: Vec<String>,
}

/// Pre token generation's `response.claimsAndScopeOverrideDetails`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenOutcome {
    /// `idTokenGeneration.claimsToAddOrOverride`.
    pub id_claims_to_add_or_override: Map<String, Value>,
    /// `idTokenGeneration.claimsToSuppress`.
    pub id_claims_to_suppress: Vec<String>,
    /// `accessTokenGeneration.claimsToAddOrOverride`.
    pub access_claims_to_add_or_override: Map<String, Value>,
    /// `accessTokenGeneration.claimsToSuppress`.
    pub access_claims_to_suppress: Vec<String>,
    /// `groupOverrideDetails.groupsToOverride`.
    pub groups_to_override: Option<Vec<String>>,
}

/// Claims no hook may add, change or remove (Cognito's protected claims).
pub const PROTECTED_CLAIMS: &[&str] = &[
    "acr",
    "amr",
    "aud",
    "at_hash",
    "auth_time",
    "azp",
    "client_id",
    "event_id",
    "exp",
    "iat",
    "identities",
    "iss",
    "jti",
    "nbf",
    "nonce",
    "origin_jti",
    "sub",
    "token_use",
    "username",
    "cognito:username",
    "cognito:groups",
];

impl TokenOutcome {
    /// Applies the ID-token part to `claims`, leaving protected ones alone.
    pub fn apply_id(&self, claims: &mut Map<String, Value>) {
        apply(
            claims,
            &self.id_claims_to_add_or_override,
            &self.id_claims_to_suppress,
        );
        self.override_groups(claims);
    }

    /// The access token's claims with the access-token part applied,
    /// protected ones left alone.
    pub fn access(&self, claims: &crate::tokens::AccessClaims) -> Result<Map<String, Value>> {
        let mut claims =
            match serde_json::to_value(claims).map_err(crate::error::Error::internal)? {
                Value::Object(m) => m,
                _ => Map::new(),
            };
        apply(
            &mut claims,
            &self.access_claims_to_add_or_override,
            &self.access_claims_to_suppress,
        );
        self.override_groups(&mut claims);
        Ok(claims)
    }

    /// `cognito:groups` as the hook set it (absent when empty).
    fn override_groups(&self, claims: &mut Map<String, Value>) {
        match &self.groups_to_override {
            Some(g) if g.is_empty() => {
                claims.remove("cognito:groups");
            }
            Some(g) => {
                claims.insert("cognito:groups".into(), Value::from(g.clone()));
            }
            None => {}
        }
    }
}

fn apply(claims: &mut Map<String, Value>, add: &Map<String, Value>, suppress: &[String]) {
    let free = |k: &str| !PROTECTED_CLAIMS.contains(&k);
    for k in suppress.iter().filter(|k| free(k)) {
        claims.remove(k);
    }
    for (k, v) in add.iter().filter(|(k, _)| free(k)) {
        claims.insert(k.clone(), v.clone());
    }
}

/// User migration's `request`: the name the user gave and, at sign-in,
/// the password to check against the old system.
#[derive(Debug, Clone)]
pub struct MigrationEvent {
    pub trigger: Trigger,
    pub password: Option<crate::crypto::SecretString>,
}

/// User migration's `response`: the user to create.
#[derive(Debug, Clone)]
pub struct MigratedUser {
    pub user_attributes: Attributes,
    /// `finalUserStatus`: `CONFIRMED` or `RESET_REQUIRED`.
    pub final_user_status: UserStatus,
}

/// Custom message's `request`: the placeholders the message must carry.
#[derive(Debug, Clone)]
pub struct MessageEvent {
    pub trigger: Trigger,
    pub user_attributes: Attributes,
    /// `codeParameter`: the code (or temporary password).
    pub code_parameter: crate::crypto::SecretString,
    /// `usernameParameter`.
    pub username_parameter: String,
}

/// Custom message's `response`: any member left `None` keeps poolgate's
/// own template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageOutcome {
    pub email_subject: Option<String>,
    pub email_message: Option<String>,
    pub sms_message: Option<String>,
}

/// Custom email/SMS sender's event: the code goes to the hook instead of
/// the mailer or SMS gateway.
#[derive(Debug, Clone)]
pub struct SenderEvent {
    pub trigger: Trigger,
    pub user_attributes: Attributes,
    pub destination: String,
    pub code: crate::crypto::SecretString,
}

/// Whether a custom sender delivered the message itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Not handled: poolgate's mailer or SMS gateway sends it.
    #[default]
    Default,
    /// The hook delivered it.
    Delivered,
}

/// One round of a custom challenge, as `request.session` lists them.
#[derive(Debug, Clone)]
pub struct ChallengeResult {
    pub challenge_name: String,
    pub challenge_result: bool,
    pub challenge_metadata: Option<String>,
}

/// Define/create auth challenge's `request`.
#[derive(Debug, Clone)]
pub struct ChallengeEvent {
    pub trigger: Trigger,
    pub user_attributes: Attributes,
    pub session: Vec<ChallengeResult>,
    /// Create auth challenge: the challenge define chose.
    pub challenge_name: Option<String>,
}

/// Define auth challenge's `response`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefineOutcome {
    pub challenge_name: Option<String>,
    pub issue_tokens: bool,
    pub fail_authentication: bool,
}

/// Create auth challenge's `response`.
#[derive(Debug, Clone, Default)]
pub struct CreateOutcome {
    pub public_challenge_parameters: BTreeMap<String, String>,
    pub private_challenge_parameters: BTreeMap<String, String>,
    pub challenge_metadata: Option<String>,
}

/// Verify auth challenge response's `request`.
#[derive(Debug, Clone)]
pub struct VerifyEvent {
    pub trigger: Trigger,
    pub user_attributes: Attributes,
    pub private_challenge_parameters: BTreeMap<String, String>,
    pub challenge_answer: crate::crypto::SecretString,
}

/// The trigger points. Every method defaults to Cognito's behaviour
/// without a trigger.
#[async_trait::async_trait]
pub trait Hooks: Send + Sync {
    /// Before a user is created; an `Err` refuses the sign-up and leaves
    /// no user.
    async fn pre_sign_up(&self, _pool: &Pool, _e: &UserEvent) -> Result<PreSignUpOutcome> {
        Ok(PreSignUpOutcome::default())
    }

    /// After a user's sign-up or password reset was confirmed.
    async fn post_confirmation(&self, _pool: &Pool, _e: &UserEvent) -> Result<()> {
        Ok(())
    }

    /// Before the password of a known user is checked; an `Err` refuses
    /// the sign-in.
    async fn pre_authentication(&self, _pool: &Pool, _e: &UserEvent) -> Result<()> {
        Ok(())
    }

    /// After a sign-in checked out, before tokens are issued.
    async fn post_authentication(&self, _pool: &Pool, _e: &UserEvent) -> Result<()> {
        Ok(())
    }

    /// Before a token set is signed: claims and groups to change.
    async fn pre_token_generation(&self, _pool: &Pool, _e: &TokenEvent) -> Result<TokenOutcome> {
        Ok(TokenOutcome::default())
    }

    /// A name no user has: the user to create from another system, if any.
    async fn user_migration(
        &self,
        _pool: &Pool,
        _e: &MigrationEvent,
    ) -> Result<Option<MigratedUser>> {
        Ok(None)
    }

    /// Before a code message is rendered: its text, if not the template's.
    async fn custom_message(&self, _pool: &Pool, _e: &MessageEvent) -> Result<MessageOutcome> {
        Ok(MessageOutcome::default())
    }

    /// Before an email with a code is sent.
    async fn custom_email_sender(&self, _pool: &Pool, _e: &SenderEvent) -> Result<Delivery> {
        Ok(Delivery::Default)
    }

    /// Before a text message with a code is sent.
    async fn custom_sms_sender(&self, _pool: &Pool, _e: &SenderEvent) -> Result<Delivery> {
        Ok(Delivery::Default)
    }

    /// `CUSTOM_AUTH`: the next challenge, or the verdict.
    async fn define_auth_challenge(
        &self,
        _pool: &Pool,
        _e: &ChallengeEvent,
    ) -> Result<DefineOutcome> {
        Ok(DefineOutcome {
            fail_authentication: true,
            ..DefineOutcome::default()
        })
    }

    /// `CUSTOM_AUTH`: the challenge's parameters.
    async fn create_auth_challenge(
        &self,
        _pool: &Pool,
        _e: &ChallengeEvent,
    ) -> Result<CreateOutcome> {
        Ok(CreateOutcome::default())
    }

    /// `CUSTOM_AUTH`: whether the answer is right.
    async fn verify_auth_challenge(&self, _pool: &Pool, _e: &VerifyEvent) -> Result<bool> {
        Ok(false)
    }
}

pub type SharedHooks = Arc<dyn Hooks>;

/// The built-in hooks: the rules of a pool's `hooks` settings. With no
/// rules set, every method is the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolRules;

#[async_trait::async_trait]
impl Hooks for PoolRules {
    /// `hooks.pre_sign_up.auto_confirm_email_domains`: a self sign-up whose
    /// email is at one of the domains is confirmed (its email is not
    /// verified).
    async fn pre_sign_up(&self, pool: &Pool, e: &UserEvent) -> Result<PreSignUpOutcome> {
        let rules = &pool.settings.hooks.pre_sign_up;
        let auto_confirm = e.trigger.source == TriggerSource::PreSignUpSignUp
            && e.user_attributes
                .get("email")
                .is_some_and(|email| email_domain_in(email, &rules.auto_confirm_email_domains));
        Ok(PreSignUpOutcome {
            auto_confirm_user: auto_confirm,
            ..PreSignUpOutcome::default()
        })
    }
}

/// Whether an email's domain (after its last `@`) is exactly one of
/// `domains` (lower-case ASCII), ignoring ASCII case only: no Unicode
/// folding (the Kelvin sign is not a `k`), no trimming, no subdomains.
pub fn email_domain_in(email: &str, domains: &[String]) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty() && domain.is_ascii() && domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorKind};
    use crate::user_pools::UserPools;
    use serde_json::json;
    use std::sync::Mutex;

    /// Records each call; refuses sign-ups of `deny@…`; takes the codes
    /// instead of the mailer; adds a claim (and tries to change `sub`).
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<&'static str>>,
        codes: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Hooks for Recorder {
        async fn pre_sign_up(&self, _: &Pool, e: &UserEvent) -> Result<PreSignUpOutcome> {
            self.calls.lock().unwrap().push(e.trigger.source.as_str());
            if e.trigger.user_name.starts_with("deny") {
                return Err(Error::new(ErrorKind::InvalidParameter, "PreSignUp failed"));
            }
            Ok(PreSignUpOutcome::default())
        }
        async fn post_confirmation(&self, _: &Pool, e: &UserEvent) -> Result<()> {
            self.calls.lock().unwrap().push(e.trigger.source.as_str());
            Ok(())
        }
        async fn pre_authentication(&self, _: &Pool, e: &UserEvent) -> Result<()> {
            self.calls.lock().unwrap().push(e.trigger.source.as_str());
            Ok(())
        }
        async fn post_authentication(&self, _: &Pool, e: &UserEvent) -> Result<()> {
            self.calls.lock().unwrap().push(e.trigger.source.as_str());
            Ok(())
        }
        async fn pre_token_generation(&self, _: &Pool, e: &TokenEvent) -> Result<TokenOutcome> {
            self.calls.lock().unwrap().push(e.trigger.source.as_str());
            let add = Map::from_iter([
                ("tier".to_owned(), json!("gold")),
                ("sub".to_owned(), json!("someone-else")),
            ]);
            Ok(TokenOutcome {
                id_claims_to_add_or_override: add.clone(),
                access_claims_to_add_or_override: add,
                groups_to_override: Some(vec!["vip".into()]),
                ..TokenOutcome::default()
            })
        }
        async fn custom_message(&self, _: &Pool, e: &MessageEvent) -> Result<MessageOutcome> {
            self.calls.lock().unwrap().push(e.trigger.source.as_str());
            Ok(MessageOutcome::default())
        }
        async fn custom_email_sender(&self, _: &Pool, e: &SenderEvent) -> Result<Delivery> {
            self.codes.lock().unwrap().push(e.code.expose().to_owned());
            Ok(Delivery::Delivered)
        }
    }

    fn payload(jwt: &str) -> Value {
        use base64::Engine;
        let part = jwt.split('.').nth(1).unwrap();
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    }

    #[tokio::test]
    async fn the_services_call_the_hooks_at_cognitos_trigger_points() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::Settings::default();
        settings.database.url = format!("sqlite://{}/poolgate.db", dir.path().display());
        settings.argon2.memory_kib = 256;
        settings.argon2.iterations = 1;
        let master = crate::crypto::MasterKey::generate();
        let store = crate::app::open_store(&settings, &master, true)
            .await
            .unwrap();
        let clock: crate::clock::SharedClock = Arc::new(crate::clock::ManualClock::new());
        let keys = Arc::new(crate::crypto::keys::KeyRing::new(
            store.clone(),
            crate::crypto::Sealer::new(&master, "poolgate/signing-keys"),
            clock.clone(),
        ));
        let mailer = crate::mail::build(&settings.mailer, store.clone(), clock.clone()).unwrap();
        let hasher =
            Arc::new(crate::crypto::password::PasswordHasher::new(&settings.argon2).unwrap());
        let hooks = Arc::new(Recorder::default());
        let pools = UserPools::new(
            store.clone(),
            keys,
            hasher,
            mailer,
            clock,
            &master,
            "https://id.example.com",
            "us-east-1",
        )
        .with_hooks(hooks.clone());
        let admin = crate::audit::AdminCtx::cli("test");
        let pool: crate::user_pools::admin::CreatePool =
            serde_json::from_value(json!({"name": "p", "username_attributes": ["email"]})).unwrap();
        let pool = pools.create_pool(&admin, pool).await.unwrap();
        let client = serde_json::from_value(json!({"name": "web"})).unwrap();
        let client = pools.create_client(&admin, &pool.id, client).await.unwrap();
        let sign_up = |name: &str| {
            serde_json::from_value::<crate::user_pools::signup::SignUp>(json!({
                "client_id": client.id, "username": name, "password": "Correct-horse-9"
            }))
            .unwrap()
        };

        // A refused pre sign-up leaves no user.
        let e = pools
            .sign_up(&pool.id, sign_up("deny@x.io"))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParameter);
        let p = pools.pool(&pool.id).await.unwrap();
        assert!(pools.find_user(&p, "deny@x.io").await.unwrap().is_none());

        // The code goes to the sender hook, not the mailer.
        let done = pools.sign_up(&pool.id, sign_up("ann@x.io")).await.unwrap();
        assert_eq!(done.code_delivery.unwrap().medium, "EMAIL");
        let code = hooks.codes.lock().unwrap().pop().expect("a code");
        assert!(
            store
                .list_outbox(Some("ann@x.io"), None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let confirm = serde_json::from_value(json!({
            "client_id": client.id, "username": "ann@x.io", "code": code
        }))
        .unwrap();
        pools.confirm_sign_up(&pool.id, confirm).await.unwrap();
        let sign_in = serde_json::from_value(json!({
            "client_id": client.id, "username": "ann@x.io", "password": "Correct-horse-9"
        }))
        .unwrap();
        let tokens = pools
            .sign_in(&pool.id, sign_in)
            .await
            .unwrap()
            .tokens
            .unwrap();
        let (id, access) = (payload(&tokens.id_token), payload(&tokens.access_token));
        assert_eq!(id["tier"], "gold");
        assert_eq!(access["tier"], "gold");
        assert_eq!(access["cognito:groups"], json!(["vip"]));
        assert_eq!(id["sub"], json!(done.user_sub), "protected claims stay");
        assert_eq!(access["sub"], json!(done.user_sub));
        assert_eq!(
            *hooks.calls.lock().unwrap(),
            [
                "PreSignUp_SignUp",
                "PreSignUp_SignUp",
                "CustomMessage_SignUp",
                "PostConfirmation_ConfirmSignUp",
                "PreAuthentication_Authentication",
                "PostAuthentication_Authentication",
                "TokenGeneration_Authentication",
            ]
        );
    }

    #[test]
    fn only_an_exact_ascii_domain_matches() {
        let d = vec!["example.com".to_owned()];
        assert!(email_domain_in("ann@example.com", &d));
        assert!(email_domain_in("Ann@EXAMPLE.com", &d));
        for bad in [
            "ann@sub.example.com",
            "ann@example.com.evil.net",
            "ann@evilexample.com",
            "ann@example.co",
            "ann@example.com.",
            "ann@example.com ",
            " ann@exampl\u{0435}.com",
            "ann@\u{0435}xample.com",
            "ann@example\u{3002}com",
            "ann@ｅxample.com",
            "example.com",
            "@example.com",
            "ann@example.com@evil.net",
        ] {
            assert!(!email_domain_in(bad, &d), "{bad}");
        }
        // Unicode case folding would turn the Kelvin sign into `k`.
        let k = vec!["kpmg.com".to_owned()];
        assert!(!email_domain_in("ann@\u{212a}pmg.com", &k));
        assert_eq!("\u{212a}pmg.com".to_lowercase(), "kpmg.com");
    }

    #[test]
    fn hooks_cannot_touch_protected_claims() {
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("s"));
        claims.insert("custom:team".into(), json!("a"));
        claims.insert("email".into(), json!("e@x.io"));
        let outcome = TokenOutcome {
            id_claims_to_add_or_override: Map::from_iter([
                ("sub".to_owned(), json!("other")),
                ("token_use".to_owned(), json!("access")),
                ("custom:team".to_owned(), json!("b")),
                ("tier".to_owned(), json!("gold")),
            ]),
            id_claims_to_suppress: vec!["email".into(), "iss".into(), "sub".into()],
            ..TokenOutcome::default()
        };
        outcome.apply_id(&mut claims);
        assert_eq!(claims["sub"], "s");
        assert!(!claims.contains_key("cognito:groups"));
        assert!(!claims.contains_key("token_use"));
        assert_eq!(claims["custom:team"], "b");
        assert_eq!(claims["tier"], "gold");
        assert!(!claims.contains_key("email"));
    }
}
