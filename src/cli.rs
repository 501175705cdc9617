//! The command line. `admin` and `keys` act on the store directly with the
//! same services the HTTP API uses, and print JSON.

use crate::app;
use crate::clock::SystemClock;
use crate::config;
use crate::user_pools::admin::{CreateClient, CreatePool};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "poolgate",
    version,
    about = "Self-hosted user pools, identity pools and scoped storage credentials"
)]
pub struct Cli {
    /// A TOML file layered over the built-in defaults.
    #[arg(long, global = true, env = "POOLGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do; without one, `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Exit 0 when the local server answers /health/live (for container health checks).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8080/health/live")]
        url: String,
    },
    /// Manage pools and clients.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// User pools.
    Pool {
        #[command(subcommand)]
        command: PoolCommand,
    },
    /// App clients.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum PoolCommand {
    /// Create a pool. Settings as JSON, e.g. '{"username_attributes":["email"]}'.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        settings: Option<String>,
    },
    List,
    Get {
        id: String,
    },
    /// Apply a JSON merge patch, e.g. '{"password_policy":{"min_length":16}}'.
    Update {
        id: String,
        #[arg(long)]
        patch: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct PoolArg {
    #[arg(long)]
    pub pool: String,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    Create {
        #[command(flatten)]
        pool: PoolArg,
        #[arg(long)]
        name: String,
        /// Generate a client secret.
        #[arg(long)]
        secret: bool,
        #[arg(long)]
        settings: Option<String>,
    },
    List {
        #[command(flatten)]
        pool: PoolArg,
    },
    Get {
        #[command(flatten)]
        pool: PoolArg,
        id: String,
    },
    Update {
        #[command(flatten)]
        pool: PoolArg,
        id: String,
        #[arg(long)]
        patch: String,
    },
    Delete {
        #[command(flatten)]
        pool: PoolArg,
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Publish a new signing key for a pool; it signs after a short delay.
    Rotate {
        #[command(flatten)]
        pool: PoolArg,
    },
}

fn parse_json(what: &str, s: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| anyhow::anyhow!("--{what} is not valid JSON: {e}"))
}

fn print(v: impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn domain(e: crate::error::Error) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.kind.code(), e.message)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Healthcheck { url } = &command {
        let ok = reqwest::Client::new()
            .get(url)
            .timeout(std::time::Duration::from_secs(3))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        std::process::exit(if ok { 0 } else { 1 });
    }
    let loaded = config::load(cli.config.as_deref())?;
    crate::telemetry::init_logging(&loaded.settings.log.format, &loaded.settings.log.level);
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let settings = loaded.settings;
    match command {
        Command::Healthcheck { .. } => unreachable!("handled above"),
        Command::Serve => {
            let app = app::Application::build(settings).await?;
            app.run().await
        }
        Command::Migrate => {
            let master = app::master_key(&settings)?;
            app::open_store(&settings, &master, true).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin { command } => {
            let state = app::build_state(settings, Arc::new(SystemClock)).await?;
            let pools = &state.pools;
            match command {
                AdminCommand::Pool { command } => match command {
                    PoolCommand::Create { name, settings } => {
                        let mut body = settings
                            .map(|s| parse_json("settings", &s))
                            .transpose()?
                            .unwrap_or_else(|| serde_json::json!({}));
                        body["name"] = name.into();
                        let req: CreatePool = serde_json::from_value(body)
                            .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
                        let p = pools.create_pool(req).await.map_err(domain)?;
                        print(pools.pool_view(&p))
                    }
                    PoolCommand::List => {
                        let mut all = vec![];
                        let mut after: Option<String> = None;
                        loop {
                            let page = pools
                                .list_pools(after.as_deref(), 60)
                                .await
                                .map_err(domain)?;
                            let done = page.len() < 60;
                            after = page.last().map(|p| p.id.clone());
                            all.extend(page.iter().map(|p| pools.pool_view(p)));
                            if done {
                                break;
                            }
                        }
                        print(all)
                    }
                    PoolCommand::Get { id } => {
                        print(pools.pool_view(&*pools.pool(&id).await.map_err(domain)?))
                    }
                    PoolCommand::Update { id, patch } => {
                        let p = pools
                            .update_pool(&id, &parse_json("patch", &patch)?)
                            .await
                            .map_err(domain)?;
                        print(pools.pool_view(&p))
                    }
                    PoolCommand::Delete { id } => {
                        pools.delete_pool(&id).await.map_err(domain)?;
                        print(serde_json::json!({ "deleted": id }))
                    }
                },
                AdminCommand::Client { command } => match command {
                    ClientCommand::Create {
                        pool,
                        name,
                        secret,
                        settings,
                    } => {
                        let mut body = settings
                            .map(|s| parse_json("settings", &s))
                            .transpose()?
                            .unwrap_or_else(|| serde_json::json!({}));
                        body["name"] = name.into();
                        body["generate_secret"] = secret.into();
                        let req: CreateClient = serde_json::from_value(body)
                            .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
                        let c = pools.create_client(&pool.pool, req).await.map_err(domain)?;
                        print(pools.client_view(&c).map_err(domain)?)
                    }
                    ClientCommand::List { pool } => {
                        pools.pool(&pool.pool).await.map_err(domain)?;
                        let cs = pools.store.list_clients(&pool.pool).await.map_err(domain)?;
                        print(
                            cs.iter()
                                .map(|c| pools.client_view(c))
                                .collect::<Result<Vec<_>, _>>()
                                .map_err(domain)?,
                        )
                    }
                    ClientCommand::Get { pool, id } => {
                        let c = pools.get_client(&pool.pool, &id).await.map_err(domain)?;
                        print(pools.client_view(&c).map_err(domain)?)
                    }
                    ClientCommand::Update { pool, id, patch } => {
                        let c = pools
                            .update_client(&pool.pool, &id, &parse_json("patch", &patch)?)
                            .await
                            .map_err(domain)?;
                        print(pools.client_view(&c).map_err(domain)?)
                    }
                    ClientCommand::Delete { pool, id } => {
                        pools.delete_client(&pool.pool, &id).await.map_err(domain)?;
                        print(serde_json::json!({ "deleted": id }))
                    }
                },
            }
        }
        Command::Keys {
            command: KeysCommand::Rotate { pool },
        } => {
            let state = app::build_state(settings, Arc::new(SystemClock)).await?;
            let p = state.pools.pool(&pool.pool).await.map_err(domain)?;
            let kid = state
                .pools
                .keys
                .rotate(&p.id, p.settings.signing_algorithm)
                .await
                .map_err(domain)?;
            print(
                serde_json::json!({ "pool_id": p.id, "kid": kid, "signs_after_secs": crate::crypto::keys::PUBLISH_DELAY }),
            )
        }
    }
}
