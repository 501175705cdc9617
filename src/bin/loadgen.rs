//! poolgate-loadgen: drives a running server with N concurrent clients and
//! reports throughput and p50/p99 latency for password sign-in, refresh and
//! the OAuth client-credentials grant,
//! next to the in-process ceilings measured in the same run on the same
//! machine (raw argon2 hashes/s at the server's parameters; token signatures
//! per second for the pool's algorithm), so results are ratios that a noisy
//! machine cancels out. With `--server-pid` it also samples the server's peak
//! RSS during a 10× overload of the hash pool.
//!
//!   poolgate-loadgen --url http://127.0.0.1:8080 --admin-key "$(cat data/admin.key)" \
//!       --concurrency 16 --seconds 20 --alg RS256 --server-pid $(pgrep -f 'poolgate serve')
//!
//! Two phases check protections rather than speed, against a server that
//! trusts 127.0.0.1 as a proxy (`server.trusted_proxies`) and keeps its
//! default rate limits: `flood` (G2: wrong-password sign-ins from a new
//! `X-Forwarded-For` address each, at `--flood-factor` × the hash ceiling,
//! while legitimate users sign in from their usual addresses) and
//! `enumeration` (G3: latency of known vs unknown names on sign-in and
//! forgot-password, interleaved, one request at a time).
//!
//! The server must run with the dev mailer (the codes are read from its outbox).

use clap::Parser;
use futures_util::StreamExt;
use poolgate::crypto::keys::SigningKey;
use poolgate::crypto::password::{Argon2Settings, PasswordHasher};
use poolgate::crypto::{MasterKey, Sealer};
use poolgate::model::SigningAlg;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Load generator for poolgate: sign-in and refresh throughput, latency, and ceilings"
)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long, env = "POOLGATE_ADMIN_KEY")]
    admin_key: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds per measured phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Users to create and cycle through.
    #[arg(long, default_value_t = 32)]
    users: usize,
    /// Signing algorithm of the benchmark pool.
    #[arg(long, default_value = "RS256")]
    alg: String,
    /// Rotate refresh tokens (a store write per refresh).
    #[arg(long)]
    rotation: bool,
    /// Phases: signin, refresh, client_credentials, authorization_code,
    /// overload (comma-separated).
    #[arg(long, default_value = "signin,refresh")]
    phases: String,
    /// The server's argon2 parameters (for the in-process hash ceiling).
    #[arg(long, default_value_t = 19456)]
    argon2_memory_kib: u32,
    #[arg(long, default_value_t = 2)]
    argon2_iterations: u32,
    #[arg(long, default_value_t = 1)]
    argon2_parallelism: u32,
    /// The server's hash workers and queue (for the overload bound).
    #[arg(long, default_value_t = 0)]
    hash_workers: usize,
    #[arg(long, default_value_t = 64)]
    hash_queue: usize,
    /// PID of the server: its CPU time per phase, and its RSS during the
    /// overload phase.
    #[arg(long)]
    server_pid: Option<u32>,
    /// `flood`: wrong-password sign-ins per second, as a multiple of the
    /// in-process argon2 ceiling.
    #[arg(long, default_value_t = 10.0)]
    flood_factor: f64,
    /// `flood`: most flood requests in flight at once (beyond it the
    /// generator counts a drop instead of queueing).
    #[arg(long, default_value_t = 1024)]
    flood_inflight: usize,
    /// `flood`: legitimate users, each signing in once a second from their
    /// own address (the server must trust 127.0.0.1 as a proxy).
    #[arg(long, default_value_t = 8)]
    legit_users: usize,
    /// `enumeration`: samples per kind (known / unknown) and operation.
    #[arg(long, default_value_t = 250)]
    samples: usize,
}

const PASSWORD: &str = "load generator passphrase 2026";

struct Lat(Vec<u32>); // microseconds

impl Lat {
    fn pct(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let i = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[i] as f64 / 1000.0
    }
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
    bearer: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let mut r = http.request(method, url);
    if let Some(b) = body {
        r = r.json(&b);
    }
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await?;
    let st = resp.status().as_u16();
    Ok((st, resp.json().await.unwrap_or(Value::Null)))
}

