//! Password hashing: argon2id off the async runtime, through a bounded pool.
//!
//! At most `workers` hashes run at once (each holds `memory_kib` of RAM), and
//! at most `queue` callers wait for a worker. A caller beyond that is refused
//! at once with `ServiceUnavailable` (503, `TooManyRequests`), so a sign-in
//! flood costs a bounded amount of memory and gets fast answers instead of an
//! ever-growing queue. An unknown user's sign-in verifies against a dummy hash
//! with the same parameters: the same work as a wrong password.

use crate::error::{Error, ErrorKind, Result};
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashes computed at once; 0 = number of CPU cores.
    pub workers: usize,
    /// Callers allowed to wait for a worker before new ones are refused.
    pub queue: usize,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
            workers: 0,
            queue: 64,
        }
    }
}

impl Argon2Settings {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(8..=4 * 1024 * 1024).contains(&self.memory_kib) {
            return Err("argon2.memory_kib must be between 8 and 4194304".into());
        }
        if !(1..=100).contains(&self.iterations) {
            return Err("argon2.iterations must be between 1 and 100".into());
        }
        if !(1..=64).contains(&self.parallelism) {
            return Err("argon2.parallelism must be between 1 and 64".into());
        }
        if self.memory_kib < 8 * self.parallelism {
            return Err("argon2.memory_kib must be at least 8 × parallelism".into());
        }
        Ok(())
    }
    pub fn effective_workers(&self) -> usize {
        if self.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            self.workers
        }
    }
}

/// The result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash uses other parameters than the configured ones.
    pub needs_rehash: bool,
}

pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    workers: usize,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    dummy_hash: String,
    /// Password verifications performed (real or dummy); lets tests check
    /// that unknown users cost the same work as known ones.
    verifications: AtomicU64,
}

/// Normalises a password before hashing (NFKC, as NIST SP 800-63B asks), so
/// the same password typed on two keyboards hashes the same.
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

struct WaitGuard(Arc<AtomicUsize>);
impl Drop for WaitGuard {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("poolgate_hash_queue_waiting").set(left as f64);
    }
}

