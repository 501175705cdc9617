//! Rate limits and the client's network, shared by every node through the
//! store (fixed windows, one counter row per bucket).
//!
//! Per client address the limits stop one source from guessing passwords or
//! codes, or from flooding mailboxes, at speed; per pool they cap what the
//! whole internet can make one pool do. Over a limit the answer is 429
//! `TooManyRequests` with `Retry-After` set to the end of the window. The
//! services check them, so every facade (native, Cognito JSON, OAuth) shares
//! one budget.

//!
//! Before any of that, a password sign-in passes this node's admission
//! ([`SignInGate`], G2): a bounded number of sign-ins from (name, network)
//! pairs the node has not seen succeed may be in flight at once; the rest
//! get the hash queue's own 503 at once, without touching the store, so a
//! flood of guesses cannot take every database connection from the users
//! signing in from where they did before.

use super::UserPools;
use crate::config::{Limit, RateLimitSettings};
use crate::error::{Error, ErrorKind, Result};
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// This node's admission of password sign-ins (G2): a cap on those in
/// flight from unknown (name, network) pairs, and the pairs that signed in
/// here with the right password, which pass it.
pub struct SignInGate {
    /// `None`: no cap (rate limits off).
    cap: Option<usize>,
    in_flight: AtomicUsize,
    /// Keys the pairs: the memory holds 8 bytes a pair and no
    /// attacker-chosen text, and nobody can make a name collide with a
    /// known pair without this process's random keys.
    keys: std::hash::RandomState,
    known: Mutex<KnownPairs>,
}

/// Pairs that signed in, bounded: beyond `max` the oldest-added goes.
struct KnownPairs {
    /// Pair → (known until, generation).
    until: HashMap<u64, (i64, u64)>,
    /// (pair, generation) in the order added; an element whose generation
    /// no longer matches `until` is a forgotten pair's leftover.
    order: VecDeque<(u64, u64)>,
    generation: u64,
    max: usize,
}

impl KnownPairs {
    fn passes(&self, pair: u64, now: i64) -> bool {
        self.until.get(&pair).is_some_and(|(t, _)| *t > now)
    }

    fn remember(&mut self, pair: u64, until: i64) {
        if self.max == 0 {
            return;
        }
        if let Some(e) = self.until.get_mut(&pair) {
            e.0 = until;
            return;
        }
        while self.until.len() >= self.max {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self.until.get(&old).is_some_and(|e| e.1 == generation) {
                self.until.remove(&old);
            }
        }
        self.generation += 1;
        self.until.insert(pair, (until, self.generation));
        self.order.push_back((pair, self.generation));
        if self.order.len() > 2 * self.max {
            let until = &self.until;
            self.order
                .retain(|(p, g)| until.get(p).is_some_and(|e| e.1 == *g));
        }
    }

    fn forget(&mut self, pair: u64) {
        self.until.remove(&pair);
    }
}

/// A sign-in let in: counted against the cap while it runs, unless its
/// pair is known.
pub struct Admission<'a> {
    gate: &'a SignInGate,
    pair: u64,
    counted: bool,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.gate.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl SignInGate {
    /// From `rate_limits`; `hash_capacity` stands for `signin_in_flight = 0`.
    pub fn new(settings: &RateLimitSettings, hash_capacity: usize) -> Self {
        let cap = settings.enabled.then(|| match settings.signin_in_flight {
            0 => hash_capacity.max(1),
            n => n,
        });
        Self {
            cap,
            in_flight: AtomicUsize::new(0),
            keys: std::hash::RandomState::new(),
            known: Mutex::new(KnownPairs {
                until: HashMap::new(),
                order: VecDeque::new(),
                generation: 0,
                max: settings.signin_known_pairs,
            }),
        }
    }

    fn pair(&self, pool_id: &str, name: &str, source: &str) -> u64 {
        self.keys
            .hash_one((pool_id, name.trim().to_lowercase(), source))
    }

    /// Lets a sign-in of `pair` in, or `None` when the cap is reached and
    /// the pair is not known here.
    fn admit(&self, pair: u64, now: i64) -> Option<Admission<'_>> {
        let pass = |counted| Admission {
            gate: self,
            pair,
            counted,
        };
        let Some(cap) = self.cap else {
            return Some(pass(false));
        };
        if self.known.lock().expect("gate lock").passes(pair, now) {
            return Some(pass(false));
        }
        if self.in_flight.fetch_add(1, Ordering::SeqCst) >= cap {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(pass(true))
    }

    /// Holds one place of the cap for an unknown pair, as a sign-in in
    /// flight does (tests and benchmarks: a flood held still). `None` when
    /// the cap is reached or off.
    pub fn hold(&self) -> Option<Admission<'_>> {
        self.cap?;
        self.admit(self.keys.hash_one(crate::crypto::random::token()), 0)
            .filter(|a| a.counted)
    }

    /// Sign-ins from unknown pairs in flight on this node.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Known pairs held (at most `signin_known_pairs`).
    pub fn known_pairs(&self) -> usize {
        self.known.lock().expect("gate lock").until.len()
    }
}

