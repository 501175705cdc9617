//! poolgate-s3bench: the identity-pool and storage numbers of
//! docs/benchmarks.md, measured in one process on this machine so that the
//! results are ratios a noisy machine cancels out:
//!
//! 1. credentials issued per CPU-second (GetCredentialsForIdentity for a
//!    user-pool login: ID-token verification, identity and role lookups,
//!    sealing), i.e. per core;
//! 2. gateway overhead for small objects: GETs through the gateway (SigV4
//!    check, session-token unseal, cached revocation and role lookups,
//!    policy) against the same s3s-fs backend served without any of it, as
//!    a ratio of request rates;
//! 3. 64 MiB objects: PUT and GET throughput through the gateway as a ratio
//!    of a raw `std::fs::copy` of the same bytes.
//!
//!   cargo run --release --bin poolgate-s3bench -- --seconds 10 --concurrency 16

use clap::Parser;
use poolgate::config::{MailerKind, Mode, Settings};
use poolgate::crypto::{MasterKey, SecretString};
use poolgate::gateway::sign::Signer;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Identity-pool credentials and S3 gateway benchmarks (in-process)")]
struct Args {
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Size of the large object, MiB.
    #[arg(long, default_value_t = 64)]
    big_mib: usize,
    /// Size of the small object, bytes.
    #[arg(long, default_value_t = 1024)]
    small_bytes: usize,
}

