//! Password hashing: argon2id on a fixed set of worker threads, through a
//! bounded queue.
//!
//! `workers` OS threads each own one argon2 memory area (`memory_kib`),
//! allocated once and reused for every hash, so hashing memory is exactly
//! workers × memory_kib whatever the load, with no per-hash allocation or page
//! faults. At most `queue` jobs wait for a worker; a caller beyond that is
//! refused at once with `ServiceUnavailable` (503, `TooManyRequests`), so a
//! sign-in flood gets fast answers instead of an ever-growing queue. An
//! unknown user's sign-in verifies against a dummy hash with the same
//! parameters: the same work as a wrong password.

use crate::error::{Error, ErrorKind, Result};
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::oneshot;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashes computed at once (worker threads); 0 = number of CPU cores.
    pub workers: usize,
    /// Jobs allowed to wait for a worker before new ones are refused.
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
        if self.workers > 1024 {
            return Err("argon2.workers must be at most 1024".into());
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

enum Job {
    Hash {
        password: String,
        salt: [u8; 16],
        reply: oneshot::Sender<std::result::Result<String, String>>,
    },
    Verify {
        password: String,
        /// The password as typed, when NFKC changed it: hashes imported from
        /// other systems were made from the raw bytes.
        raw: Option<String>,
        phc: String,
        reply: oneshot::Sender<Verified>,
    },
}

/// Normalises a password before hashing (NFKC, as NIST SP 800-63B asks), so
/// the same password typed on two keyboards hashes the same.
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

const OUTPUT_LEN: usize = 32;

/// One worker's argon2 state: the configured parameters and a memory area
/// reused for every job.
struct Worker {
    params: Params,
    blocks: Vec<Block>,
}

impl Worker {
    fn new(params: Params) -> Self {
        let blocks = vec![Block::default(); params.block_count()];
        Self { params, blocks }
    }

    fn hash(&mut self, password: &[u8], salt: &[u8]) -> std::result::Result<String, String> {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let mut out = [0u8; OUTPUT_LEN];
        argon
            .hash_password_into_with_memory(password, salt, &mut out, &mut self.blocks[..])
            .map_err(|e| e.to_string())?;
        let phc = PasswordHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| e.to_string())?,
            salt: Some(Salt::new(salt).map_err(|e| e.to_string())?),
            hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
        };
        Ok(phc.to_string())
    }

    fn verify(&mut self, password: &[u8], phc: &str) -> Verified {
        let fail = Verified {
            ok: false,
            needs_rehash: true,
        };
        if !phc.starts_with("$argon2") {
            // bcrypt, scrypt or PBKDF2 from an import: checked once, then
            // replaced by argon2id.
            return Verified {
                ok: super::legacy::verify(password, phc),
                needs_rehash: true,
            };
        }
        let Ok(parsed) = PasswordHash::new(phc) else {
            return fail;
        };
        let algorithm = match parsed.algorithm.as_str() {
            "argon2id" => Algorithm::Argon2id,
            "argon2i" => Algorithm::Argon2i,
            "argon2d" => Algorithm::Argon2d,
            _ => return fail,
        };
        let version = match parsed.version {
            Some(0x10) => Version::V0x10,
            None | Some(0x13) => Version::V0x13,
            _ => return fail,
        };
        let (Ok(params), Some(salt), Some(expected)) = (
            Params::try_from(&parsed),
            parsed.salt.as_ref(),
            parsed.hash.as_ref(),
        ) else {
            return fail;
        };
        let needs_rehash = algorithm != Algorithm::Argon2id
            || params.m_cost() != self.params.m_cost()
            || params.t_cost() != self.params.t_cost()
            || params.p_cost() != self.params.p_cost()
            || expected.len() != OUTPUT_LEN;
        let expected = expected.as_bytes();
        let mut out = vec![0u8; expected.len()];
        let argon = Argon2::new(algorithm, version, params.clone());
        let count = params.block_count();
        let done = if count <= self.blocks.len() {
            argon.hash_password_into_with_memory(
                password,
                salt.as_ref(),
                &mut out,
                &mut self.blocks[..count],
            )
        } else {
            // A stored hash with more memory than configured: a one-off area.
            argon.hash_password_into_with_memory(
                password,
                salt.as_ref(),
                &mut out,
                vec![Block::default(); count],
            )
        };
        Verified {
            ok: done.is_ok() && super::ct_eq(&out, expected),
            needs_rehash,
        }
    }

    fn run(mut self, queue: Arc<Queue>, waiting: Arc<AtomicUsize>) {
        loop {
            let Some(job) = queue.take() else {
                return; // the hasher was dropped
            };
            let left = waiting.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
            metrics::gauge!("poolgate_hash_queue_waiting").set(left as f64);
            match job {
                Job::Hash {
                    password,
                    salt,
                    reply,
                } => {
                    if !reply.is_closed() {
                        let _ = reply.send(self.hash(password.as_bytes(), &salt));
                    }
                }
                Job::Verify {
                    password,
                    raw,
                    phc,
                    reply,
                } => {
                    if !reply.is_closed() {
                        let mut v = self.verify(password.as_bytes(), &phc);
                        if let (false, Some(raw)) = (v.ok, raw) {
                            v = self.verify(raw.as_bytes(), &phc);
                        }
                        let _ = reply.send(v);
                    }
                }
            }
        }
    }
}

