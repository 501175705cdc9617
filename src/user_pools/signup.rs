//! Sign-up, confirmation and code resend.

use super::attributes::{self, mask_destination};
use super::hooks::{self, TriggerSource, TriggerSource::*};
use super::limits::Action;
use super::{SIGNUP_CODE_TTL, UserPools, alias_value, policy};
use crate::crypto::SecretString;
use crate::crypto::random;
use crate::error::{Error, ErrorKind, Result};
use crate::mail::{Email, Template};
use crate::model::*;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    pub client_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: super::ClientProof,
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub attributes: Attributes,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CodeDelivery {
    /// Masked address, e.g. `a***@e***`.
    pub destination: String,
    /// `EMAIL` or `SMS`.
    pub medium: String,
    pub attribute: String,
}

impl CodeDelivery {
    /// What a real delivery to `name` would look like, for unknown users
    /// when existence errors are prevented (nothing is sent).
    pub fn pretend(name: &str) -> Self {
        let fake = if name.contains('@') {
            name.to_owned()
        } else {
            format!("{name}@example.com")
        };
        Self {
            destination: mask_destination(&fake),
            medium: "EMAIL".into(),
            attribute: "email".into(),
        }
    }
}

/// How long answering with a real code delivery takes, from the user
/// lookup on (storing the code and handing the message to the mailer
/// included): a running estimate of the median, in nanoseconds. An answer
/// that only pretends to deliver, because existence errors are hidden,
/// is held until as long has passed (G3): a delivery through an SMTP
/// relay would otherwise be a timing oracle for "this user exists".
static DELIVERY_NANOS: AtomicU64 = AtomicU64::new(0);
/// What a held answer takes off its wait (nanoseconds, may be negative):
/// nudged by a 64th of the median (at least 20 µs) after every held
/// answer, up when it ended later than the
/// real median, down when earlier, so the held answers' median meets the
/// real one whatever waking up costs on this machine.
static HOLD_OFFSET_NANOS: AtomicI64 = AtomicI64::new(0);

/// Moves a running median estimate one step toward `x`.
fn median_step(cell: &AtomicU64, x: u64) {
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |est| {
        let step = (est / 16).max(1_000);
        Some(if est == 0 {
            x
        } else if x > est {
            est + step
        } else {
            est.saturating_sub(step)
        })
    });
}

/// Times one answer that may deliver a code; started before the user
/// lookup, so the lookups of both paths are inside the measured span.
pub(crate) struct DeliveryTimer(Instant);

impl DeliveryTimer {
    pub(crate) fn start() -> Self {
        Self(Instant::now())
    }

    /// Runs a real delivery and moves the median estimate toward the time
    /// this answer took (by a sixteenth: a stochastic median, which a few
    /// slow deliveries do not drag up the way a mean would).
    pub(crate) async fn real<T>(self, work: impl Future<Output = Result<T>>) -> Result<T> {
        let out = work.await;
        median_step(&DELIVERY_NANOS, nanos(self.0.elapsed()));
        out
    }

