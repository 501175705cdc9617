//! Outgoing text messages (sign-in codes, phone verification): a sender
//! interface with two implementations. The webhook POSTs a JSON body to the
//! operator's gateway (Twilio, SNS, an in-house relay ...), signed with
//! HMAC-SHA256 over `timestamp.body` (headers `X-Poolgate-Timestamp` and
//! `X-Poolgate-Signature: v1=<hex>`), with a timeout and retries on
//! network errors and 5xx answers. The dev sender logs the message and keeps
//! it in the outbox the admin API reads (channel `sms`).

use crate::model::OutboxMessage;
use crate::store::SharedStore;
use async_trait::async_trait;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A text message.
#[derive(Debug, Clone, Serialize)]
pub struct Sms {
    /// Unique per message; gateways can drop a retried duplicate by it.
    pub id: String,
    pub pool_id: Option<String>,
    /// E.164.
    pub to: String,
    pub body: String,
}

#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send(&self, sms: &Sms) -> anyhow::Result<()>;
}

pub type SharedSms = Arc<dyn SmsSender>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmsKind {
    /// No SMS: phone numbers cannot be verified, SMS factors are refused.
    #[default]
    None,
    /// Log and keep in the outbox (development).
    Dev,
    /// POST to `sms.webhook.url`.
    Webhook,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsSettings {
    pub kind: SmsKind,
    pub webhook: WebhookSettings,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            kind: SmsKind::None,
            webhook: WebhookSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// The HMAC key the gateway checks signatures with.
    pub secret: Option<crate::crypto::SecretString>,
    pub timeout_ms: u64,
    /// Further attempts after a failed one (network error or 5xx).
    pub retries: u32,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: None,
            timeout_ms: 5000,
            retries: 2,
        }
    }
}

/// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub struct WebhookSms {
    http: reqwest::Client,
    url: String,
    secret: Vec<u8>,
    retries: u32,
    clock: crate::clock::SharedClock,
}

#[async_trait]
impl SmsSender for WebhookSms {
    async fn send(&self, sms: &Sms) -> anyhow::Result<()> {
        let body = serde_json::to_vec(sms)?;
        let mut last = anyhow::anyhow!("not sent");
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt.min(5))).await;
            }
            let ts = self.clock.now();
            let r = self
                .http
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Poolgate-Timestamp", ts.to_string())
                .header("X-Poolgate-Signature", signature(&self.secret, ts, &body))
                .header("X-Poolgate-Message-Id", &sms.id)
                .body(body.clone())
                .send()
                .await;
            match r {
                Ok(resp) if resp.status().is_success() => {
                    metrics::counter!("poolgate_messages_sent_total", "channel" => "sms", "mailer" => "webhook")
                        .increment(1);
                    return Ok(());
                }
                // A 4xx will not get better by retrying.
                Ok(resp) if resp.status().is_client_error() => {
                    anyhow::bail!("SMS gateway refused the message: {}", resp.status());
                }
                Ok(resp) => last = anyhow::anyhow!("SMS gateway answered {}", resp.status()),
                Err(e) => last = anyhow::anyhow!("SMS gateway unreachable: {e}"),
            }
        }
        Err(last)
    }
}

pub struct DevSms {
    store: SharedStore,
    clock: crate::clock::SharedClock,
}

#[async_trait]
impl SmsSender for DevSms {
    async fn send(&self, sms: &Sms) -> anyhow::Result<()> {
        tracing::info!(to = %sms.to, body = %sms.body, "dev SMS sender: message kept in outbox");
        self.store
            .push_outbox(&OutboxMessage {
                id: sms.id.clone(),
                pool_id: sms.pool_id.clone(),
                channel: "sms".into(),
                to: sms.to.clone(),
                subject: String::new(),
                body: sms.body.clone(),
                created_at: self.clock.now(),
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        metrics::counter!("poolgate_messages_sent_total", "channel" => "sms", "mailer" => "dev")
            .increment(1);
        Ok(())
    }
}

/// The configured sender, if any.
pub fn build(
    settings: &SmsSettings,
    store: SharedStore,
    clock: crate::clock::SharedClock,
) -> anyhow::Result<Option<SharedSms>> {
    Ok(match settings.kind {
        SmsKind::None => None,
        SmsKind::Dev => Some(Arc::new(DevSms { store, clock })),
        SmsKind::Webhook => {
            let w = &settings.webhook;
            let secret = w
                .secret
                .as_ref()
                .map(|s| s.expose().as_bytes().to_vec())
                .ok_or_else(|| anyhow::anyhow!("sms.webhook.secret is required"))?;
            Some(Arc::new(WebhookSms {
                http: reqwest::Client::builder()
                    .timeout(Duration::from_millis(w.timeout_ms.max(100)))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
                url: w.url.clone(),
                secret,
                retries: w.retries.min(5),
                clock,
            }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body() {
        // Independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            signature(b"key", 1_700_000_000, br#"{"a":1}"#),
            "v1=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
    }
}