/// A form-encoded POST.
fn form_post(http: &reqwest::Client, url: String, body: String) -> reqwest::RequestBuilder {
    http.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

/// Prints a phase's in-process signature ceiling (`per_op` signatures per
/// operation) and its ratio to it.
fn signature_ratio(phase: &str, alg: &str, per_op: u32, ceiling: f64, rate: f64, unit: &str) {
    let ops = ceiling / f64::from(per_op);
    println!(
        "         signature ceiling (in-process, {} cores, {alg}, {per_op} signature(s) per operation): {ops:.1}/s",
        cores()
    );
    println!(
        "RATIO {phase}/ceiling = {:.3}   (per core: {:.1} {unit}/s)",
        rate / ops,
        rate / cores() as f64
    );
}

/// The status of a response, after reading its body: a body left unread
/// keeps hyper from reusing the connection, and a benchmark of new TCP
/// connections per request would measure the kernel, not poolgate.
async fn status_of(r: reqwest::Result<reqwest::Response>) -> u16 {
    match r {
        Ok(r) => {
            let st = r.status().as_u16();
            let _ = r.bytes().await;
            st
        }
        Err(_) => 0,
    }
}

/// An address in 100.64.0.0/10 (shared address space) for the n-th
/// request: a new client address each time, through the trusted proxy.
fn spoofed(n: u64) -> String {
    let n = n % (1 << 22);
    format!("100.{}.{}.{}", 64 + (n >> 16), (n >> 8) & 255, n & 255)
}

/// One password sign-in from `ip` (as `X-Forwarded-For`): status and
/// latency in microseconds.
async fn sign_in_from(
    http: &reqwest::Client,
    url: &str,
    client_id: &str,
    ip: &str,
    user: &str,
    password: &str,
) -> (u16, u32) {
    let t = Instant::now();
    let st = status_of(
        http.post(url)
            .header("x-forwarded-for", ip)
            .json(&json!({"client_id": client_id, "username": user, "password": password}))
            .send()
            .await,
    )
    .await;
    (st, t.elapsed().as_micros() as u32)
}

/// Median, 10th and 90th percentile in ms.
fn spread(l: &mut Lat) -> String {
    format!(
        "median {:.3} ms (p10 {:.3}, p90 {:.3})",
        l.pct(0.5),
        l.pct(0.1),
        l.pct(0.9)
    )
}

/// The two-sample Kolmogorov-Smirnov statistic D and its critical value at
/// alpha = 0.01 (D above it: the distributions differ).
fn ks(a: &[u32], b: &[u32]) -> (f64, f64) {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    (d, 1.628 * ((n + m) / (n * m)).sqrt())
}

/// The i-th password sign-in of a phase, cycling through the users.
fn sign_in_request(
    http: &reqwest::Client,
    base: &str,
    pool_id: &str,
    client_id: &str,
    users: &Arc<Vec<String>>,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = u16> + Send>>
+ Send
+ Sync
+ 'static {
    let (http, url, client_id, users) = (
        http.clone(),
        format!("{base}/v1/pools/{pool_id}/signin"),
        client_id.to_owned(),
        users.clone(),
    );
    move |i| {
        let body = json!({"client_id": client_id, "username": users[i % users.len()], "password": PASSWORD});
        let (http, url) = (http.clone(), url.clone());
        Box::pin(async move { status_of(http.post(url).json(&body).send().await).await })
    }
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Raw argon2 hashes per second on every core, in-process.
fn hash_ceiling(a: &Args, secs: f64) -> f64 {
    let settings = Argon2Settings {
        memory_kib: a.argon2_memory_kib,
        iterations: a.argon2_iterations,
        parallelism: a.argon2_parallelism,
        workers: cores(),
        queue: 1024,
    };
    let hasher = Arc::new(PasswordHasher::new(&settings).expect("argon2 params"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores())
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = vec![];
        for _ in 0..cores() * 2 {
            let (h, stop, count) = (hasher.clone(), stop.clone(), count.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    h.hash(PASSWORD).await.unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
    })
}

/// Token signatures per second on every core, in-process, with the server's
/// own signing code and a claim set of the size it signs.
fn signature_ceiling(alg: SigningAlg, secs: f64) -> f64 {
    let sealer = Sealer::new(&MasterKey::generate(), "bench");
    let (_, key) =
        SigningKey::generate("local-east-1_Benchmark", alg, "active", &sealer, 0).unwrap();
    let key = Arc::new(key);
    let claims = json!({"sub": "0b5d7c3e-4f0a-4d7b-9a57-3d5e2f1c0a11", "iss": "http://127.0.0.1:8080/local-east-1_Benchmark",
        "client_id": "abcdefghijklmnopqrstuvwxyz", "origin_jti": "7b0c", "event_id": "9d1e", "token_use": "access",
        "scope": "aws.cognito.signin.user.admin", "auth_time": 1, "exp": 2, "iat": 1, "jti": "5f2a", "username": "user"});
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..cores())
        .map(|_| {
            let (key, claims, stop, count) =
                (key.clone(), claims.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::black_box(key.sign(&claims).unwrap());
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Phase {
    name: &'static str,
    ok: u64,
    other: std::collections::BTreeMap<u16, u64>,
    secs: f64,
    lat: Lat,
    /// CPU seconds the server process used during the phase (with
    /// `--server-pid`), and the whole machine's busy CPU seconds.
    server_cpu: Option<f64>,
    machine_cpu: f64,
}

/// The server's PID (`--server-pid`), for its CPU time per phase.
static SERVER_PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// (server CPU seconds, machine busy CPU seconds) so far.
fn cpu_now() -> (Option<f64>, f64) {
    (
        SERVER_PID
            .get()
            .map(|p| poolgate::telemetry::process_cpu_seconds(&p.to_string())),
        poolgate::telemetry::machine_busy_seconds(),
    )
}

impl Phase {
    fn report(&mut self) -> f64 {
        let rate = self.ok as f64 / self.secs;
        println!(
            "{:<8} ok={:<7} other={:?} rate={:>9.1}/s p50={:>7.2} ms p99={:>7.2} ms",
            self.name,
            self.ok,
            self.other,
            rate,
            self.lat.pct(0.50),
            self.lat.pct(0.99)
        );
        // Per CPU-second: the rate each core of the server sustains while
        // busy, the way a server's sizing is quoted per vCPU it is given
        // (the database and the load generator excluded); and per busy
        // core-second of the whole machine (everything included).
        if let Some(server) = self.server_cpu.filter(|c| *c > 0.0) {
            println!(
                "{:<8} server CPU {:.2} cores busy: {:.1} ok per server CPU-second",
                "",
                server / self.secs,
                self.ok as f64 / server
            );
        }
        if self.machine_cpu > 0.0 {
            println!(
                "{:<8} machine CPU {:.2} of {} cores busy: {:.1} ok per busy core-second",
                "",
                self.machine_cpu / self.secs,
                cores(),
                self.ok as f64 / self.machine_cpu
            );
        }
        rate
    }
}

/// Runs `make(i)` from `concurrency` loops for `secs` seconds.
async fn drive<F, Fut>(name: &'static str, concurrency: usize, secs: u64, make: F) -> Phase
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let make = Arc::new(make);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let cpu0 = cpu_now();
    let mut tasks = vec![];
    for c in 0..concurrency {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            let mut statuses: Vec<u16> = vec![];
            let mut i = c;
            while Instant::now() < deadline {
                let t = Instant::now();
                let st = make(i).await;
                lat.push(t.elapsed().as_micros() as u32);
                statuses.push(st);
                i += concurrency;
            }
            (lat, statuses)
        }));
    }
    let mut phase = Phase {
        name,
        ok: 0,
        other: Default::default(),
        secs: 0.0,
        lat: Lat(vec![]),
        server_cpu: None,
        machine_cpu: 0.0,
    };
    for t in tasks {
        let (lat, statuses) = t.await.unwrap();
        for (l, s) in lat.into_iter().zip(statuses) {
            if s == 200 {
                phase.ok += 1;
                phase.lat.0.push(l);
            } else {
                *phase.other.entry(s).or_default() += 1;
            }
        }
    }
    phase.secs = start.elapsed().as_secs_f64();
    let cpu1 = cpu_now();
    phase.server_cpu = cpu0.0.zip(cpu1.0).map(|(a, b)| b - a);
    phase.machine_cpu = cpu1.1 - cpu0.1;
    phase
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    if let Some(pid) = a.server_pid {
        let _ = SERVER_PID.set(pid);
    }
    let alg =
        SigningAlg::parse(&a.alg).ok_or_else(|| anyhow::anyhow!("--alg must be RS256 or ES256"))?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency * 2)
        .timeout(Duration::from_secs(60))
        .build()?;
    let base = a.url.trim_end_matches('/').to_owned();
    let admin = a.admin_key.clone();
    println!(
        "poolgate-loadgen: {} cores, concurrency {}, {} s per phase, alg {}, rotation {}",
        cores(),
        a.concurrency,
        a.seconds,
        a.alg,
        a.rotation
    );

    // Setup: a pool, a client, confirmed users.
    let (st, pool) = call(&http, reqwest::Method::POST, format!("{base}/v1/admin/pools"), Some(json!({"name": "loadgen", "signing_algorithm": a.alg, "username_attributes": ["email"]})), Some(&admin)).await?;
    anyhow::ensure!(st == 201, "creating the pool failed: {st} {pool}");
    let pool_id = pool["id"].as_str().unwrap().to_owned();
    let (st, client) = call(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/admin/pools/{pool_id}/clients"),
        Some(json!({"name": "loadgen", "refresh_token_rotation": a.rotation})),
        Some(&admin),
    )
    .await?;
    anyhow::ensure!(st == 201, "creating the client failed: {st} {client}");
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let users: Vec<String> = (0..a.users)
        .map(|i| format!("load{i}-{}@example.com", &pool_id[pool_id.len() - 5..]))
        .collect();
    for u in &users {
        let (st, b) = call(
            &http,
            reqwest::Method::POST,
            format!("{base}/v1/pools/{pool_id}/signup"),
            Some(json!({"client_id": client_id, "username": u, "password": PASSWORD})),
            None,
        )
        .await?;
        anyhow::ensure!(st == 200, "sign-up failed: {st} {b}");
        let (_, out) = call(
            &http,
            reqwest::Method::GET,
            format!("{base}/v1/admin/outbox?to={u}&limit=1"),
            None,
            Some(&admin),
        )
        .await?;
        let body = out["messages"][0]["body"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no code in the outbox: is the dev mailer on?"))?;
        let code = body
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap()
            .to_owned();
        let (st, b) = call(
            &http,
            reqwest::Method::POST,
            format!("{base}/v1/pools/{pool_id}/signup/confirm"),
            Some(json!({"client_id": client_id, "username": u, "code": code})),
            None,
        )
        .await?;
        anyhow::ensure!(st == 200, "confirm failed: {st} {b}");
    }
    println!("setup: pool {pool_id}, {} users", users.len());
    let phases: Vec<&str> = a.phases.split(',').map(str::trim).collect();
    let users = Arc::new(users);
    let measure = (a.seconds as f64 / 2.0).max(1.0);

    if phases.contains(&"signin") {
        // argon2 is bound by memory bandwidth (19 MiB per hash against a
        // shared L3), so its rate drifts with what the host's neighbours
        // do: the ceiling is measured right before and right after the
        // phase, and the ratio is to their mean.
        let hash_rate = || {
            let a = a.clone();
            tokio::task::spawn_blocking(move || hash_ceiling(&a, measure / 2.0))
        };
        let before = hash_rate().await?;
        let mut p = drive(
            "signin",
            a.concurrency,
            a.seconds,
            sign_in_request(&http, &base, &pool_id, &client_id, &users),
        )
        .await;
        let after = hash_rate().await?;
        let ceiling = (before + after) / 2.0;
        let rate = p.report();
        println!(
            "         argon2 ceiling (in-process, {} cores, m={} t={} p={}): {:.1} hashes/s (before {:.1}, after {:.1})",
            cores(),
            a.argon2_memory_kib,
            a.argon2_iterations,
            a.argon2_parallelism,
            ceiling,
            before,
            after
        );
        println!(
            "RATIO signin/argon2 = {:.3}   (per core: {:.1} sign-ins/s)",
            rate / ceiling,
            rate / cores() as f64
        );
    }

    if phases.contains(&"refresh") {
        let mut tokens = vec![];
        for u in users.iter() {
            let (st, b) = call(
                &http,
                reqwest::Method::POST,
                format!("{base}/v1/pools/{pool_id}/signin"),
                Some(json!({"client_id": client_id, "username": u, "password": PASSWORD})),
                None,
            )
            .await?;
            anyhow::ensure!(st == 200, "sign-in failed: {st} {b}");
            tokens.push(b["tokens"]["refresh_token"].as_str().unwrap().to_owned());
        }
        let ceiling =
            tokio::task::spawn_blocking(move || signature_ceiling(alg, measure)).await? / 2.0;
        // With rotation each loop owns its own token chain.
        let tokens = Arc::new(
            tokens
                .into_iter()
                .map(std::sync::Mutex::new)
                .collect::<Vec<_>>(),
        );
        let conc = if a.rotation {
            a.concurrency.min(tokens.len())
        } else {
            a.concurrency
        };
        let (http2, base2, pool2, client2, toks) = (
            http.clone(),
            base.clone(),
            pool_id.clone(),
            client_id.clone(),
            tokens.clone(),
        );
        let rotation = a.rotation;
        let mut p = drive("refresh", conc, a.seconds, move |i| {
            let slot = if rotation { i % conc } else { i % toks.len() };
            let (http, url, toks) = (
                http2.clone(),
                format!("{base2}/v1/pools/{pool2}/token/refresh"),
                toks.clone(),
            );
            let client = client2.clone();
            async move {
                let token = toks[slot].lock().unwrap().clone();
                let Ok(r) = http
                    .post(url)
                    .json(&json!({"client_id": client, "refresh_token": token}))
                    .send()
                    .await
                else {
                    return 0;
                };
                let st = r.status().as_u16();
                // The body is always read, so the connection is reused.
                let body = r.bytes().await.unwrap_or_default();
                if rotation
                    && st == 200
                    && let Ok(v) = serde_json::from_slice::<Value>(&body)
                    && let Some(t) = v["tokens"]["refresh_token"].as_str()
                {
                    *toks[slot].lock().unwrap() = t.to_owned();
                }
                st
            }
        })
        .await;
        let rate = p.report();
        println!(
            "         signature ceiling (in-process, {} cores, {}, 2 signatures per refresh): {:.1} refreshes/s",
            cores(),
            a.alg,
            ceiling
        );
        println!(
            "RATIO refresh/ceiling = {:.3}   (per core: {:.1} refreshes/s)",
            rate / ceiling,
            rate / cores() as f64
        );
    }

    if phases.contains(&"client_credentials") {
        // A resource server and a confidential machine client.
        let (st, b) = call(
            &http,
            reqwest::Method::POST,
            format!("{base}/v1/admin/pools/{pool_id}/resource-servers"),
            Some(
                json!({"identifier": "https://api.loadgen", "name": "loadgen",
                "scopes": [{"name": "read", "description": "read"}]}),
            ),
            Some(&admin),
        )
        .await?;
        anyhow::ensure!(st == 201, "creating the resource server failed: {st} {b}");
        let (st, m) = call(
            &http,
            reqwest::Method::POST,
            format!("{base}/v1/admin/pools/{pool_id}/clients"),
            Some(json!({"name": "machine", "generate_secret": true,
                "allowed_oauth_flows": ["client_credentials"],
                "allowed_oauth_scopes": ["https://api.loadgen/read"]})),
            Some(&admin),
        )
        .await?;
        anyhow::ensure!(st == 201, "creating the machine client failed: {st} {m}");
        let (id, secret) = (
            m["client_id"].as_str().unwrap().to_owned(),
            m["client_secret"].as_str().unwrap().to_owned(),
        );
        let ceiling = tokio::task::spawn_blocking(move || signature_ceiling(alg, measure)).await?;
        let (http2, url) = (http.clone(), format!("{base}/{pool_id}/oauth2/token"));
        let mut p = drive("client_credentials", a.concurrency, a.seconds, move |_| {
            let (http, url, id, secret) = (http2.clone(), url.clone(), id.clone(), secret.clone());
            async move {
                status_of(
                    form_post(&http, url, "grant_type=client_credentials".into())
                        .basic_auth(id, Some(secret))
                        .send()
                        .await,
                )
                .await
            }
        })
        .await;
        let rate = p.report();
        signature_ratio("client_credentials", &a.alg, 1, ceiling, rate, "grants");
    }

    if phases.contains(&"authorization_code") {
        // A public web client; the first user signs in once on the hosted
        // page, then every operation is what a signed-in browser and its
        // app do: /oauth2/authorize with the session cookie (single
        // sign-on, a code at once) and the code exchanged with PKCE.
        let cb = "https://loadgen.example/cb";
        let (st, w) = call(
            &http,
            reqwest::Method::POST,
            format!("{base}/v1/admin/pools/{pool_id}/clients"),
            Some(json!({"name": "web", "allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": ["openid", "email"], "callback_urls": [cb]})),
            Some(&admin),
        )
        .await?;
        anyhow::ensure!(st == 201, "creating the web client failed: {st} {w}");
        let web = w["client_id"].as_str().unwrap().to_owned();
        let verifier = "loadgen-verifier-0123456789-abcdefghijklmnopqrstuvwxyz".to_owned();
        let challenge = {
            use base64::Engine;
            use sha2::Digest;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()))
        };
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", web.as_str()),
            ("redirect_uri", cb),
            ("scope", "openid email"),
            ("state", "s"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])?;
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(a.concurrency * 2)
            .timeout(Duration::from_secs(60))
            .build()?;
        let authorize = format!("{base}/{pool_id}/oauth2/authorize?{query}");
        let page = browser.get(&authorize).send().await?;
        let cookie_of = |r: &reqwest::Response, name: &str| {
            r.headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| v.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.split(';').next())
                .map(str::to_owned)
        };
        let csrf = cookie_of(&page, "poolgate_csrf")
            .ok_or_else(|| anyhow::anyhow!("the sign-in page set no CSRF cookie"))?;
        let form = serde_urlencoded::to_string([
            ("csrf", csrf.as_str()),
            ("authorize", query.as_str()),
            ("username", users[0].as_str()),
            ("password", PASSWORD),
            ("action", "signin"),
        ])?;
        let signed = browser
            .post(format!("{base}/{pool_id}/login"))
            .header("cookie", format!("poolgate_csrf={csrf}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await?;
        let session = cookie_of(&signed, "poolgate_session")
            .ok_or_else(|| anyhow::anyhow!("the hosted sign-in failed: {}", signed.status()))?;
        let ceiling = tokio::task::spawn_blocking(move || signature_ceiling(alg, measure)).await?;
        let token_url = format!("{base}/{pool_id}/oauth2/token");
        // The signed-in browser's authorize: a 302 with a new code.
        let mint = {
            let (b, authorize, session) = (browser.clone(), authorize.clone(), session.clone());
            move || {
                let (b, authorize, session) = (b.clone(), authorize.clone(), session.clone());
                async move {
                    let r = b
                        .get(authorize)
                        .header("cookie", format!("poolgate_session={session}"))
                        .send()
                        .await
                        .map_err(|_| 0u16)?;
                    let code = r
                        .headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .and_then(|l| l.split_once("code="))
                        .map(|(_, c)| c.split('&').next().unwrap_or("").to_owned());
                    match code {
                        Some(code) => {
                            let _ = r.bytes().await;
                            Ok(code)
                        }
                        None => Err(status_of(Ok(r)).await),
                    }
                }
            }
        };
        // The app's exchange of a code, with the PKCE verifier.
        let exchange = {
            let (b, token_url, web, verifier) = (
                browser.clone(),
                token_url.clone(),
                web.clone(),
                verifier.clone(),
            );
            move |code: String| {
                let body = serde_urlencoded::to_string([
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", cb),
                    ("client_id", web.as_str()),
                    ("code_verifier", verifier.as_str()),
                ])
                .unwrap_or_default();
                let (b, token_url) = (b.clone(), token_url.clone());
                async move { status_of(form_post(&b, token_url, body).send().await).await }
            }
        };
        let (m, x) = (mint.clone(), exchange.clone());
        let mut p = drive("authorization_code", a.concurrency, a.seconds, move |_| {
            let (m, x) = (m.clone(), x.clone());
            async move {
                match m().await {
                    Ok(code) => x(code).await,
                    Err(st) => st,
                }
            }
        })
        .await;
        let flow_rate = p.report();
        signature_ratio(
            "authorization_code",
            &a.alg,
            2,
            ceiling,
            flow_rate,
            "authorize+exchange",
        );

        // The exchange by itself (the token-endpoint grant Keycloak's
        // sizing counts): codes minted first, untimed, then exchanged.
        let want = ((flow_rate * a.seconds as f64 * 4.0) as usize).clamp(1_000, 400_000);
        let codes: Vec<String> = futures_util::stream::iter(0..want)
            .map(|_| mint())
            .buffer_unordered(a.concurrency)
            .filter_map(|r| async move { r.ok() })
            .collect()
            .await;
        let minted = codes.len();
        let codes = Arc::new(std::sync::Mutex::new(codes));
        let left = codes.clone();
        let mut p = drive("code_exchange", a.concurrency, a.seconds, move |_| {
            let (x, codes) = (exchange.clone(), codes.clone());
            async move {
                let code = codes.lock().ok().and_then(|mut c| c.pop());
                match code {
                    Some(code) => x(code).await,
                    None => {
                        // Ran out: idle, and say so.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        1
                    }
                }
            }
        })
        .await;
        let rate = p.report();
        let unused = left.lock().map(|c| c.len()).unwrap_or(0);
        println!("code_exchange: {minted} codes minted first, {unused} left unused");
        if unused == 0 {
            println!("code_exchange: the codes ran out; the rate above is a lower bound");
        }
        signature_ratio("code_exchange", &a.alg, 2, ceiling, rate, "exchanges");
    }

    if phases.contains(&"flood") {
        anyhow::ensure!(
            users.len() > a.legit_users,
            "--users must exceed --legit-users"
        );
        let ceiling = {
            let a = a.clone();
            tokio::task::spawn_blocking(move || hash_ceiling(&a, measure / 2.0)).await?
        };
        let rate = a.flood_factor * ceiling;
        let url = format!("{base}/v1/pools/{pool_id}/signin");
        let flood_http = reqwest::Client::builder()
            .pool_max_idle_per_host(a.flood_inflight)
            .timeout(Duration::from_secs(30))
            .build()?;
        // Each legitimate user signs in once from their usual address, so
        // (user, address) is a known pair when the flood starts.
        let home = |i: usize| format!("198.51.100.{}", 10 + i);
        for (i, u) in users.iter().take(a.legit_users).enumerate() {
            let (st, _) = sign_in_from(&http, &url, &client_id, &home(i), u, PASSWORD).await;
            anyhow::ensure!(st == 200, "warm-up sign-in of {u} failed: {st}");
        }
        let deadline = Instant::now() + Duration::from_secs(a.seconds);
        let statuses = Arc::new(std::sync::Mutex::new(
            std::collections::BTreeMap::<u16, u64>::new(),
        ));
        let (sent, dropped) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let generator = {
            let (http, url, client_id, users) = (
                flood_http.clone(),
                url.clone(),
                client_id.clone(),
                users.clone(),
            );
            let (statuses, sent, dropped) = (statuses.clone(), sent.clone(), dropped.clone());
            let legit = a.legit_users;
            let slots = Arc::new(tokio::sync::Semaphore::new(a.flood_inflight));
            tokio::spawn(async move {
                let every = Duration::from_secs_f64(1.0 / rate);
                let mut next = tokio::time::Instant::now();
                let mut n = 0u64;
                let mut tasks = tokio::task::JoinSet::new();
                while Instant::now() < deadline {
                    n += 1;
                    match slots.clone().try_acquire_owned() {
                        Ok(permit) => {
                            // Nine in ten names designate nobody (each a new
                            // one: no name-wide lock cuts the hashing short),
                            // one in ten a real user other than the
                            // legitimate ones.
                            let user = if n.is_multiple_of(10) {
                                users[legit + (n as usize / 10) % (users.len() - legit)].clone()
                            } else {
                                format!("flood{n}@example.net")
                            };
                            let (http, url, client_id, statuses) = (
                                http.clone(),
                                url.clone(),
                                client_id.clone(),
                                statuses.clone(),
                            );
                            sent.fetch_add(1, Ordering::Relaxed);
                            tasks.spawn(async move {
                                let (st, _) = sign_in_from(
                                    &http,
                                    &url,
                                    &client_id,
                                    &spoofed(n),
                                    &user,
                                    "not the password 2026",
                                )
                                .await;
                                *statuses.lock().unwrap().entry(st).or_default() += 1;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    while tasks.try_join_next().is_some() {}
                    next += every;
                    if next > tokio::time::Instant::now() {
                        tokio::time::sleep_until(next).await;
                    }
                }
                while tasks.join_next().await.is_some() {}
            })
        };
        // The legitimate users, once a second each from home; and the same
        // users from an address they never used (an unknown pair: the
        // control, which the pool-wide budget may refuse).
        let mut loops = vec![];
        for (i, u) in users.iter().take(a.legit_users).enumerate() {
            for known in [true, false] {
                let (http, url, client_id, u) =
                    (http.clone(), url.clone(), client_id.clone(), u.clone());
                let ip = home(i);
                loops.push(tokio::spawn(async move {
                    let mut out = vec![];
                    let mut k = 0u64;
                    // Start spread over the first second.
                    tokio::time::sleep(Duration::from_millis(
                        (i as u64 * 1000 / 8 + if known { 0 } else { 500 }) % 1000,
                    ))
                    .await;
                    while Instant::now() < deadline {
                        k += 1;
                        let from = if known {
                            ip.clone()
                        } else {
                            format!("192.0.{}.{}", 2 + i, k % 250 + 1)
                        };
                        let t = Instant::now();
                        out.push(sign_in_from(&http, &url, &client_id, &from, &u, PASSWORD).await);
                        tokio::time::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()))
                            .await;
                    }
                    (known, out)
                }));
            }
        }
        let started = Instant::now();
        // (succeeded, tried, latencies of successes, refusals) for the known
        // and the new address.
        let mut results: Vec<(u64, u64, Lat, std::collections::BTreeMap<u16, u64>)> = (0..2)
            .map(|_| (0, 0, Lat(vec![]), Default::default()))
            .collect();
        for l in loops {
            let (known, out) = l.await?;
            let r = &mut results[usize::from(!known)];
            for (st, us) in out {
                r.1 += 1;
                if st == 200 {
                    r.0 += 1;
                    r.2.0.push(us);
                } else {
                    *r.3.entry(st).or_default() += 1;
                }
            }
        }
        generator.await?;
        let secs = started.elapsed().as_secs_f64();
        let sent = sent.load(Ordering::Relaxed);
        println!(
            "flood    {sent} wrong-password sign-ins in {secs:.1} s = {:.1}/s against an argon2 ceiling of {ceiling:.1} hashes/s ({:.1}×; target {}×), a new X-Forwarded-For address each; {} not sent (over {} in flight)",
            sent as f64 / secs,
            sent as f64 / secs / ceiling,
            a.flood_factor,
            dropped.load(Ordering::Relaxed),
            a.flood_inflight
        );
        println!("flood    answers: {:?}", statuses.lock().unwrap());
        for (i, (ok, total, lat, other)) in results.iter_mut().enumerate() {
            let label = if i == 0 {
                "legit (known address)"
            } else {
                "legit (new address)  "
            };
            println!(
                "{label} {ok}/{total} correct sign-ins succeeded = {:.1}%; p50 {:.1} ms p99 {:.1} ms; refused {other:?}",
                100.0 * *ok as f64 / (*total).max(1) as f64,
                lat.pct(0.5),
                lat.pct(0.99)
            );
        }
    }

    if phases.contains(&"enumeration") {
        // Interleaved and one at a time: known and unknown names see the
        // same machine. Every request comes from a new address (no
        // per-address limit or lock builds up), known names cycle through
        // the users (a few failures each, far from any lock), unknown
        // names are new each time.
        let n = a.samples;
        let signin = format!("{base}/v1/pools/{pool_id}/signin");
        let forgot = format!("{base}/v1/pools/{pool_id}/password/forgot");
        let mut lat = [vec![], vec![], vec![], vec![]]; // signin known/unknown, forgot known/unknown
        let mut ip = 1u64 << 21;
        for i in 0..n {
            let known = &users[i % users.len()];
            let unknown = format!("nobody{i}-{}@example.com", &pool_id[pool_id.len() - 5..]);
            for k in 0..2 {
                let (who, slot) = if (i + k).is_multiple_of(2) {
                    (known.as_str(), 0)
                } else {
                    (unknown.as_str(), 1)
                };
                ip += 1;
                let (st, us) = sign_in_from(
                    &http,
                    &signin,
                    &client_id,
                    &spoofed(ip),
                    who,
                    "not the password 2026",
                )
                .await;
                anyhow::ensure!(st == 401, "sign-in of {who} answered {st}");
                lat[slot].push(us);
                ip += 1;
                let t = Instant::now();
                let st = status_of(
                    http.post(&forgot)
                        .header("x-forwarded-for", spoofed(ip))
                        .json(&json!({"client_id": client_id, "username": who}))
                        .send()
                        .await,
                )
                .await;
                anyhow::ensure!(st == 200, "forgot-password of {who} answered {st}");
                lat[2 + slot].push(t.elapsed().as_micros() as u32);
            }
        }
        for (op, k, u) in [
            ("sign-in (wrong password)", 0, 1),
            ("forgot-password", 2, 3),
        ] {
            let (d, crit) = ks(&lat[k], &lat[u]);
            let (mut lk, mut lu) = (Lat(lat[k].clone()), Lat(lat[u].clone()));
            let (mk, mu) = (lk.pct(0.5), lu.pct(0.5));
            println!("enumeration {op}: {n} samples each");
            println!("    known   {}", spread(&mut lk));
            println!("    unknown {}", spread(&mut lu));
            println!(
                "    median difference unknown - known = {:+.3} ms ({:+.1}%); KS D = {d:.3} (differ at alpha 0.01 above {crit:.3})",
                mu - mk,
                100.0 * (mu - mk) / mk
            );
        }
    }

    if phases.contains(&"overload") {
        let workers = if a.hash_workers == 0 {
            cores()
        } else {
            a.hash_workers
        };
        let flood = 10 * (workers + a.hash_queue);
        let rss_before = a.server_pid.and_then(|p| rss_kib(p, "VmRSS:"));
        let peak = Arc::new(AtomicU64::new(rss_before.unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = a.server_pid.map(|pid| {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(r) = rss_kib(pid, "VmRSS:") {
                        peak.fetch_max(r, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        });
        let mut p = drive(
            "overload",
            flood,
            a.seconds,
            sign_in_request(&http, &base, &pool_id, &client_id, &users),
        )
        .await;
        stop.store(true, Ordering::Relaxed);
        if let Some(s) = sampler {
            let _ = s.join();
        }
        p.report();
        let bound_mib = (workers as u64 * a.argon2_memory_kib as u64) / 1024;
        println!(
            "         flood of {flood} concurrent clients = 10 × (workers {workers} + queue {})",
            a.hash_queue
        );
        if let Some(before) = rss_before {
            let peak = peak.load(Ordering::Relaxed);
            println!(
                "RSS server before={:.1} MiB peak={:.1} MiB growth={:.1} MiB; hash-pool bound workers×m = {} MiB",
                before as f64 / 1024.0,
                peak as f64 / 1024.0,
                (peak.saturating_sub(before)) as f64 / 1024.0,
                bound_mib
            );
        }
    }
    Ok(())
}
