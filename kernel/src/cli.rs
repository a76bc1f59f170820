//! The `jingxi` command line: serve, migrate, and administer plugins, tenants, users and tokens.

use std::net::TcpListener;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::runtime::Kernel;

#[derive(Debug, Parser)]
#[command(
    name = "jingxi",
    version,
    about = "Jingxi: a headless CRM/ERP kernel with WebAssembly business modules"
)]
pub struct Cli {
    /// Configuration file (default: ./jingxi.toml when it exists).
    #[arg(long, global = true, env = "JINGXI_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API.
    Serve,
    /// Apply the kernel's database migrations.
    Migrate,
    /// Create, install and list plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Create tenants and switch their modules on and off.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Create users.
    #[command(subcommand)]
    User(UserCommand),
    /// Issue and revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create (or reuse) the demo tenant with sample data, print a token, then serve.
    Demo {
        /// Folder with the plugins' .wasm files.
        #[arg(long, default_value = "target/plugins")]
        plugins_dir: PathBuf,
        /// Set up the demo tenant and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Compile one plugin from standard input to standard output, under a memory limit (the
    /// server runs this in a child process; not meant for people).
    #[command(hide = true)]
    CompilePlugin {
        #[arg(long)]
        memory_bytes: usize,
        #[arg(long)]
        slots: u32,
        #[arg(long)]
        fuel: bool,
        #[arg(long)]
        memory_limit_mib: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install or upgrade a plugin from a .wasm file.
    Install { file: PathBuf },
    /// List installed plugins.
    List,
    /// Create a plugin crate that builds and passes its own tests at once.
    New {
        /// The plugin id, in snake_case (e.g. key_accounts).
        id: String,
        /// Where to create it (default: plugins/ID inside a Jingxi workspace, else ./ID).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The jingxi-sdk folder a plugin outside a Jingxi workspace depends on (default: the SDK
        /// this binary was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant, optionally enabling plugins.
    Create {
        slug: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
        /// Plugins to enable, comma-separated (e.g. org,crm).
        #[arg(long, value_delimiter = ',')]
        plugins: Vec<String>,
    },
    /// Enable a plugin for a tenant.
    Enable { slug: String, plugin: String },
    /// Disable a plugin for a tenant (its records stay).
    Disable { slug: String, plugin: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user in a tenant.
    Create {
        #[arg(long)]
        tenant: String,
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Password for `/auth/login` (read from JINGXI_PASSWORD when not given).
        #[arg(long, env = "JINGXI_PASSWORD")]
        password: Option<String>,
        /// Role ids, repeatable (e.g. --role admin).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token for a user and print it (only the token, on one line).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until the token expires; 0 for never. Default: auth.api_token_ttl_days.
        #[arg(long)]
        ttl_days: Option<u32>,
    },
    /// Revoke every token of a user (they log in again or get a new token).
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
    },
}

fn print(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

/// Runs one command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // Creating or compiling a plugin needs neither configuration nor database.
    let command = match cli.command {
        Command::CompilePlugin {
            memory_bytes,
            slots,
            fuel,
            memory_limit_mib,
        } => {
            let spec = crate::plugin_host::worker::EngineSpec {
                memory_bytes,
                slots,
                fuel,
            };
            return crate::plugin_host::worker::serve(spec, memory_limit_mib)
                .map_err(|message| anyhow::anyhow!(message));
        }
        Command::Plugin(PluginCommand::New { id, dir, sdk }) => {
            let cwd = std::env::current_dir()?;
            let scaffold = crate::scaffold::generate(&id, dir.as_deref(), sdk.as_deref(), &cwd)?;
            for line in scaffold.report() {
                print(&line);
            }
            return Ok(());
        }
        command => command,
    };
    let (mut config, file) = Config::load(cli.config.as_deref())?;
    // This executable compiles plugins in child processes, where their memory can be capped.
    if config.plugins.compile_worker.is_none() {
        config.plugins.compile_worker = std::env::current_exe().ok();
    }
    match &file {
        Some(path) => tracing::info!(file = %path.display(), "configuration read"),
        None => tracing::info!("no configuration file; using defaults and environment"),
    }
    match command {
        Command::Migrate => {
            let store = crate::store::Store::connect(&config.database).await?;
            store.migrate().await?;
            print("migrations applied");
        }
        Command::Serve => {
            let kernel = Kernel::open(config).await?;
            serve(kernel).await?;
        }
        Command::Plugin(PluginCommand::Install { file }) => {
            let kernel = Kernel::open(config).await?;
            let wasm = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let plugin = kernel.install_plugin(wasm).await?;
            print(&format!(
                "installed {} {} ({} entities)",
                plugin.def.id,
                plugin.def.version,
                plugin.def.entities.len()
            ));
        }
        Command::Plugin(PluginCommand::New { .. }) | Command::CompilePlugin { .. } => {
            unreachable!("handled before the configuration")
        }
        Command::Plugin(PluginCommand::List) => {
            let kernel = Kernel::open(config).await?;
            for plugin in kernel.installed() {
                let requires = if plugin.def.requires.is_empty() {
                    "-".to_string()
                } else {
                    plugin.def.requires.join(",")
                };
                print(&format!(
                    "{}\t{}\t{} / {}\trequires: {}",
                    plugin.def.id,
                    plugin.def.version,
                    plugin.def.title,
                    plugin.def.title_en,
                    requires
                ));
            }
        }
        Command::Tenant(TenantCommand::Create {
            slug,
            name,
            plugins,
        }) => {
            let kernel = Kernel::open(config).await?;
            let tenant = kernel
                .create_tenant(&slug, name.as_deref().unwrap_or(&slug), &plugins)
                .await?;
            print(&format!(
                "created tenant {} (id {})",
                tenant.slug, tenant.id
            ));
        }
        Command::Tenant(TenantCommand::Enable { slug, plugin }) => {
            let kernel = Kernel::open(config).await?;
            kernel.enable_plugin(&slug, &plugin).await?;
            print(&format!("enabled {plugin} for {slug}"));
        }
        Command::Tenant(TenantCommand::Disable { slug, plugin }) => {
            let kernel = Kernel::open(config).await?;
            kernel.disable_plugin(&slug, &plugin).await?;
            print(&format!("disabled {plugin} for {slug}"));
        }
        Command::User(UserCommand::Create {
            tenant,
            email,
            name,
            password,
            roles,
        }) => {
            let kernel = Kernel::open(config).await?;
            let name =
                name.unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_string());
            let user = kernel
                .create_user(&tenant, &email, &name, password.as_deref(), &roles, None)
                .await?;
            print(&format!("created user {} ({})", user.email, user.id));
        }
        Command::Token(TokenCommand::Create {
            tenant,
            user,
            name,
            ttl_days,
        }) => {
            let kernel = Kernel::open(config).await?;
            print(&kernel.create_token(&tenant, &user, &name, ttl_days).await?);
        }
        Command::Token(TokenCommand::Revoke { tenant, user }) => {
            let kernel = Kernel::open(config).await?;
            let row = kernel.tenant(&tenant).await?;
            let Some(found) = kernel.store.user_by_email(row.id, &user).await? else {
                anyhow::bail!("no user {user} in the tenant {tenant}");
            };
            let revoked = kernel.revoke_all(row.id, found.id).await?;
            print(&format!("revoked {revoked} token(s) of {user}"));
        }
        Command::Demo {
            plugins_dir,
            no_serve,
        } => {
            let kernel = Kernel::open(config).await?;
            let token = crate::demo::prepare(&kernel, &plugins_dir).await?;
            let bind = kernel.config.http.bind.clone();
            print(&format!("GraphQL: http://{bind}/graphql"));
            print(&format!("Token (admin of tenant demo): {token}"));
            print(&format!(
                "Try: curl -s http://{bind}/graphql -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' -d '{{\"query\":\"{{ crmCustomers(first: 5) {{ totalCount nodes {{ name stage region {{ name }} }} }} }}\"}}'"
            ));
            if !no_serve {
                serve(kernel).await?;
            }
        }
    }
    Ok(())
}

async fn serve(kernel: std::sync::Arc<Kernel>) -> anyhow::Result<()> {
    let bind = kernel.config.http.bind.clone();
    let listener =
        TcpListener::bind(&bind).map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
    tracing::info!(%bind, "serving GraphQL at http://{bind}/graphql");
    crate::serve(kernel, listener).await
}
