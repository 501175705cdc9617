//! The command line. `admin` and `keys` act on the store directly with the
//! same services the HTTP API uses, and print JSON.

use crate::app;
use crate::clock::SystemClock;
use crate::config;
use crate::user_pools::admin::{CreateClient, CreatePool};
use crate::user_pools::groups::CreateGroup;
use crate::user_pools::users::{SetPassword, UserView};
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
    /// Users of a pool (by username or sign-in alias).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Groups of a pool.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Identity pools (federation to storage credentials).
    IdentityPool {
        #[command(subcommand)]
        command: IdentityPoolCommand,
    },
    /// Roles: IAM policy documents that credentials carry.
    Role {
        #[command(subcommand)]
        command: RoleCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum IdentityPoolCommand {
    /// Create an identity pool. Settings as JSON, e.g.
    /// '{"providers":[{"type":"user_pool","pool_id":"...","client_ids":["..."]}],"authenticated_role":"owner"}'.
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
    /// Replace the name and settings.
    Update {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        settings: Option<String>,
    },
    Delete {
        id: String,
    },
    /// Stop an identity's credentials at once.
    DisableIdentity {
        id: String,
        identity_id: String,
    },
    EnableIdentity {
        id: String,
        identity_id: String,
    },
    /// List identities that hold more than one subject of one provider:
    /// the mark of another user's login linked to an identity (possible
    /// before the linking rule, checklist I2). Without ID, every pool.
    CheckLinks {
        id: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Create a role from a policy document file (IAM JSON).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        policy_file: std::path::PathBuf,
        #[arg(long)]
        max_session_secs: Option<i64>,
    },
    List,
    Get {
        name: String,
    },
    /// Replace a role's policy.
    Update {
        name: String,
        #[arg(long)]
        policy_file: std::path::PathBuf,
        #[arg(long)]
        max_session_secs: Option<i64>,
    },
    Delete {
        name: String,
    },
}

fn identity_pool_request(
    name: String,
    settings: Option<String>,
) -> anyhow::Result<crate::identity::CreateIdentityPool> {
    let mut body = settings
        .map(|s| parse_json("settings", &s))
        .transpose()?
        .unwrap_or_else(|| serde_json::json!({}));
    body["name"] = name.into();
    serde_json::from_value(body).map_err(|e| anyhow::anyhow!("invalid settings: {e}"))
}

fn role_request(
    name: Option<String>,
    policy_file: &std::path::Path,
    max_session_secs: Option<i64>,
) -> anyhow::Result<crate::identity::PutRole> {
    let text = std::fs::read_to_string(policy_file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", policy_file.display()))?;
    Ok(crate::identity::PutRole {
        name,
        policy: parse_json("policy", &text)?,
        max_session_secs,
    })
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    Get {
        #[command(flatten)]
        pool: PoolArg,
        username: String,
    },
    /// One page of users, by sub.
    List {
        #[command(flatten)]
        pool: PoolArg,
        /// Cognito's filter syntax, joined by `and`:
        /// 'email ^= "ali" and status = "CONFIRMED"'.
        #[arg(long)]
        filter: Option<String>,
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 60)]
        limit: i64,
    },
    /// Refuse sign-in and end every session at once.
    Disable {
        #[command(flatten)]
        pool: PoolArg,
        username: String,
    },
    Enable {
        #[command(flatten)]
        pool: PoolArg,
        username: String,
    },
    Delete {
        #[command(flatten)]
        pool: PoolArg,
        username: String,
    },
    /// Set a password (read from POOLGATE_NEW_PASSWORD, never from the command line).
    SetPassword {
        #[command(flatten)]
        pool: PoolArg,
        username: String,
        /// A temporary password: the user must choose a new one at the next
        /// sign-in (FORCE_CHANGE_PASSWORD).
        #[arg(long)]
        temporary: bool,
    },
    Confirm {
        #[command(flatten)]
        pool: PoolArg,
        username: String,
    },
    /// End every session of the user.
    Signout {
        #[command(flatten)]
        pool: PoolArg,
        username: String,
    },
    /// The user's audit events, newest first.
    Events {
        #[command(flatten)]
        pool: PoolArg,
        username: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    Create {
        #[command(flatten)]
        pool: PoolArg,
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        precedence: Option<i64>,
        #[arg(long)]
        role_arn: Option<String>,
    },
    List {
        #[command(flatten)]
        pool: PoolArg,
    },
    Get {
        #[command(flatten)]
        pool: PoolArg,
        name: String,
    },
    Delete {
        #[command(flatten)]
        pool: PoolArg,
        name: String,
    },
    /// Add a user to a group.
    Add {
        #[command(flatten)]
        pool: PoolArg,
        name: String,
        username: String,
    },
    /// Remove a user from a group.
    Remove {
        #[command(flatten)]
        pool: PoolArg,
        name: String,
        username: String,
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

/// The command line's admin context: whoever can read the config and reach
/// the database is an administrator; the trail names the OS user.
fn cli_admin() -> crate::audit::AdminCtx {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    crate::audit::AdminCtx::cli(&user)
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
            let admin = cli_admin();
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
                        let p = pools.create_pool(&admin, req).await.map_err(domain)?;
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
                            .update_pool(&admin, &id, &parse_json("patch", &patch)?)
                            .await
                            .map_err(domain)?;
                        print(pools.pool_view(&p))
                    }
                    PoolCommand::Delete { id } => {
                        pools.delete_pool(&admin, &id).await.map_err(domain)?;
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
                        let c = pools
                            .create_client(&admin, &pool.pool, req)
                            .await
                            .map_err(domain)?;
                        print(pools.client_view(&c).map_err(domain)?)
                    }
                    ClientCommand::List { pool } => {
                        pools.pool(&pool.pool).await.map_err(domain)?;
                        let cs = pools
                            .clients
                            .list_clients(&pool.pool)
                            .await
                            .map_err(domain)?;
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
                            .update_client(&admin, &pool.pool, &id, &parse_json("patch", &patch)?)
                            .await
                            .map_err(domain)?;
                        print(pools.client_view(&c).map_err(domain)?)
                    }
                    ClientCommand::Delete { pool, id } => {
                        pools
                            .delete_client(&admin, &pool.pool, &id)
                            .await
                            .map_err(domain)?;
                        print(serde_json::json!({ "deleted": id }))
                    }
                },
                AdminCommand::User { command } => match command {
                    UserCommand::Get { pool, username } => print(UserView::from(
                        &pools
                            .admin_get_user(&pool.pool, &username)
                            .await
                            .map_err(domain)?,
                    )),
                    UserCommand::List {
                        pool,
                        filter,
                        after,
                        limit,
                    } => {
                        let users = pools
                            .admin_find_users(
                                &pool.pool,
                                filter.as_deref(),
                                after.as_deref(),
                                limit,
                            )
                            .await
                            .map_err(domain)?;
                        print(users.iter().map(UserView::from).collect::<Vec<_>>())
                    }
                    UserCommand::Disable { pool, username } => print(UserView::from(
                        &pools
                            .admin_set_enabled(&admin, &pool.pool, &username, false)
                            .await
                            .map_err(domain)?,
                    )),
                    UserCommand::Enable { pool, username } => print(UserView::from(
                        &pools
                            .admin_set_enabled(&admin, &pool.pool, &username, true)
                            .await
                            .map_err(domain)?,
                    )),
                    UserCommand::Delete { pool, username } => {
                        pools
                            .admin_delete_user(&admin, &pool.pool, &username)
                            .await
                            .map_err(domain)?;
                        print(serde_json::json!({ "deleted": username }))
                    }
                    UserCommand::SetPassword {
                        pool,
                        username,
                        temporary,
                    } => {
                        let password = std::env::var("POOLGATE_NEW_PASSWORD").map_err(|_| {
                            anyhow::anyhow!("set POOLGATE_NEW_PASSWORD to the new password")
                        })?;
                        let u = pools
                            .admin_set_password(
                                &admin,
                                &pool.pool,
                                &username,
                                SetPassword {
                                    password,
                                    permanent: !temporary,
                                },
                            )
                            .await
                            .map_err(domain)?;
                        print(UserView::from(&u))
                    }
                    UserCommand::Confirm { pool, username } => print(UserView::from(
                        &pools
                            .admin_confirm(&admin, &pool.pool, &username)
                            .await
                            .map_err(domain)?,
                    )),
                    UserCommand::Signout { pool, username } => {
                        let n = pools
                            .admin_sign_out(&admin, &pool.pool, &username)
                            .await
                            .map_err(domain)?;
                        print(serde_json::json!({ "revoked_sessions": n }))
                    }
                    UserCommand::Events {
                        pool,
                        username,
                        limit,
                    } => {
                        let u = pools
                            .admin_get_user(&pool.pool, &username)
                            .await
                            .map_err(domain)?;
                        print(
                            pools
                                .audit_events(&pool.pool, Some(&u.sub), None, limit.clamp(1, 1000))
                                .await
                                .map_err(domain)?,
                        )
                    }
                },
                AdminCommand::IdentityPool { command } => {
                    let ids = &state.identity;
                    let view =
                        |p: &crate::model::IdentityPool| crate::identity::IdentityPoolView::from(p);
                    match command {
                        IdentityPoolCommand::Create { name, settings } => {
                            let p = ids
                                .create_pool(&admin, identity_pool_request(name, settings)?)
                                .await
                                .map_err(domain)?;
                            print(view(&p))
                        }
                        IdentityPoolCommand::List => {
                            let all = ids.list_pools(None, 1000).await.map_err(domain)?;
                            print(all.iter().map(view).collect::<Vec<_>>())
                        }
                        IdentityPoolCommand::Get { id } => {
                            print(view(&ids.get_pool(&id).await.map_err(domain)?))
                        }
                        IdentityPoolCommand::Update { id, name, settings } => {
                            let p = ids
                                .update_pool(&admin, &id, identity_pool_request(name, settings)?)
                                .await
                                .map_err(domain)?;
                            print(view(&p))
                        }
                        IdentityPoolCommand::Delete { id } => {
                            ids.delete_pool(&admin, &id).await.map_err(domain)?;
                            print(serde_json::json!({ "deleted": id }))
                        }
                        IdentityPoolCommand::DisableIdentity { id, identity_id } => {
                            ids.set_identity_disabled(&admin, &id, &identity_id, true)
                                .await
                                .map_err(domain)?;
                            print(serde_json::json!({ "disabled": identity_id }))
                        }
                        IdentityPoolCommand::EnableIdentity { id, identity_id } => {
                            ids.set_identity_disabled(&admin, &id, &identity_id, false)
                                .await
                                .map_err(domain)?;
                            print(serde_json::json!({ "enabled": identity_id }))
                        }
                        IdentityPoolCommand::CheckLinks { id } => {
                            let found = ids
                                .repeated_provider_links(id.as_deref())
                                .await
                                .map_err(domain)?;
                            print(serde_json::json!({
                                "count": found.len(),
                                "identities": found,
                            }))
                        }
                    }
                }
                AdminCommand::Role { command } => {
                    let ids = &state.identity;
                    let view = |r: &crate::model::Role| crate::identity::RoleView::from(r);
                    match command {
                        RoleCommand::Create {
                            name,
                            policy_file,
                            max_session_secs,
                        } => {
                            let r = ids
                                .create_role(
                                    &admin,
                                    role_request(Some(name), &policy_file, max_session_secs)?,
                                )
                                .await
                                .map_err(domain)?;
                            print(view(&r))
                        }
                        RoleCommand::List => {
                            let all = ids.list_roles().await.map_err(domain)?;
                            print(all.iter().map(view).collect::<Vec<_>>())
                        }
                        RoleCommand::Get { name } => {
                            print(view(&ids.get_role(&name).await.map_err(domain)?))
                        }
                        RoleCommand::Update {
                            name,
                            policy_file,
                            max_session_secs,
                        } => {
                            let r = ids
                                .update_role(
                                    &admin,
                                    &name,
                                    role_request(None, &policy_file, max_session_secs)?,
                                )
                                .await
                                .map_err(domain)?;
                            print(view(&r))
                        }
                        RoleCommand::Delete { name } => {
                            ids.delete_role(&admin, &name).await.map_err(domain)?;
                            print(serde_json::json!({ "deleted": name }))
                        }
                    }
                }
                AdminCommand::Group { command } => match command {
                    GroupCommand::Create {
                        pool,
                        name,
                        description,
                        precedence,
                        role_arn,
                    } => print(
                        pools
                            .create_group(
                                &admin,
                                &pool.pool,
                                CreateGroup {
                                    name,
                                    description,
                                    precedence,
                                    role_arn,
                                },
                            )
                            .await
                            .map_err(domain)?,
                    ),
                    GroupCommand::List { pool } => print(
                        pools
                            .list_groups(&pool.pool, None, 60)
                            .await
                            .map_err(domain)?,
                    ),
                    GroupCommand::Get { pool, name } => {
                        print(pools.get_group(&pool.pool, &name).await.map_err(domain)?)
                    }
                    GroupCommand::Delete { pool, name } => {
                        pools
                            .delete_group(&admin, &pool.pool, &name)
                            .await
                            .map_err(domain)?;
                        print(serde_json::json!({ "deleted": name }))
                    }
                    GroupCommand::Add {
                        pool,
                        name,
                        username,
                    } => {
                        pools
                            .add_to_group(&admin, &pool.pool, &name, &username)
                            .await
                            .map_err(domain)?;
                        print(serde_json::json!({ "group": name, "added": username }))
                    }
                    GroupCommand::Remove {
                        pool,
                        name,
                        username,
                    } => {
                        pools
                            .remove_from_group(&admin, &pool.pool, &name, &username)
                            .await
                            .map_err(domain)?;
                        print(serde_json::json!({ "group": name, "removed": username }))
                    }
                },
            }
        }
        Command::Keys {
            command: KeysCommand::Rotate { pool },
        } => {
            let state = app::build_state(settings, Arc::new(SystemClock)).await?;
            let kid = state
                .pools
                .rotate_keys(&cli_admin(), &pool.pool)
                .await
                .map_err(domain)?;
            print(
                serde_json::json!({ "pool_id": pool.pool, "kid": kid, "signs_after_secs": crate::crypto::keys::PUBLISH_DELAY }),
            )
        }
    }
}
