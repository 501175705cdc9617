//! Rate limits and the client's network, shared by every node through the
//! store (fixed windows, one counter row per bucket).
//!
//! Per client address the limits stop one source from guessing passwords or
//! codes, or from flooding mailboxes, at speed; per pool they cap what the
//! whole internet can make one pool do. Over a limit the answer is 429
//! `TooManyRequests` with `Retry-After` set to the end of the window. The
//! services check them, so every facade (native, Cognito JSON, OAuth) shares
//! one budget.

use super::UserPools;
use crate::config::{Limit, RateLimitSettings};
use crate::error::{Error, ErrorKind, Result};
use std::net::IpAddr;

/// What a request spends from its budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignIn,
    SignUp,
    CodeSend,
    CodeCheck,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::SignIn => "signin",
            Action::SignUp => "signup",
            Action::CodeSend => "code_send",
            Action::CodeCheck => "code_check",
        }
    }

    fn limit(self, s: &RateLimitSettings) -> Limit {
        match self {
            Action::SignIn => s.signin,
            Action::SignUp => s.signup,
            Action::CodeSend => s.code_send,
            Action::CodeCheck => s.code_check,
        }
    }
}

/// The network a client address stands for: an IPv4 address itself, an
/// IPv6 address by its /64 (one subscriber usually holds a whole /64).
/// `-` when the address is unknown (the CLI, in-process calls).
pub fn source_of(ip: Option<&str>) -> String {
    match ip.and_then(|s| s.parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "-".into(),
    }
}

/// The client address behind the peer: the peer itself unless it is a
/// trusted proxy, in which case the right-most `X-Forwarded-For` entry that
/// is not a trusted proxy (entries to its left are the client's own claims).
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut last = peer;
    for entry in header.rsplit(',') {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => last = ip,
            Ok(ip) => return ip,
            Err(_) => return last,
        }
    }
    last
}

impl UserPools {
    /// Spends one unit of `action` from the caller's and the pool's budgets,
    /// or refuses with 429 and the seconds until the window ends.
    pub async fn rate_limit(&self, pool_id: &str, action: Action) -> Result<()> {
        self.spend(pool_id, action, true, true).await
    }

    /// Spends from the caller's own budget only. A password sign-in does
    /// this first and [`UserPools::rate_limit_pool`] once it knows whether
    /// the user signs in from a known network (G2).
    pub async fn rate_limit_source(&self, pool_id: &str, action: Action) -> Result<()> {
        self.spend(pool_id, action, true, false).await
    }

    /// Spends from the pool-wide budget only.
    pub async fn rate_limit_pool(&self, pool_id: &str, action: Action) -> Result<()> {
        self.spend(pool_id, action, false, true).await
    }

    async fn spend(&self, pool_id: &str, action: Action, by_ip: bool, by_pool: bool) -> Result<()> {
        let settings = &self.rate_limits;
        if !settings.enabled {
            return Ok(());
        }
        let limit = action.limit(settings);
        let now = self.clock.now();
        let window = settings.window_secs;
        let start = now - now.rem_euclid(window);
        let source = source_of(crate::audit::request().ip.as_deref());
        let ip = (by_ip && limit.per_ip > 0 && source != "-")
            .then(|| format!("{}:ip:{source}", action.name()));
        let pool =
            (by_pool && limit.per_pool > 0).then(|| format!("{}:pool:{pool_id}", action.name()));
        // The caller's own budget first: over it, the pool's is not spent.
        let (ip_hits, pool_hits) = match (&ip, &pool) {
            (Some(ip), Some(pool)) => {
                self.store
                    .rate_hit_pair(ip, limit.per_ip, pool, start)
                    .await?
            }
            (Some(ip), None) => (self.store.rate_hit(ip, start).await?, None),
            (None, Some(pool)) => (0, Some(self.store.rate_hit(pool, start).await?)),
            (None, None) => return Ok(()),
        };
        let over = match (&ip, &pool) {
            (Some(b), _) if ip_hits > limit.per_ip => b,
            (_, Some(b)) if pool_hits.is_some_and(|n| n > limit.per_pool) => b,
            _ => return Ok(()),
        };
        metrics::counter!("poolgate_rate_limited_total", "action" => action.name()).increment(1);
        tracing::warn!(bucket = %over, "rate limit reached");
        Err(
            Error::new(ErrorKind::TooManyRequests, "Too many requests; slow down.")
                .with_retry_after((start + window - now).max(1) as u64),
        )
    }

    /// Drops counters of finished windows (run periodically by `serve`).
    /// Also drops unknown-name sign-in counters (G3) a day old and unlocked.
    pub async fn purge_rate_limits(&self) -> Result<u64> {
        let now = self.clock.now();
        let names = self
            .store
            .purge_name_failures(now - super::auth::NAME_FAILURES_KEPT_SECS)
            .await?;
        Ok(names
            + self
                .store
                .purge_rate_limits(now - 2 * self.rate_limits.window_secs)
                .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_addresses_and_ipv6_slash_64s() {
        assert_eq!(source_of(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(source_of(Some("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        assert_eq!(source_of(Some("2001:db8:1:2:ffff::1")), "2001:db8:1:2::/64");
        assert_eq!(source_of(Some("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(source_of(Some("garbage")), "-");
        assert_eq!(source_of(None), "-");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "198.51.100.9".parse().unwrap();
        let trusted = [proxy];
        // An untrusted peer's header is ignored.
        assert_eq!(client_ip(other, Some("1.2.3.4"), &trusted), other);
        // Behind a trusted proxy, the right-most untrusted entry; spoofed
        // entries to its left do not matter.
        assert_eq!(
            client_ip(proxy, Some("6.6.6.6, 1.2.3.4"), &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(proxy, Some("1.2.3.4, 10.0.0.1"), &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        // A garbage entry stops the walk at the last trusted hop.
        assert_eq!(client_ip(proxy, Some("1.2.3.4, junk"), &trusted), proxy);
        assert_eq!(client_ip(proxy, None, &trusted), proxy);
    }
}