/// CPU seconds this process used so far (user + system), from /proc.
fn cpu_seconds() -> f64 {
    poolgate::telemetry::process_cpu_seconds("self")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Runs `op` on `concurrency` tasks for `secs`; returns completed ops/s.
async fn drive<F, Fut>(concurrency: usize, secs: u64, op: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = vec![];
    for _ in 0..concurrency {
        let (op, done, failed, stop) = (op.clone(), done.clone(), failed.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if op().await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let f = failed.load(Ordering::Relaxed);
    assert!(f == 0, "{f} operations failed");
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    poolgate::telemetry::init_logging("pretty", "error");
    let dir = std::env::temp_dir().join(format!("poolgate-s3bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut settings = Settings {
        mode: Mode::Development,
        ..Settings::default()
    };
    settings.server.data_dir = dir.clone();
    settings.database.url = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
    settings.mailer.kind = MailerKind::Dev;
    settings.rate_limits.enabled = false;
    settings.storage.root = dir.join("s3");
    settings.storage.buckets = vec!["bench".into()];
    let master = MasterKey::generate();
    let store = poolgate::app::open_store(&settings, &master, true).await?;
    let state = poolgate::app::build_state_with(
        settings.clone(),
        Arc::new(poolgate::clock::SystemClock),
        store,
        &master,
        vec![SecretString::new("bench-admin-key-0123456789")],
    )
    .await?;
    let e = |e: poolgate::error::Error| anyhow::anyhow!("{}: {}", e.kind.code(), e.message);

    // A user pool, a user with an ID token, a role and an identity pool.
    let pools = &state.pools;
    let admin = poolgate::audit::AdminCtx::cli("s3bench");
    let pool = pools
        .create_pool(
            &admin,
            serde_json::from_value(json!({"name": "bench", "username_attributes": ["email"]}))?,
        )
        .await
        .map_err(e)?;
    let client = pools
        .create_client(
            &admin,
            &pool.id,
            serde_json::from_value(json!({"name": "app"}))?,
        )
        .await
        .map_err(e)?;
    let password = "benchmark passphrase for s3";
    pools
        .sign_up(
            &pool.id,
            serde_json::from_value(
                json!({"client_id": client.id, "username": "b@example.com", "password": password}),
            )?,
        )
        .await
        .map_err(e)?;
    pools
        .admin_confirm(&admin, &pool.id, "b@example.com")
        .await
        .map_err(e)?;
    let signed = pools
        .sign_in(
            &pool.id,
            serde_json::from_value(
                json!({"client_id": client.id, "username": "b@example.com", "password": password}),
            )?,
        )
        .await
        .map_err(e)?;
    let id_token = signed.tokens.expect("tokens").id_token;
    let ids = &state.identity;
    ids.create_role(&admin, serde_json::from_value(json!({"name": "bench", "policy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::bench/${cognito-identity.amazonaws.com:sub}/*"}]}}))?)
        .await
        .map_err(e)?;
    let ip = ids
        .create_pool(
            &admin,
            serde_json::from_value(json!({"name": "bench", "authenticated_role": "bench",
            "providers": [{"type": "user_pool", "pool_id": pool.id, "client_ids": [client.id]}]}))?,
        )
        .await
        .map_err(e)?;
    let logins = json!({format!("cognito-idp.{}.amazonaws.com/{}", settings.server.region, pool.id): id_token});
    let identity = ids
        .get_id(&ip.id, serde_json::from_value(json!({"logins": logins}))?)
        .await
        .map_err(e)?;
    let request = json!({"identity_id": identity, "logins": logins});

    // 1. Credentials per CPU-second.
    let cpu0 = cpu_seconds();
    let rate = {
        let (state, ip, request) = (state.clone(), ip.id.clone(), request.clone());
        drive(args.concurrency, args.seconds, move || {
            let (state, ip, request) = (state.clone(), ip.clone(), request.clone());
            async move {
                let req = serde_json::from_value(request).expect("request");
                state.identity.credentials(&ip, req).await.is_ok()
            }
        })
        .await
    };
    let cpu = cpu_seconds() - cpu0;
    let per_core = rate * args.seconds as f64 / cpu.max(0.01);
    println!(
        "credentials: {rate:.0}/s on {} cores; {per_core:.0} per CPU-second (per core)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // 2. Gateway vs the bare backend, small objects.
    let creds = ids
        .credentials(&ip.id, serde_json::from_value(request)?)
        .await
        .map_err(e)?
        .credentials;
    let gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let (g_addr, b_addr) = (gateway.local_addr()?, bare.local_addr()?);
    let service = poolgate::gateway::build(
        &poolgate::gateway::settings(&settings.storage, &settings.server.region),
        state.identity.clone(),
        state.pools.clock.clone(),
    )?;
    tokio::spawn(poolgate::gateway::serve(
        gateway,
        service,
        std::future::pending(),
    ));
    let plain = s3s::service::S3ServiceBuilder::new(
        s3s_fs::FileSystem::new(&settings.storage.root)
            .map_err(|e| anyhow::anyhow!("s3s-fs: {e:?}"))?,
    )
    .build();
    tokio::spawn(poolgate::gateway::serve(
        bare,
        plain,
        std::future::pending(),
    ));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let creds = Arc::new(creds);
    let region: Arc<str> = settings.server.region.as_str().into();
    let send = {
        let (http, creds, region) = (http.clone(), creds.clone(), region.clone());
        move |method: &'static str,
              path: String,
              body: Vec<u8>,
              signed: bool,
              addr: std::net::SocketAddr| {
            let (http, creds, region) = (http.clone(), creds.clone(), region.clone());
            async move {
                let mut req = http
                    .request(
                        method.parse().expect("method"),
                        format!("http://{addr}{path}"),
                    )
                    .body(body);
                if signed {
                    let signer = Signer {
                        access_key_id: &creds.access_key_id,
                        secret_access_key: &creds.secret_access_key,
                        session_token: Some(&creds.session_token),
                        region: &region,
                    };
                    for (k, v) in
                        signer.headers(method, &addr.to_string(), &path, "UNSIGNED-PAYLOAD", now())
                    {
                        req = req.header(k, v);
                    }
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.map(|b| b.len()).ok(),
                    _ => None,
                }
            }
        }
    };
    let small_key = format!("/bench/{identity}/small.bin");
    let put = send(
        "PUT",
        small_key.clone(),
        vec![7u8; args.small_bytes],
        true,
        g_addr,
    )
    .await;
    anyhow::ensure!(put.is_some(), "the small PUT through the gateway failed");
    let through = {
        let (send, key) = (send.clone(), small_key.clone());
        drive(args.concurrency, args.seconds, move || {
            let (send, key) = (send.clone(), key.clone());
            async move { send("GET", key, vec![], true, g_addr).await.is_some() }
        })
        .await
    };
    let direct = {
        let (send, key) = (send.clone(), small_key.clone());
        drive(args.concurrency, args.seconds, move || {
            let (send, key) = (send.clone(), key.clone());
            async move { send("GET", key, vec![], false, b_addr).await.is_some() }
        })
        .await
    };
    println!(
        "small GET ({} B): gateway {through:.0}/s, bare s3s-fs {direct:.0}/s, ratio {:.3}",
        args.small_bytes,
        through / direct
    );

    // 3. Large objects against a raw file copy.
    let big = args.big_mib << 20;
    let src = dir.join("big.src");
    std::fs::write(&src, (0..big).map(|i| (i % 251) as u8).collect::<Vec<u8>>())?;
    let t = Instant::now();
    std::fs::copy(&src, dir.join("big.copy"))?;
    let copy_mbs = args.big_mib as f64 / t.elapsed().as_secs_f64();
    let body = std::fs::read(&src)?;
    let big_key = format!("/bench/{identity}/big.bin");
    let t = Instant::now();
    anyhow::ensure!(
        send("PUT", big_key.clone(), body, true, g_addr)
            .await
            .is_some(),
        "big PUT failed"
    );
    let put_mbs = args.big_mib as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let got = send("GET", big_key, vec![], true, g_addr).await;
    let get_mbs = args.big_mib as f64 / t.elapsed().as_secs_f64();
    anyhow::ensure!(got == Some(big), "big GET returned {got:?} bytes");
    println!(
        "{} MiB: raw copy {copy_mbs:.0} MB/s; gateway PUT {put_mbs:.0} MB/s (ratio {:.3}), GET {get_mbs:.0} MB/s (ratio {:.3})",
        args.big_mib,
        put_mbs / copy_mbs,
        get_mbs / copy_mbs
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