    /// Holds a pretend answer until a real one would have been ready.
    /// Under 2 ms left the wait is a blocking-pool sleep, precise to tens
    /// of microseconds; Tokio's timer rounds up to whole milliseconds.
    pub(crate) async fn pretend(self) {
        let target = DELIVERY_NANOS.load(Ordering::Relaxed) as i64;
        if target == 0 {
            return;
        }
        let offset = HOLD_OFFSET_NANOS.load(Ordering::Relaxed);
        let left = target - nanos(self.0.elapsed()) as i64 - offset;
        if left > 0 {
            let left = Duration::from_nanos(left as u64);
            if left < Duration::from_millis(2) {
                let _ = tokio::task::spawn_blocking(move || std::thread::sleep(left)).await;
            } else {
                tokio::time::sleep(left.min(Duration::from_secs(5))).await;
            }
        }
        let total = nanos(self.0.elapsed()) as i64;
        // A 64th of the median (at least 20 µs): milliseconds of gap on a
        // slow store close within tens of answers, not hundreds.
        let step = (target / 64).max(20_000);
        let step = if total > target { step } else { -step };
        let _ = HOLD_OFFSET_NANOS.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
            Some((o + step).clamp(-target, target))
        });
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// What a delivery of a code to `dest` (attribute `attr`) would answer,
/// without sending anything.
pub(crate) fn pretend_to(attr: &str, dest: &str) -> CodeDelivery {
    CodeDelivery {
        destination: mask_destination(dest),
        medium: if attr == "phone_number" {
            "SMS"
        } else {
            "EMAIL"
        }
        .into(),
        attribute: attr.to_owned(),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignUpResult {
    pub user_sub: String,
    pub user_confirmed: bool,
    pub code_delivery: Option<CodeDelivery>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSignUp {
    pub client_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: super::ClientProof,
    pub username: String,
    pub code: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendCode {
    pub client_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: super::ClientProof,
    pub username: String,
}

fn validate_username(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > 128 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            "Username must be 1-128 characters without spaces",
        ));
    }
    Ok(())
}

/// Applies a pre sign-up hook's `autoConfirmUser` (and, with it,
/// `autoVerifyEmail`/`autoVerifyPhone`) to a new user: confirmed, the
/// verified attributes set and their aliases added. Whether it confirmed.
fn auto_confirm(
    pool: &Pool,
    outcome: &hooks::PreSignUpOutcome,
    user: &mut User,
    aliases: &mut Vec<Alias>,
) -> bool {
    if !outcome.auto_confirm_user {
        return false;
    }
    user.status = UserStatus::Confirmed;
    for kind in ["email", "phone_number"] {
        let on = outcome.auto_verifies(kind);
        let Some(v) = user.attributes.get(kind).filter(|_| on).cloned() else {
            continue;
        };
        user.attributes
            .insert(format!("{kind}_verified"), "true".into());
        let value = alias_value(kind, &v);
        if pool.settings.alias_attributes.iter().any(|a| a == kind)
            && !aliases.iter().any(|a| a.kind == kind)
        {
            aliases.push(Alias {
                kind: kind.to_owned(),
                value,
            });
        }
    }
    true
}

impl UserPools {
    /// Where a code for this user goes: the first auto-verified attribute the
    /// user has and the server can deliver to (email; a phone number when an
    /// SMS sender is configured).
    fn delivery_target(&self, pool: &Pool, attrs: &Attributes) -> Option<(String, String)> {
        pool.settings
            .auto_verified_attributes
            .iter()
            .filter(|a| {
                a.as_str() == "email" || (a.as_str() == "phone_number" && self.sms.is_some())
            })
            .find_map(|a| attrs.get(a).map(|v| (a.clone(), v.clone())))
    }

    /// A code by text message (short: the pool's name and the code).
    async fn send_sms_code(
        &self,
        pool: &Pool,
        to: &str,
        code: &str,
        t: Template,
        custom: Option<String>,
    ) -> Result<CodeDelivery> {
        let sms = self.sms.as_ref().ok_or_else(|| {
            Error::invalid("Phone numbers cannot get codes: no SMS sender is configured")
        })?;
        let what = match t {
            Template::SignInCode => "sign-in code",
            Template::ResetPassword => "password reset code",
            _ => "verification code",
        };
        let message = crate::sms::Sms {
            id: crate::crypto::random::uuid(),
            pool_id: Some(pool.id.clone()),
            to: to.to_owned(),
            body: custom
                .unwrap_or_else(|| format!("Your {} {what} is {code}", pool.name))
                .replace(['\r', '\n'], " "),
        };
        if let Err(e) = sms.send(&message).await {
            tracing::warn!(pool_id = %pool.id, error = %e, "SMS delivery failed");
            metrics::counter!("poolgate_messages_failed_total", "channel" => "sms").increment(1);
            return Err(Error::new(
                ErrorKind::CodeDeliveryFailure,
                "The code could not be delivered; try resending it",
            ));
        }
        Ok(CodeDelivery {
            destination: mask_destination(to),
            medium: "SMS".into(),
            attribute: "phone_number".into(),
        })
    }

    pub(crate) async fn send_code(
        &self,
        pool: &Pool,
        user: &User,
        attr: &str,
        dest: &str,
        code: &str,
        t: Template,
    ) -> Result<CodeDelivery> {
        let (custom, sender) = self.message_hooks(pool, user, attr, dest, code, t).await?;
        if sender == hooks::Delivery::Delivered {
            let medium = if attr == "phone_number" {
                "SMS"
            } else {
                "EMAIL"
            };
            return Ok(CodeDelivery {
                destination: mask_destination(dest),
                medium: medium.into(),
                attribute: attr.to_owned(),
            });
        }
        if attr == "phone_number" {
            return self
                .send_sms_code(pool, dest, code, t, custom.sms_message)
                .await;
        }
        let display_name = user
            .attributes
            .get("email")
            .filter(|_| !pool.settings.username_attributes.is_empty())
            .unwrap_or(&user.username);
        let (subject, body) =
            crate::mail::render(&pool.settings.messages, t, code, display_name, &pool.name)
                .map_err(Error::internal)?;
        let subject = custom
            .email_subject
            .map_or(subject, |s| s.replace(['\r', '\n'], " "));
        let body = custom.email_message.unwrap_or(body);
        let email = Email {
            pool_id: Some(pool.id.clone()),
            to: dest.to_owned(),
            subject,
            body,
        };
        if let Err(e) = self.mailer.send(&email).await {
            tracing::warn!(pool_id = %pool.id, error = %e, "message delivery failed");
            metrics::counter!("poolgate_messages_failed_total", "channel" => "email").increment(1);
            return Err(Error::new(
                ErrorKind::CodeDeliveryFailure,
                "The code could not be delivered; try resending it",
            ));
        }
        Ok(CodeDelivery {
            destination: mask_destination(dest),
            medium: "EMAIL".into(),
            attribute: attr.to_owned(),
        })
    }

    /// The custom message and custom sender hooks of a code message: the
    /// message's text (its `{####}` and `{username}` filled in), and
    /// whether a sender hook delivered it.
    async fn message_hooks(
        &self,
        pool: &Pool,
        user: &User,
        attr: &str,
        dest: &str,
        code: &str,
        t: Template,
    ) -> Result<(hooks::MessageOutcome, hooks::Delivery)> {
        let trigger =
            hooks::Trigger::new(TriggerSource::of_message(t), &pool.id, None, &user.username);
        let event = hooks::MessageEvent {
            trigger: trigger.clone(),
            user_attributes: user.attributes.clone(),
            code_parameter: SecretString::new(code),
            username_parameter: user.username.clone(),
        };
        let mut custom = self.hooks.custom_message(pool, &event).await?;
        for text in [
            &mut custom.email_subject,
            &mut custom.email_message,
            &mut custom.sms_message,
        ]
        .into_iter()
        .flatten()
        {
            *text = text
                .replace("{####}", code)
                .replace("{username}", &user.username);
        }
        let event = hooks::SenderEvent {
            trigger,
            user_attributes: event.user_attributes,
            destination: dest.to_owned(),
            code: event.code_parameter,
        };
        let sent = if attr == "phone_number" {
            self.hooks.custom_sms_sender(pool, &event).await?
        } else {
            self.hooks.custom_email_sender(pool, &event).await?
        };
        Ok((custom, sent))
    }

    pub(crate) fn new_code(
        &self,
        pool_id: &str,
        sub: &str,
        purpose: CodePurpose,
        ttl: i64,
    ) -> (String, CodeRecord) {
        let code = random::code();
        let now = self.clock.now();
        let record = CodeRecord {
            pool_id: pool_id.to_owned(),
            sub: sub.to_owned(),
            purpose,
            code_hash: self.code_hash(pool_id, sub, purpose, &code),
            expires_at: now + ttl,
            attempts: 0,
            created_at: now,
        };
        (code, record)
    }

    #[tracing::instrument(skip_all, fields(pool_id = %pool_id, client_id = %req.client_id))]
    /// Sign-up, recorded in the audit trail.
    pub async fn sign_up(&self, pool_id: &str, req: SignUp) -> Result<SignUpResult> {
        let (username, client_id) = (req.username.clone(), req.client_id.clone());
        self.audited(
            pool_id,
            "SignUp",
            Some(&username),
            Some(&client_id),
            self.sign_up_flow(pool_id, req),
        )
        .await
    }

    async fn sign_up_flow(&self, pool_id: &str, mut req: SignUp) -> Result<SignUpResult> {
        let pool = self.pool(pool_id).await?;
        self.rate_limit(pool_id, Action::SignUp).await?;
        let client = self
            .clients
            .authenticate_client(pool_id, &req.client_id, &req.client_secret)
            .await?;

        // The sign-in name: a free username, or the email/phone itself.
        let mut aliases = vec![];
        let username = if pool.settings.username_attributes.is_empty() {
            validate_username(&req.username)?;
            if attributes::is_valid_email(&req.username)
                && pool.settings.alias_attributes.iter().any(|a| a == "email")
            {
                return Err(Error::invalid(
                    "Username should not be an email when email is an alias",
                ));
            }
            super::Core::normalize_username(&pool, &req.username)
        } else {
            let name = req.username.trim();
            let kind = if attributes::is_valid_email(name)
                && pool
                    .settings
                    .username_attributes
                    .iter()
                    .any(|a| a == "email")
            {
                "email"
            } else if attributes::is_valid_phone(name)
                && pool
                    .settings
                    .username_attributes
                    .iter()
                    .any(|a| a == "phone_number")
            {
                "phone_number"
            } else {
                return Err(Error::invalid(format!(
                    "Username should be {}",
                    pool.settings
                        .username_attributes
                        .join(" or ")
                        .replace("phone_number", "a phone number")
                        .replace("email", "an email")
                )));
            };
            match req.attributes.get(kind) {
                Some(v) if alias_value(kind, v) != alias_value(kind, name) => {
                    return Err(Error::invalid(format!(
                        "The {kind} attribute must equal the username"
                    )));
                }
                _ => {}
            }
            req.attributes.insert(kind.to_owned(), name.to_owned());
            aliases.push(Alias {
                kind: kind.to_owned(),
                value: alias_value(kind, name),
            });
            // The internal, never-changing name (USER_ID_FOR_SRP) is the sub.
            String::new()
        };
        attributes::validate_write(&pool, Some(&client), &req.attributes, true)?;

        let mut context: Vec<&str> = vec![&req.username, &pool.name];
        if let Some(e) = req.attributes.get("email") {
            context.push(e.split('@').next().unwrap_or(e));
        }
        policy::check(&pool.settings.password_policy, &req.password, &context)?;
        let hook = hooks::Trigger::new(PreSignUpSignUp, pool_id, Some(&client.id), &req.username);
        let outcome = self
            .hooks
            .pre_sign_up(
                &pool,
                &hooks::UserEvent {
                    trigger: hook,
                    user_attributes: req.attributes.clone(),
                },
            )
            .await?;
        let hash = self.hasher.hash(&req.password).await?;

        let sub = random::uuid();
        let now = self.clock.now();
        let mut attrs = req.attributes;
        attrs.insert("sub".into(), sub.clone());
        for k in ["email", "phone_number"] {
            if attrs.contains_key(k) {
                attrs.insert(format!("{k}_verified"), "false".into());
            }
        }
        let mut user = User {
            pool_id: pool.id.clone(),
            sub: sub.clone(),
            username: if username.is_empty() {
                sub.clone()
            } else {
                username
            },
            status: UserStatus::Unconfirmed,
            enabled: true,
            password_hash: Some(hash),
            srp_sealed: None,
            attributes: attrs,
            created_at: now,
            updated_at: now,
        };
        user.srp_sealed = self.srp_record(&pool, &user, &req.password);
        let confirmed = auto_confirm(&pool, &outcome, &mut user, &mut aliases);
        let target = self
            .delivery_target(&pool, &user.attributes)
            .filter(|_| !confirmed);
        let code = target
            .as_ref()
            .map(|_| self.new_code(&pool.id, &sub, CodePurpose::Signup, SIGNUP_CODE_TTL));
        match self
            .store
            .create_user(&user, &aliases, code.as_ref().map(|(_, r)| r))
            .await
        {
            Ok(()) => {}
            // With email/phone as username, a taken address is a taken username.
            Err(e)
                if e.kind == ErrorKind::AliasExists
                    && !pool.settings.username_attributes.is_empty() =>
            {
                return Err(Error::new(
                    ErrorKind::UsernameExists,
                    "An account with the given email already exists.",
                ));
            }
            Err(e) => return Err(e),
        }
        metrics::counter!("poolgate_signups_total").increment(1);
        crate::audit::note_subject(&sub);
        tracing::info!(sub = %sub, "user signed up");
        let code_delivery = match (target, code) {
            (Some((attr, dest)), Some((code, _))) => Some(
                self.send_code(&pool, &user, &attr, &dest, &code, Template::Verification)
                    .await?,
            ),
            _ => None,
        };
        Ok(SignUpResult {
            user_sub: sub,
            user_confirmed: confirmed,
            code_delivery,
        })
    }

    #[tracing::instrument(skip_all, fields(pool_id = %pool_id, client_id = %req.client_id))]
    /// Sign-up confirmation, recorded in the audit trail.
    pub async fn confirm_sign_up(&self, pool_id: &str, req: ConfirmSignUp) -> Result<()> {
        let (username, client_id) = (req.username.clone(), req.client_id.clone());
        self.audited(
            pool_id,
            "ConfirmSignUp",
            Some(&username),
            Some(&client_id),
            self.confirm_sign_up_flow(pool_id, req),
        )
        .await
    }

    async fn confirm_sign_up_flow(&self, pool_id: &str, req: ConfirmSignUp) -> Result<()> {
        let pool = self.pool(pool_id).await?;
        self.rate_limit(pool_id, Action::CodeCheck).await?;
        self.clients
            .authenticate_client(pool_id, &req.client_id, &req.client_secret)
            .await?;
        if req.code.len() > 32 {
            return Err(Error::invalid("code is too long"));
        }
        let Some(user) = self.find_user(&pool, &req.username).await? else {
            return Err(if pool.settings.prevent_user_existence_errors {
                Error::new(
                    ErrorKind::CodeMismatch,
                    "Invalid verification code provided, please try again.",
                )
            } else {
                Error::new(
                    ErrorKind::UserNotFound,
                    "Username/client id combination not found.",
                )
            });
        };
        if user.status != UserStatus::Unconfirmed {
            if pool.settings.prevent_user_existence_errors {
                // The answer of an unknown user or a wrong code (G3).
                return Err(Error::new(
                    ErrorKind::CodeMismatch,
                    "Invalid verification code provided, please try again.",
                ));
            }
            return Err(Error::not_authorized(format!(
                "User cannot be confirmed. Current status is {}",
                user.status.as_str()
            )));
        }
        let code_hash = self
            .check_code(&pool.id, &user.sub, CodePurpose::Signup, &req.code)
            .await?;
        let verified: Vec<String> = self
            .delivery_target(&pool, &user.attributes)
            .map(|(a, _)| a)
            .into_iter()
            .collect();
        let aliases: Vec<Alias> = pool
            .settings
            .alias_attributes
            .iter()
            .filter(|k| verified.contains(k) || k.as_str() == "preferred_username")
            .filter_map(|k| {
                user.attributes.get(k).map(|v| Alias {
                    kind: k.clone(),
                    value: alias_value(k, v),
                })
            })
            .collect();
        if !self
            .store
            .confirm_signup(
                &pool.id,
                &user.sub,
                &code_hash,
                &aliases,
                &verified,
                self.clock.now(),
            )
            .await?
        {
            return Err(Error::new(
                ErrorKind::CodeMismatch,
                "Invalid verification code provided, please try again.",
            ));
        }
        tracing::info!(sub = %user.sub, "user confirmed");
        let hook = hooks::Trigger::new(
            PostConfirmationConfirmSignUp,
            pool_id,
            Some(&req.client_id),
            &user.username,
        );
        self.hooks
            .post_confirmation(
                &pool,
                &hooks::UserEvent {
                    trigger: hook,
                    user_attributes: user.attributes,
                },
            )
            .await
    }

    #[tracing::instrument(skip_all, fields(pool_id = %pool_id, client_id = %req.client_id))]
    pub async fn resend_code(
        &self,
        pool_id: &str,
        req: ResendCode,
    ) -> Result<Option<CodeDelivery>> {
        let pool = self.pool(pool_id).await?;
        self.rate_limit(pool_id, Action::CodeSend).await?;
        self.clients
            .authenticate_client(pool_id, &req.client_id, &req.client_secret)
            .await?;
        let hide = pool.settings.prevent_user_existence_errors;
        let timer = DeliveryTimer::start();
        let Some(user) = self.find_user(&pool, &req.username).await? else {
            if hide {
                // Same answer, in about the same time, as for a real user.
                timer.pretend().await;
                return Ok(Some(CodeDelivery::pretend(&req.username)));
            }
            return Err(Error::new(
                ErrorKind::UserNotFound,
                "Username/client id combination not found.",
            ));
        };
        let target = self.delivery_target(&pool, &user.attributes);
        if user.status != UserStatus::Unconfirmed {
            if hide {
                // A confirmed user answers like an unconfirmed one (G3);
                // nothing is sent.
                timer.pretend().await;
                return Ok(Some(match target {
                    Some((attr, dest)) => pretend_to(&attr, &dest),
                    None => CodeDelivery::pretend(&req.username),
                }));
            }
            return Err(Error::invalid("User is already confirmed."));
        }
        let Some((attr, dest)) = target else {
            return Err(Error::invalid(
                "The user has no verified delivery address; an administrator must confirm them",
            ));
        };
        let (code, record) =
            self.new_code(&pool.id, &user.sub, CodePurpose::Signup, SIGNUP_CODE_TTL);
        timer
            .real(async {
                self.store.put_code(&record).await?;
                self.send_code(&pool, &user, &attr, &dest, &code, Template::Verification)
                    .await
            })
            .await
            .map(Some)
    }
}
