//! Outgoing messages. A `Mailer` sends one rendered email; two real
//! implementations: SMTP (lettre, with none/STARTTLS/implicit TLS) and the dev
//! mailer, which logs the message and keeps it in the store's outbox so the
//! admin API (and the quick start) can read it back. Templates are minijinja
//! strings: per-pool overrides, else the built-in defaults.

use crate::config::{MailerKind, MailerSettings, SmtpTls};
use crate::model::{MessageTemplate, MessageTemplates, OutboxMessage};
use crate::store::SharedStore;
use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Email {
    pub pool_id: Option<String>,
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> anyhow::Result<()>;
    /// True for the dev mailer, whose outbox the admin API may read.
    fn has_outbox(&self) -> bool {
        false
    }
}

pub type SharedMailer = Arc<dyn Mailer>;

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(settings: &MailerSettings) -> anyhow::Result<Self> {
        let s = &settings.smtp;
        let mut builder = match s.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?,
        }
        .port(s.port)
        .timeout(Some(Duration::from_secs(s.timeout_secs)));
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.expose().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            from: settings.from.parse()?,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> anyhow::Result<()> {
        let msg = Message::builder()
            .from(self.from.clone())
            .to(email.to.parse()?)
            .subject(&email.subject)
            .body(email.body.clone())?;
        self.transport.send(msg).await?;
        metrics::counter!("poolgate_messages_sent_total", "channel" => "email", "mailer" => "smtp")
            .increment(1);
        Ok(())
    }
}

pub struct DevMailer {
    store: SharedStore,
    clock: crate::clock::SharedClock,
}

impl DevMailer {
    pub fn new(store: SharedStore, clock: crate::clock::SharedClock) -> Self {
        Self { store, clock }
    }
}

#[async_trait]
impl Mailer for DevMailer {
    async fn send(&self, email: &Email) -> anyhow::Result<()> {
        tracing::info!(to = %email.to, subject = %email.subject, body = %email.body, "dev mailer: message kept in outbox");
        self.store
            .push_outbox(&OutboxMessage {
                id: crate::crypto::random::uuid(),
                pool_id: email.pool_id.clone(),
                channel: "email".into(),
                to: email.to.clone(),
                subject: email.subject.clone(),
                body: email.body.clone(),
                created_at: self.clock.now(),
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        metrics::counter!("poolgate_messages_sent_total", "channel" => "email", "mailer" => "dev")
            .increment(1);
        Ok(())
    }
    fn has_outbox(&self) -> bool {
        true
    }
}

pub fn build(
    settings: &MailerSettings,
    store: SharedStore,
    clock: crate::clock::SharedClock,
) -> anyhow::Result<SharedMailer> {
    Ok(match settings.kind {
        MailerKind::Dev => Arc::new(DevMailer::new(store, clock)),
        MailerKind::Smtp => Arc::new(SmtpMailer::new(settings)?),
    })
}

/// Which message.
#[derive(Debug, Clone, Copy)]
pub enum Template {
    Verification,
    Invitation,
    ResetPassword,
    AttributeVerification,
    /// A sign-in code (email MFA).
    SignInCode,
}

fn default_template(t: Template) -> MessageTemplate {
    let (subject, body) = match t {
        Template::Verification => (
            "Your {{ pool_name }} verification code",
            "Hello,\n\nYour verification code is {{ code }}.\n\nIt expires in 24 hours. If you did not sign up, ignore this message.\n",
        ),
        Template::Invitation => (
            "Your {{ pool_name }} account",
            "Hello,\n\nAn account was created for you.\nUsername: {{ username }}\nTemporary password: {{ code }}\n\nYou will choose a new password at your first sign-in.\n",
        ),
        Template::ResetPassword => (
            "Your {{ pool_name }} password reset code",
            "Hello,\n\nYour password reset code is {{ code }}.\n\nIt expires in 1 hour. If you did not ask for it, ignore this message.\n",
        ),
        Template::AttributeVerification => (
            "Verify your {{ pool_name }} contact address",
            "Hello,\n\nYour verification code is {{ code }}.\n",
        ),
        Template::SignInCode => (
            "Your {{ pool_name }} sign-in code",
            "Hello,\n\nYour sign-in code is {{ code }}.\n\nIt expires in 3 minutes. If you are not signing in, change your password.\n",
        ),
    };
    MessageTemplate {
        subject: subject.into(),
        body: body.into(),
    }
}

/// Renders a pool's template (or the default) with `code`, `username`, `pool_name`.
pub fn render(
    templates: &MessageTemplates,
    t: Template,
    code: &str,
    username: &str,
    pool_name: &str,
) -> anyhow::Result<(String, String)> {
    let custom = match t {
        Template::Verification => &templates.verification,
        Template::Invitation => &templates.invitation,
        Template::ResetPassword => &templates.reset_password,
        Template::AttributeVerification => &templates.attribute_verification,
        Template::SignInCode => &templates.sign_in_code,
    };
    let tpl = custom.clone().unwrap_or_else(|| default_template(t));
    let env = minijinja::Environment::new();
    let ctx = minijinja::context! { code => code, username => username, pool_name => pool_name };
    let subject = env.render_str(&tpl.subject, &ctx)?;
    let body = env.render_str(&tpl.body, &ctx)?;
    Ok((subject.replace(['\r', '\n'], " "), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides_render() {
        let mut t = MessageTemplates::default();
        let (s, b) = render(&t, Template::Verification, "123456", "alice", "Demo").unwrap();
        assert_eq!(s, "Your Demo verification code");
        assert!(b.contains("123456"));
        t.verification = Some(MessageTemplate {
            subject: "Code for {{ username }}".into(),
            body: "It is {{ code }}".into(),
        });
        let (s, b) = render(&t, Template::Verification, "654321", "bob", "Demo").unwrap();
        assert_eq!((s.as_str(), b.as_str()), ("Code for bob", "It is 654321"));
        assert!(
            crate::model::check_template(&MessageTemplate {
                subject: "{{ oops".into(),
                body: "{{ code }}".into()
            })
            .is_err()
        );
    }
}