/// Which queue a password check waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A known user from a known network: served first.
    Known,
    /// Everything else.
    Anonymous,
}

struct Lanes {
    known: VecDeque<Job>,
    anonymous: VecDeque<Job>,
    closed: bool,
}

/// The two bounded lanes the workers take jobs from, known first.
struct Queue {
    lanes: Mutex<Lanes>,
    ready: Condvar,
    capacity: usize,
}

impl Queue {
    /// Queues `job`, or gives it back when its lane is full.
    fn offer(&self, job: Job, lane: Lane) -> std::result::Result<(), Job> {
        let mut l = self.lanes.lock().expect("hash queue lock");
        let q = match lane {
            Lane::Known => &mut l.known,
            Lane::Anonymous => &mut l.anonymous,
        };
        if q.len() >= self.capacity {
            return Err(job);
        }
        q.push_back(job);
        drop(l);
        self.ready.notify_one();
        Ok(())
    }

    /// The next job, known lane first; `None` once closed and drained.
    fn take(&self) -> Option<Job> {
        let mut l = self.lanes.lock().expect("hash queue lock");
        loop {
            if let Some(j) = l.known.pop_front().or_else(|| l.anonymous.pop_front()) {
                return Some(j);
            }
            if l.closed {
                return None;
            }
            l = self.ready.wait(l).expect("hash queue lock");
        }
    }

    fn close(&self) {
        self.lanes.lock().expect("hash queue lock").closed = true;
        self.ready.notify_all();
    }
}

/// The answer to a sign-in this node has no room for: 503 with
/// `Retry-After: 1`, whatever the name (the hash queue's and the sign-in
/// admission's refusal, G2).
pub fn overloaded() -> Error {
    Error::new(
        ErrorKind::ServiceUnavailable,
        "Too many sign-in requests; retry shortly",
    )
    .with_retry_after(1)
}

pub struct PasswordHasher {
    queue: Arc<Queue>,
    workers: usize,
    waiting: Arc<AtomicUsize>,
    dummy_hash: String,
    /// Password verifications performed (real or dummy); lets tests check
    /// that unknown users cost the same work as known ones.
    verifications: AtomicU64,
}

impl PasswordHasher {
    pub fn new(settings: &Argon2Settings) -> anyhow::Result<Self> {
        settings.validate().map_err(|e| anyhow::anyhow!(e))?;
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            Some(OUTPUT_LEN),
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let workers = settings.effective_workers().max(1);
        let dummy_hash = Worker::new(params.clone())
            .hash(b"poolgate dummy password", &super::random::bytes::<16>())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        // A zero-capacity lane would refuse every job; keep at least one
        // place so a free worker is fed.
        let queue = Arc::new(Queue {
            lanes: Mutex::new(Lanes {
                known: VecDeque::new(),
                anonymous: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
            capacity: settings.queue.max(1),
        });
        let waiting = Arc::new(AtomicUsize::new(0));
        for i in 0..workers {
            let (q, waiting, worker) =
                (queue.clone(), waiting.clone(), Worker::new(params.clone()));
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker.run(q, waiting))?;
        }
        Ok(Self {
            queue,
            workers,
            waiting,
            dummy_hash,
            verifications: AtomicU64::new(0),
        })
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Password checks this node can hold at once: those being hashed plus
    /// one full lane.
    pub fn capacity(&self) -> usize {
        self.workers + self.queue.capacity
    }

    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::SeqCst)
    }