impl PasswordHasher {
    pub fn new(settings: &Argon2Settings) -> anyhow::Result<Self> {
        settings.validate().map_err(|e| anyhow::anyhow!(e))?;
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let workers = settings.effective_workers().max(1);
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy_hash = argon
            .hash_password_with_salt(b"poolgate dummy password", &super::random::bytes::<16>())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(workers)),
            workers,
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: settings.queue,
            dummy_hash,
            verifications: AtomicU64::new(0),
        })
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::SeqCst)
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Runs `f` on a blocking thread once a worker is free, or refuses at once
    /// when too many callers are already waiting.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let guard = WaitGuard(self.waiting.clone());
        // Only callers without a worker count here: a worker's caller is done
        // waiting. A free worker is taken at once, so this refuses only when
        // every worker is busy and `max_waiting` callers already wait.
        if queued >= self.max_waiting && self.permits.available_permits() == 0 {
            drop(guard);
            metrics::counter!("poolgate_hash_rejected_total").increment(1);
            return Err(Error::new(
                ErrorKind::ServiceUnavailable,
                "Too many sign-in requests; retry shortly",
            )
            .with_retry_after(1));
        }
        metrics::gauge!("poolgate_hash_queue_waiting").set((queued + 1) as f64);
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(Error::internal)?;
        drop(guard);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(Error::internal)
    }

    /// Hashes a password into a PHC string with the configured parameters.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let pw = normalize(password);
        let argon = self.argon();
        self.run(move || {
            argon
                .hash_password_with_salt(pw.as_bytes(), &super::random::bytes::<16>())
                .map(|h| h.to_string())
        })
        .await?
        .map_err(|e| Error::internal(anyhow::anyhow!("argon2: {e}")))
    }

    /// Checks `password` against `phc`; with `None` (unknown user, no
    /// password) checks against the dummy hash so the work is the same, and
    /// answers not ok.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<Verified> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        let pw = normalize(password);
        let real = phc.is_some();
        let hash = phc.unwrap_or(&self.dummy_hash).to_owned();
        let current = self.params.clone();
        let out = self
            .run(move || {
                let parsed = match PasswordHash::new(&hash) {
                    Ok(p) => p,
                    Err(_) => {
                        return Verified {
                            ok: false,
                            needs_rehash: true,
                        };
                    }
                };
                let needs_rehash = parsed.algorithm.as_str() != "argon2id"
                    || Params::try_from(&parsed).map(|p| {
                        p.m_cost() != current.m_cost()
                            || p.t_cost() != current.t_cost()
                            || p.p_cost() != current.p_cost()
                    }) != Ok(false);
                let ok = Argon2::default()
                    .verify_password(pw.as_bytes(), &parsed)
                    .is_ok();
                Verified { ok, needs_rehash }
            })
            .await?;
        Ok(Verified {
            ok: out.ok && real,
            needs_rehash: out.needs_rehash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(&Argon2Settings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            workers: 1,
            queue: 1,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn p7_hashes_are_argon2id_phc_with_a_128_bit_salt() {
        let h = fast();
        let phc = h.hash("correct horse battery staple").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        // $argon2id$v=19$m=..$<salt, unpadded base64>$<hash>
        let salt_b64 = phc.split('$').nth(4).unwrap();
        assert!(
            salt_b64.len() * 6 / 8 >= 16,
            "salt shorter than 128 bits: {salt_b64}"
        );
        assert!(
            h.verify("correct horse battery staple", Some(&phc))
                .await
                .unwrap()
                .ok
        );
        assert!(
            !h.verify("correct horse battery stapl", Some(&phc))
                .await
                .unwrap()
                .ok
        );
    }

    #[tokio::test]
    async fn p7_hashes_with_old_parameters_ask_for_an_upgrade() {
        let old = fast();
        let phc = old.hash("a long enough password").await.unwrap();
        let new = PasswordHasher::new(&Argon2Settings {
            memory_kib: 128,
            iterations: 1,
            parallelism: 1,
            workers: 1,
            queue: 1,
        })
        .unwrap();
        let v = new
            .verify("a long enough password", Some(&phc))
            .await
            .unwrap();
        assert!(v.ok && v.needs_rehash);
        assert!(
            !old.verify("a long enough password", Some(&phc))
                .await
                .unwrap()
                .needs_rehash
        );
    }

    #[tokio::test]
    async fn p2_unicode_passwords_are_normalised_nfkc() {
        let h = fast();
        // "é" precomposed (NFC) vs "e" + combining acute (NFD), plus an emoji.
        let phc = h.hash("caf\u{e9} \u{1F511} long passphrase").await.unwrap();
        assert!(
            h.verify("cafe\u{301} \u{1F511} long passphrase", Some(&phc))
                .await
                .unwrap()
                .ok
        );
    }

    #[tokio::test]
    async fn p4_no_truncation_the_last_of_100_chars_counts() {
        let h = fast();
        let pw: String = "x".repeat(99) + "a";
        let phc = h.hash(&pw).await.unwrap();
        let wrong: String = "x".repeat(99) + "b";
        assert!(!h.verify(&wrong, Some(&phc)).await.unwrap().ok);
        assert!(!h.verify(&pw.to_uppercase(), Some(&phc)).await.unwrap().ok);
    }

    #[tokio::test]
    async fn unknown_users_cost_a_verification_and_never_pass() {
        let h = fast();
        let before = h.verifications();
        let v = h.verify("poolgate dummy password", None).await.unwrap();
        assert!(!v.ok);
        assert_eq!(h.verifications(), before + 1);
    }

    #[tokio::test]
    async fn a_saturated_pool_refuses_at_once_instead_of_queueing() {
        let h = Arc::new(
            PasswordHasher::new(&Argon2Settings {
                memory_kib: 8192,
                iterations: 20,
                parallelism: 1,
                workers: 1,
                queue: 1,
            })
            .unwrap(),
        );
        let mut tasks = vec![];
        for _ in 0..8 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move {
                h.hash("some long passphrase here").await
            }));
        }
        let mut refused = 0;
        let mut done = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => done += 1,
                Err(e) => {
                    assert_eq!(e.kind, ErrorKind::ServiceUnavailable);
                    assert_eq!(e.retry_after, Some(1));
                    refused += 1
                }
            }
        }
        assert!(done >= 1 && refused >= 1, "done={done} refused={refused}");
        assert_eq!(h.waiting.load(Ordering::SeqCst), 0);
    }
}