impl UserPools {
    /// Runs a password sign-in of `name` from this client's network once
    /// this node admits it (G2), and learns from the outcome: the right
    /// password makes the pair known here, a refused one forgets it, so a
    /// known pair cannot be used to guess past the cap. Refused: the hash
    /// queue's 503, the same for every name (G3), before any store access
    /// (not audited: nothing was tried; counted in
    /// `poolgate_signin_total{outcome="overloaded"}`).
    pub(crate) async fn admitted<T>(
        &self,
        pool_id: &str,
        name: &str,
        flow: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let source = source_of(crate::audit::request().ip.as_deref());
        let pair = self.gate.pair(pool_id, name, &source);
        let Some(admission) = self.gate.admit(pair, self.clock.now()) else {
            metrics::counter!("poolgate_signin_total", "outcome" => "overloaded").increment(1);
            return Err(crate::crypto::password::overloaded());
        };
        let out = flow.await;
        let mut known = self.gate.known.lock().expect("gate lock");
        match &out {
            Ok(_) if source != "-" => known.remember(
                admission.pair,
                self.clock.now() + super::auth::KNOWN_SOURCE_SECS,
            ),
            Err(e)
                if !matches!(
                    e.kind,
                    ErrorKind::ServiceUnavailable
                        | ErrorKind::TooManyRequests
                        | ErrorKind::Internal
                ) =>
            {
                known.forget(admission.pair)
            }
            _ => {}
        }
        out
    }

    /// This node's sign-in admission (G2).
    pub fn signin_gate(&self) -> &SignInGate {
        &self.gate
    }

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

    fn gate(cap: usize, pairs: usize) -> SignInGate {
        SignInGate::new(
            &RateLimitSettings {
                signin_in_flight: cap,
                signin_known_pairs: pairs,
                ..Default::default()
            },
            99,
        )
    }

    #[test]
    fn g2_the_gate_caps_unknown_pairs_and_lets_known_ones_past() {
        let g = gate(2, 10);
        let (a, b, c) = (
            g.pair("p", "amy", "1.2.3.4"),
            g.pair("p", "bob", "1.2.3.4"),
            3,
        );
        let first = g.admit(a, 0).unwrap();
        let _second = g.admit(b, 0).unwrap();
        assert_eq!(g.in_flight(), 2);
        assert!(g.admit(c, 0).is_none(), "over the cap");
        assert_eq!(g.in_flight(), 2, "a refusal holds no place");
        // A known pair passes the full gate and takes no place.
        g.known.lock().unwrap().remember(a, 100);
        assert!(g.admit(a, 99).is_some_and(|p| !p.counted));
        assert!(g.admit(a, 100).is_none(), "known until 100 only");
        // Names are compared as sign-in names are.
        assert_eq!(g.pair("p", " AMY ", "1.2.3.4"), a);
        assert_ne!(g.pair("q", "amy", "1.2.3.4"), a);
        assert_ne!(g.pair("p", "amy", "1.2.3.5"), a);
        // A place is given back when the sign-in ends.
        drop(first);
        assert_eq!(g.in_flight(), 1);
        assert!(g.admit(c, 0).is_some());
        // 0 takes the hash capacity; rate limits off take no cap.
        assert_eq!(gate(0, 1).cap, Some(99));
        let off = SignInGate::new(
            &RateLimitSettings {
                enabled: false,
                ..Default::default()
            },
            1,
        );
        let _held: Vec<_> = (0..10).map(|i| off.admit(i, 0).unwrap()).collect();
        assert_eq!(off.in_flight(), 0);
    }

    #[test]
    fn g2_known_pairs_are_bounded_oldest_first_and_forgotten_on_failure() {
        let g = gate(1, 3);
        let mut k = g.known.lock().unwrap();
        for p in 1..=3 {
            k.remember(p, 10);
        }
        k.remember(1, 20); // refreshed, not re-added
        k.remember(4, 10);
        assert_eq!(k.until.len(), 3);
        assert!(!k.passes(1, 0), "the oldest-added went first");
        assert!(k.passes(2, 0) && k.passes(3, 0) && k.passes(4, 0));
        k.forget(3);
        assert!(!k.passes(3, 0));
        // Churn leaves the bookkeeping bounded too.
        for p in 100..10_000 {
            k.remember(p, 10);
            k.forget(p - 1);
        }
        assert!(
            k.until.len() <= 3 && k.order.len() <= 6,
            "{}",
            k.order.len()
        );
        // 0 pairs: nothing is kept.
        let none = gate(1, 0);
        none.known.lock().unwrap().remember(1, 10);
        assert_eq!(none.known_pairs(), 0);
    }

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