    fn submit(&self, job: Job, lane: Lane) -> Result<()> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        match self.queue.offer(job, lane) {
            Ok(()) => {
                metrics::gauge!("poolgate_hash_queue_waiting")
                    .set(self.waiting.load(Ordering::SeqCst) as f64);
                Ok(())
            }
            Err(_) => {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                metrics::counter!("poolgate_hash_rejected_total").increment(1);
                Err(overloaded())
            }
        }
    }

    /// Hashes a password into a PHC string with the configured parameters.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let (reply, rx) = oneshot::channel();
        self.submit(
            Job::Hash {
                password: normalize(password),
                salt: super::random::bytes::<16>(),
                reply,
            },
            Lane::Anonymous,
        )?;
        rx.await
            .map_err(|_| Error::internal(anyhow::anyhow!("hash worker gone")))?
            .map_err(|e| Error::internal(anyhow::anyhow!("argon2: {e}")))
    }

    /// Checks `password` against `phc`; with `None` (unknown user, no
    /// password) checks against the dummy hash so the work is the same, and
    /// answers not ok.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<Verified> {
        self.verify_in(password, phc, Lane::Anonymous).await
    }

    /// `verify`, waiting in `lane`.
    pub async fn verify_in(
        &self,
        password: &str,
        phc: Option<&str>,
        lane: Lane,
    ) -> Result<Verified> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        let real = phc.is_some();
        let (reply, rx) = oneshot::channel();
        let normalized = normalize(password);
        let raw = (normalized != password).then(|| password.to_owned());
        self.submit(
            Job::Verify {
                password: normalized,
                raw,
                phc: phc.unwrap_or(&self.dummy_hash).to_owned(),
                reply,
            },
            lane,
        )?;
        let out = rx
            .await
            .map_err(|_| Error::internal(anyhow::anyhow!("hash worker gone")))?;
        Ok(Verified {
            ok: out.ok && real,
            needs_rehash: out.needs_rehash,
        })
    }
}

impl Drop for PasswordHasher {
    fn drop(&mut self) {
        self.queue.close();
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

    fn verify_job(tag: &str) -> (Job, oneshot::Receiver<Verified>) {
        let (reply, rx) = oneshot::channel();
        let job = Job::Verify {
            password: tag.into(),
            raw: None,
            phc: String::new(),
            reply,
        };
        (job, rx)
    }

    fn tag_of(job: &Job) -> &str {
        match job {
            Job::Verify { password, .. } | Job::Hash { password, .. } => password,
        }
    }

    #[test]
    fn g2_known_users_are_served_first_and_a_full_anonymous_lane_does_not_refuse_them() {
        let q = Queue {
            lanes: Mutex::new(Lanes {
                known: VecDeque::new(),
                anonymous: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
            capacity: 2,
        };
        // A flood fills the anonymous lane; a third anonymous job is refused.
        assert!(q.offer(verify_job("flood-1").0, Lane::Anonymous).is_ok());
        assert!(q.offer(verify_job("flood-2").0, Lane::Anonymous).is_ok());
        assert!(q.offer(verify_job("flood-3").0, Lane::Anonymous).is_err());
        // A known user still gets in, and is taken before the flood.
        assert!(q.offer(verify_job("owner").0, Lane::Known).is_ok());
        let order: Vec<String> = (0..3)
            .map(|_| tag_of(&q.take().unwrap()).to_owned())
            .collect();
        assert_eq!(order, ["owner", "flood-1", "flood-2"]);
        // The known lane is bounded too.
        assert!(q.offer(verify_job("k1").0, Lane::Known).is_ok());
        assert!(q.offer(verify_job("k2").0, Lane::Known).is_ok());
        assert!(q.offer(verify_job("k3").0, Lane::Known).is_err());
        q.close();
        assert!(q.take().is_some() && q.take().is_some());
        assert!(q.take().is_none(), "closed and drained");
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
        // Interoperable PHC: the argon2 crate's own verifier accepts ours.
        use argon2::password_hash::PasswordVerifier;
        let phc = h.hash("interop check passphrase").await.unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"interop check passphrase", phc.as_str())
                .is_ok()
        );
    }
}
