//! `suslik`: the broker binary.
//!
//! Settings come from built-in defaults, then an optional TOML file (`--config`), then
//! command-line flags: a flag overrides the file, the file overrides the default.

use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use suslik_broker::api::auth::AuthConfig;
use suslik_broker::api::cluster_client::ClusterClient;
use suslik_broker::api::Limits;
use suslik_broker::leader::{GcConfig, RecoveryConfig};
use suslik_broker::notify::{AlertConfig, AlertKind, AlertsConfig, WebhookConfig, WEBHOOK_EVENTS};
use suslik_broker::supervisor::serve_supervised;
use suslik_broker::NodeConfig;
use tracing_subscriber::EnvFilter;

/// Exit code for a bad configuration (the same code clap uses for a bad flag).
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(name = "suslik", version, about = "Suslik task broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker node (a one-node cluster on first start, unless --peers or --join).
    Serve(Box<ServeArgs>),
    /// Inspect or change cluster membership through any node.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Take a consistent backup of a running node's state, without stopping it.
    Backup {
        /// The node to back up, host:port.
        #[arg(long, default_value = "127.0.0.1:7700")]
        server: String,
        /// The backup file to write (replaced only once the backup is complete).
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        token: TokenArg,
    },
    /// Turn a backup into a new data directory: a one-node cluster holding the backed-up
    /// state (more nodes join it with `suslik cluster add-node`).
    Restore {
        /// The backup file (`suslik backup --to`).
        #[arg(long)]
        from: PathBuf,
        /// The new data directory (missing or empty).
        #[arg(long)]
        data_dir: PathBuf,
        /// The restored node's id.
        #[arg(long, default_value_t = 1)]
        node_id: u64,
        /// The address the restored node will serve and be reached at (its --listen or
        /// --advertise).
        #[arg(long, default_value = "127.0.0.1:7700")]
        advertise: String,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Show a node's view of the cluster: leader, term, members, replication.
    Status {
        /// Any node of the cluster, host:port.
        #[arg(long, default_value = "127.0.0.1:7700")]
        server: String,
        #[command(flatten)]
        token: TokenArg,
    },
    /// Add a node: it catches up as a learner, then becomes a voter. The new node
    /// must be running (`suslik serve --join --node-id N …`).
    AddNode {
        #[arg(long, default_value = "127.0.0.1:7700")]
        server: String,
        /// Id of the new node.
        #[arg(long)]
        node_id: u64,
        /// host:port the other nodes reach the new node at.
        #[arg(long)]
        addr: String,
        #[command(flatten)]
        token: TokenArg,
    },
    /// Remove a node from the cluster.
    RemoveNode {
        #[arg(long, default_value = "127.0.0.1:7700")]
        server: String,
        #[arg(long)]
        node_id: u64,
        #[command(flatten)]
        token: TokenArg,
    },
}

/// The operator token of `suslik cluster …`.
#[derive(clap::Args)]
struct TokenArg {
    /// The operator token, when the cluster has tokens [default: $SUSLIK_OPERATOR_TOKEN]
    #[arg(long)]
    token: Option<String>,
}

impl TokenArg {
    fn resolve(self) -> Option<String> {
        self.token.or_else(|| env_secret(ENV_OPERATOR_TOKEN))
    }
}

/// Environment variables that supply the tokens, so they stay out of files and `ps`.
const ENV_ACTOR_TOKEN: &str = "SUSLIK_ACTOR_TOKEN";
const ENV_OPERATOR_TOKEN: &str = "SUSLIK_OPERATOR_TOKEN";
const ENV_PEER_SECRET: &str = "SUSLIK_PEER_SECRET";

/// A non-empty environment variable.
fn env_secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Read settings from this TOML file (see config/suslik.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the Raft log, vote and snapshots [default: ./data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address for the HTTP API and Raft RPC [default: 127.0.0.1:7700]. Port 0 picks a
    /// free port: once listening, serve prints `suslik listening on http://ADDR` on stdout.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// This node's id in the cluster [default: 1]
    #[arg(long)]
    node_id: Option<u64>,
    /// How long a handed-out task stays leased before it is delivered again, in ms
    /// [default: 60000]
    #[arg(long)]
    lease_ms: Option<u64>,
    /// Furthest ahead one heartbeat may extend a task's lease, in ms [default: 600000]
    #[arg(long)]
    max_heartbeat_extend_ms: Option<u64>,
    /// Largest accepted request body in bytes [default: 8388608]
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Longest a long poll waits for a task (a longer `wait_ms` is capped), in ms [default: 60000]
    #[arg(long)]
    max_poll_wait_ms: Option<u64>,
    /// Take a snapshot every this many log entries [default: 10000]
    #[arg(long)]
    snapshot_every: Option<u64>,
    /// Initial members of a new cluster, this node included:
    /// `1=127.0.0.1:7701,2=127.0.0.1:7702,3=127.0.0.1:7703`. The lowest id initializes
    /// the cluster on first start [default: none, a one-node cluster]
    #[arg(long, value_delimiter = ',')]
    peers: Option<Vec<String>>,
    /// host:port the other nodes reach this one at [default: the listen address]
    #[arg(long)]
    advertise: Option<String>,
    /// Start empty and wait to be added with `suslik cluster add-node`.
    #[arg(long)]
    join: bool,
    /// Keep an ended process this long before garbage collection deletes it, in ms
    /// [default: 86400000, one day]
    #[arg(long)]
    gc_delay_ms: Option<u64>,
    /// Most processes deleted per garbage-collection step [default: 1000]
    #[arg(long)]
    gc_batch: Option<u32>,
    /// Garbage-collect broken processes too (by default they wait for an operator).
    #[arg(long)]
    gc_include_broken: bool,
    /// Turn garbage collection off.
    #[arg(long)]
    no_gc: bool,
    /// Look for stalled processes this often, in ms [default: 60000]
    #[arg(long)]
    recovery_scan_period_ms: Option<u64>,
    /// A running process unchanged this long is recovered, in ms [default: 600000]
    #[arg(long)]
    recovery_process_change_timeout_ms: Option<u64>,
    /// Most processes one recovery scan examines [default: 1000]
    #[arg(long)]
    recovery_max_per_scan: Option<u32>,
    /// Turn recovery of stalled processes off.
    #[arg(long)]
    no_recovery: bool,
    /// Raft heartbeat period in ms [default: 100]
    #[arg(long)]
    heartbeat_ms: Option<u64>,
    /// Raft election timeout range in ms, `MIN..MAX` [default: 400..800]. Failover takes
    /// about MIN plus MAX (openraft's leader lease) after the leader dies.
    #[arg(long, value_parser = parse_range)]
    election_timeout_ms: Option<(u64, u64)>,
    /// Log format [default: text]
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Same as `--log-format json`.
    #[arg(long, conflicts_with = "log_format")]
    json_logs: bool,
    /// Print the effective settings as TOML and exit without serving.
    #[arg(long)]
    print_config: bool,
    /// Token for deciders and workers (poll, release, start, …)
    /// [default: $SUSLIK_ACTOR_TOKEN, then [auth] actor_token]
    #[arg(long)]
    actor_token: Option<String>,
    /// Token for operators: every call, including the console and cluster management
    /// [default: $SUSLIK_OPERATOR_TOKEN, then [auth] operator_token]
    #[arg(long)]
    operator_token: Option<String>,
    /// Secret shared by the members of a cluster, required on Raft RPC
    /// [default: $SUSLIK_PEER_SECRET, then [auth] peer_secret]
    #[arg(long)]
    peer_secret: Option<String>,
    /// Serve a non-loopback address without tokens (anyone who reaches it may call
    /// anything).
    #[arg(long)]
    insecure: bool,
    /// Behave, for log entry formats, like an older build whose newest command format
    /// is N: announce N, never propose a newer one, refuse newer entries. For testing
    /// rolling upgrades (docs/storage.md).
    #[arg(long, value_name = "N", hide = true)]
    max_command_format: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The settings file: every key optional, unknown keys rejected (a typo is an error,
/// not a silently ignored setting).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node_id: Option<u64>,
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    lease_ms: Option<u64>,
    max_heartbeat_extend_ms: Option<u64>,
    max_body_bytes: Option<usize>,
    max_poll_wait_ms: Option<u64>,
    snapshot_every: Option<u64>,
    peers: Option<Vec<String>>,
    advertise: Option<String>,
    join: Option<bool>,
    gc_enabled: Option<bool>,
    gc_delay_ms: Option<u64>,
    gc_batch: Option<u32>,
    gc_include_broken: Option<bool>,
    heartbeat_ms: Option<u64>,
    election_timeout_ms: Option<String>,
    log_format: Option<LogFormat>,
    insecure: Option<bool>,
    auth: Option<AuthFile>,
    #[serde(alias = "alert-check-period-ms")]
    alert_check_period_ms: Option<u64>,
    webhook: Option<WebhookFile>,
    #[serde(default)]
    alert: Vec<AlertFile>,
    recovery: Option<RecoveryFile>,
}

/// The `[recovery]` table of the settings file.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RecoveryFile {
    enabled: Option<bool>,
    scan_period_ms: Option<u64>,
    process_change_timeout_ms: Option<u64>,
    max_per_scan: Option<u32>,
}

/// Effective recovery settings (printed as the `[recovery]` table).
#[derive(Debug, Serialize)]
struct RecoverySettings {
    enabled: bool,
    scan_period_ms: u64,
    process_change_timeout_ms: u64,
    max_per_scan: u32,
}

/// The `[auth]` section of the settings file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    actor_token: Option<String>,
    operator_token: Option<String>,
    peer_secret: Option<String>,
}

/// Effective tokens; printed by `--print-config` only as whether each is set.
#[derive(Debug, Serialize)]
struct AuthSettings {
    #[serde(serialize_with = "redacted")]
    actor_token: Option<String>,
    #[serde(serialize_with = "redacted")]
    operator_token: Option<String>,
    #[serde(serialize_with = "redacted")]
    peer_secret: Option<String>,
}

fn redacted<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if v.is_some() { "<set>" } else { "<unset>" })
}

impl AuthSettings {
    fn config(&self) -> AuthConfig {
        AuthConfig {
            actor_token: self.actor_token.clone(),
            operator_token: self.operator_token.clone(),
            peer_secret: self.peer_secret.clone(),
        }
    }
}

/// `[webhook]`: where process lifecycle events and alerts are POSTed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    events: Option<Vec<String>>,
    #[serde(default, alias = "timeout-ms", skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
    #[serde(
        default,
        alias = "max-retries",
        skip_serializing_if = "Option::is_none"
    )]
    max_retries: Option<u32>,
}

/// `[[alert]]`: one alert.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AlertFile {
    name: String,
    /// `queue_not_polled` or `broken_processes`.
    kind: String,
    #[serde(default, alias = "idle-ms", skip_serializing_if = "Option::is_none")]
    idle_ms: Option<u64>,
    #[serde(
        default,
        alias = "actor-prefix",
        skip_serializing_if = "Option::is_none"
    )]
    actor_prefix: Option<String>,
    #[serde(default, alias = "more-than", skip_serializing_if = "Option::is_none")]
    more_than: Option<usize>,
}

impl WebhookFile {
    /// The webhook with defaults filled in, or why it is invalid.
    fn resolve(&self) -> Result<WebhookConfig, String> {
        let url = self.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "webhook.url: {url:?} is not an http:// or https:// URL"
            ));
        }
        let mut cfg = WebhookConfig::new(url);
        if let Some(events) = &self.events {
            if let Some(bad) = events
                .iter()
                .find(|e| !WEBHOOK_EVENTS.contains(&e.as_str()))
            {
                return Err(format!(
                    "webhook.events: unknown event {bad:?} (known: {})",
                    WEBHOOK_EVENTS.join(", ")
                ));
            }
            cfg.events = events.clone();
        }
        if let Some(t) = self.timeout_ms {
            if t == 0 {
                return Err("webhook.timeout_ms must be at least 1".into());
            }
            cfg.timeout_ms = t;
        }
        if let Some(r) = self.max_retries {
            cfg.max_retries = r;
        }
        Ok(cfg)
    }
}

impl AlertFile {
    fn resolve(&self) -> Result<AlertConfig, String> {
        if self.name.trim().is_empty() {
            return Err("alert: name is empty".into());
        }
        let field = |f: &str| format!("alert {:?}: kind {:?} needs {f}", self.name, self.kind);
        let stray = |f: &str| {
            format!(
                "alert {:?}: {f} does not apply to kind {:?}",
                self.name, self.kind
            )
        };
        let kind = match self.kind.as_str() {
            "queue_not_polled" => {
                if self.more_than.is_some() {
                    return Err(stray("more_than"));
                }
                AlertKind::QueueNotPolled {
                    idle_ms: self.idle_ms.ok_or_else(|| field("idle_ms"))?,
                    actor_prefix: self.actor_prefix.clone(),
                }
            }
            "broken_processes" => {
                if self.idle_ms.is_some() || self.actor_prefix.is_some() {
                    return Err(stray("idle_ms/actor_prefix"));
                }
                AlertKind::BrokenProcesses {
                    more_than: self.more_than.ok_or_else(|| field("more_than"))?,
                }
            }
            other => {
                return Err(format!(
                "alert {:?}: unknown kind {other:?} (known: queue_not_polled, broken_processes)",
                self.name
            ))
            }
        };
        Ok(AlertConfig {
            name: self.name.clone(),
            kind,
        })
    }
}

/// The effective settings of `serve`.
#[derive(Debug, Serialize)]
struct Settings {
    node_id: u64,
    listen: SocketAddr,
    data_dir: PathBuf,
    lease_ms: u64,
    max_heartbeat_extend_ms: u64,
    max_body_bytes: usize,
    max_poll_wait_ms: u64,
    snapshot_every: u64,
    peers: Vec<String>,
    advertise: Option<String>,
    join: bool,
    gc_enabled: bool,
    gc_delay_ms: u64,
    gc_batch: u32,
    gc_include_broken: bool,
    heartbeat_ms: u64,
    election_timeout_ms: String,
    log_format: LogFormat,
    alert_check_period_ms: u64,
    insecure: bool,
    auth: AuthSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook: Option<WebhookFile>,
    alert: Vec<AlertFile>,
    recovery: RecoverySettings,
}

impl Settings {
    /// Defaults, overridden by the file, overridden by the flags.
    fn resolve(args: &ServeArgs, file: FileConfig) -> Result<Settings, String> {
        let defaults = NodeConfig::single(PathBuf::from("./data"));
        let limits = &defaults.limits;
        let json = args.json_logs.then_some(LogFormat::Json);
        let auth_file = file.auth.unwrap_or_default();
        // A flag, then the environment, then the file; an empty value counts as unset.
        let secret = |flag: &Option<String>, env: &str, file: Option<String>| {
            flag.clone()
                .or_else(|| env_secret(env))
                .or(file)
                .filter(|v| !v.is_empty())
        };
        let auth = AuthSettings {
            actor_token: secret(&args.actor_token, ENV_ACTOR_TOKEN, auth_file.actor_token),
            operator_token: secret(
                &args.operator_token,
                ENV_OPERATOR_TOKEN,
                auth_file.operator_token,
            ),
            peer_secret: secret(&args.peer_secret, ENV_PEER_SECRET, auth_file.peer_secret),
        };
        let s = Settings {
            node_id: args.node_id.or(file.node_id).unwrap_or(1),
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7700))),
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            lease_ms: args.lease_ms.or(file.lease_ms).unwrap_or(limits.lease_ms),
            max_heartbeat_extend_ms: args
                .max_heartbeat_extend_ms
                .or(file.max_heartbeat_extend_ms)
                .unwrap_or(limits.max_heartbeat_extend_ms),
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(limits.max_body_bytes),
            max_poll_wait_ms: args
                .max_poll_wait_ms
                .or(file.max_poll_wait_ms)
                .unwrap_or(limits.max_poll_wait_ms),
            snapshot_every: args
                .snapshot_every
                .or(file.snapshot_every)
                .unwrap_or(defaults.snapshot_every),
            peers: args.peers.clone().or(file.peers).unwrap_or_default(),
            advertise: args.advertise.clone().or(file.advertise),
            join: args.join || file.join.unwrap_or(false),
            gc_enabled: !args.no_gc && file.gc_enabled.unwrap_or(defaults.gc.enabled),
            gc_delay_ms: args
                .gc_delay_ms
                .or(file.gc_delay_ms)
                .unwrap_or(defaults.gc.delay_ms),
            gc_batch: args.gc_batch.or(file.gc_batch).unwrap_or(defaults.gc.batch),
            heartbeat_ms: args
                .heartbeat_ms
                .or(file.heartbeat_ms)
                .unwrap_or(defaults.heartbeat_ms),
            election_timeout_ms: match (args.election_timeout_ms, file.election_timeout_ms) {
                (Some((lo, hi)), _) => format!("{lo}..{hi}"),
                (None, Some(text)) => text,
                (None, None) => {
                    let (lo, hi) = defaults.election_timeout_ms;
                    format!("{lo}..{hi}")
                }
            },
            gc_include_broken: args.gc_include_broken
                || file.gc_include_broken.unwrap_or(defaults.gc.include_broken),
            log_format: args
                .log_format
                .or(json)
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            insecure: args.insecure || file.insecure.unwrap_or(false),
            auth,
            alert_check_period_ms: file
                .alert_check_period_ms
                .unwrap_or(defaults.alerts.check_period_ms),
            webhook: file.webhook,
            alert: file.alert,
            recovery: {
                let f = file.recovery.unwrap_or_default();
                let d = &defaults.recovery;
                RecoverySettings {
                    enabled: !args.no_recovery && f.enabled.unwrap_or(d.enabled),
                    scan_period_ms: args
                        .recovery_scan_period_ms
                        .or(f.scan_period_ms)
                        .unwrap_or(d.scan_period_ms),
                    process_change_timeout_ms: args
                        .recovery_process_change_timeout_ms
                        .or(f.process_change_timeout_ms)
                        .unwrap_or(d.process_change_timeout_ms),
                    max_per_scan: args
                        .recovery_max_per_scan
                        .or(f.max_per_scan)
                        .unwrap_or(d.max_per_scan),
                }
            },
        };
        if s.alert_check_period_ms == 0 {
            return Err("alert_check_period_ms must be at least 1".into());
        }
        s.notify_config()?;
        for (name, value) in [
            ("lease_ms", s.lease_ms),
            ("max_heartbeat_extend_ms", s.max_heartbeat_extend_ms),
            ("max_body_bytes", s.max_body_bytes as u64),
            ("max_poll_wait_ms", s.max_poll_wait_ms),
            ("snapshot_every", s.snapshot_every),
            ("gc_batch", u64::from(s.gc_batch)),
            ("heartbeat_ms", s.heartbeat_ms),
            ("recovery.scan_period_ms", s.recovery.scan_period_ms),
            ("recovery.max_per_scan", u64::from(s.recovery.max_per_scan)),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        s.peer_map()?;
        let (lo, _) =
            parse_range(&s.election_timeout_ms).map_err(|e| format!("election_timeout_ms: {e}"))?;
        if lo <= s.heartbeat_ms {
            return Err(format!(
                "election_timeout_ms: the minimum ({lo}) must exceed heartbeat_ms ({})",
                s.heartbeat_ms
            ));
        }
        s.check_exposure()?;
        Ok(s)
    }

    /// A node reachable from other machines must not be open to anyone: it needs the
    /// client tokens (and, in a cluster, the peer secret) unless `--insecure`.
    fn check_exposure(&self) -> Result<(), String> {
        if self.insecure || self.listen.ip().is_loopback() {
            return Ok(());
        }
        let auth = self.auth.config();
        if !auth.clients_need_token() {
            return Err(format!(
                "refusing to serve {} without tokens: anyone who can reach it could call \
                 everything. Set an operator token (and an actor token) with \
                 --operator-token / $SUSLIK_OPERATOR_TOKEN or [auth] in the config, \
                 listen on 127.0.0.1, or pass --insecure",
                self.listen
            ));
        }
        let clustered = !self.peers.is_empty() || self.join;
        if clustered && auth.peer_secret().is_none() {
            return Err(format!(
                "refusing to serve cluster traffic on {} without a peer secret: set \
                 --peer-secret / $SUSLIK_PEER_SECRET or [auth] peer_secret (the same on \
                 every member), or pass --insecure",
                self.listen
            ));
        }
        Ok(())
    }

    /// The webhook and alerts, validated.
    fn notify_config(&self) -> Result<(Option<WebhookConfig>, AlertsConfig), String> {
        let webhook = self
            .webhook
            .as_ref()
            .map(WebhookFile::resolve)
            .transpose()?;
        let alerts = self
            .alert
            .iter()
            .map(AlertFile::resolve)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            webhook,
            AlertsConfig {
                check_period_ms: self.alert_check_period_ms,
                alerts,
            },
        ))
    }

    /// `--peers` as `node id → host:port`.
    fn peer_map(&self) -> Result<BTreeMap<u64, String>, String> {
        let mut map = BTreeMap::new();
        for p in &self.peers {
            let (id, addr) = p
                .split_once('=')
                .ok_or_else(|| format!("peers: {p:?} is not id=host:port"))?;
            let id: u64 = id
                .trim()
                .parse()
                .map_err(|_| format!("peers: {id:?} in {p:?} is not a node id"))?;
            if addr.trim().is_empty() || map.insert(id, addr.trim().to_string()).is_some() {
                return Err(format!(
                    "peers: node {id} is listed twice or has no address"
                ));
            }
        }
        if !map.is_empty() && !map.contains_key(&self.node_id) {
            return Err(format!(
                "peers: this node's id {} is not among them",
                self.node_id
            ));
        }
        Ok(map)
    }
}

/// Reads and parses a settings file. The error is one line naming the file, the
/// position and the offending key or value.
fn read_config(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let place = match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("{}:{line}:{column}", path.display())
            }
            None => path.display().to_string(),
        };
        let message = e.message().trim().replace('\n', "; ");
        let message = suslik_broker::api::strict_json::with_suggestion(&message);
        format!("config file {place}: {message}")
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Cluster(cmd) => cluster(cmd),
        Command::Backup { server, to, token } => backup(&server, &to, token.resolve()),
        Command::Restore {
            from,
            data_dir,
            node_id,
            advertise,
        } => restore(&from, &data_dir, node_id, &advertise),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let file = match &args.config {
        Some(path) => match read_config(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("suslik: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => FileConfig::default(),
    };
    let settings = match Settings::resolve(&args, file) {
        Ok(s) => s,
        Err(e) => {
            match &args.config {
                Some(path) => eprintln!("suslik: {e} (settings from {})", path.display()),
                None => eprintln!("suslik: {e}"),
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.print_config {
        return match toml::to_string(&settings) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("suslik: cannot print the settings: {e}");
                ExitCode::from(1)
            }
        };
    }

    if let Some(max) = args.max_command_format {
        if let Err(e) =
            suslik_broker::formats::command::limit_to(suslik_broker::formats::CommandFormat(max))
        {
            eprintln!("suslik: --max-command-format: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn,sled=warn"));
    match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .init(),
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("suslik: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let peers = settings.peer_map().unwrap_or_default();
    let (webhook, alerts) = settings.notify_config().unwrap_or_default();
    let cfg = NodeConfig {
        node_id: settings.node_id,
        listen: settings.listen,
        data_dir: settings.data_dir,
        limits: Limits {
            lease_ms: settings.lease_ms,
            max_heartbeat_extend_ms: settings.max_heartbeat_extend_ms,
            max_body_bytes: settings.max_body_bytes,
            max_poll_wait_ms: settings.max_poll_wait_ms,
            ..Limits::default()
        },
        snapshot_every: settings.snapshot_every,
        heartbeat_ms: settings.heartbeat_ms,
        election_timeout_ms: parse_range(&settings.election_timeout_ms).unwrap_or((400, 800)),
        gc: GcConfig {
            enabled: settings.gc_enabled,
            delay_ms: settings.gc_delay_ms,
            batch: settings.gc_batch,
            include_broken: settings.gc_include_broken,
        },
        recovery: RecoveryConfig {
            enabled: settings.recovery.enabled,
            scan_period_ms: settings.recovery.scan_period_ms,
            process_change_timeout_ms: settings.recovery.process_change_timeout_ms,
            max_per_scan: settings.recovery.max_per_scan,
        },
        peers,
        advertise: settings.advertise,
        join: settings.join,
        auth: settings.auth.config(),
        webhook,
        alerts,
    };
    let code = runtime.block_on(async move {
        // The node restarts itself in place after a storage error (full or read-only
        // data directory) once the directory takes writes again; see `supervisor`.
        let served = serve_supervised(cfg, shutdown_signal(), |addr| {
            // A line for scripts and tests to find the bound address.
            println!("suslik listening on http://{addr}");
        })
        .await;
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("suslik: {e:#}");
                ExitCode::from(1)
            }
        }
    });
    // Do not wait without end for blocking work (a storage probe on a dying disk).
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    code
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `suslik cluster …`: one call to a node, its answer printed as JSON.
fn cluster(cmd: ClusterCommand) -> ExitCode {
    let runtime = match cli_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result = runtime.block_on(async move {
        match cmd {
            ClusterCommand::Status { server, token } => {
                ClusterClient::new(&server)
                    .with_token(token.resolve())
                    .status()
                    .await
            }
            ClusterCommand::AddNode {
                server,
                node_id,
                addr,
                token,
            } => {
                ClusterClient::new(&server)
                    .with_token(token.resolve())
                    .add_node(node_id, &addr)
                    .await
            }
            ClusterCommand::RemoveNode {
                server,
                node_id,
                token,
            } => {
                ClusterClient::new(&server)
                    .with_token(token.resolve())
                    .remove_node(node_id)
                    .await
            }
        }
    });
    match result.map(|status| serde_json::to_string_pretty(&status)) {
        Ok(Ok(text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("suslik: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("suslik: {e}");
            ExitCode::from(1)
        }
    }
}

/// The single-threaded runtime a CLI command runs its calls on.
fn cli_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("suslik: cannot start the async runtime: {e}");
            ExitCode::from(1)
        })
}

/// `suslik backup`: fetches the node's backup and writes it to `to` atomically
/// (temporary file, fsync, rename).
fn backup(server: &str, to: &Path, token: Option<String>) -> ExitCode {
    let runtime = match cli_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let bytes = match runtime.block_on(ClusterClient::new(server).with_token(token).backup()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("suslik: backup failed: {e}");
            return ExitCode::from(1);
        }
    };
    let tmp = to.with_extension("partial");
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, &bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, to)
    })();
    match written {
        Ok(()) => {
            println!(
                "backup of {server} written to {} ({} bytes)",
                to.display(),
                bytes.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            eprintln!("suslik: cannot write {}: {e}", to.display());
            ExitCode::from(1)
        }
    }
}

/// `suslik restore`.
fn restore(from: &Path, data_dir: &Path, node_id: u64, advertise: &str) -> ExitCode {
    match suslik_broker::backup::restore(from, data_dir, node_id, advertise) {
        Ok(r) => {
            println!(
                "restored {} (taken from node {} at {} ms, log index {}) into {} as node {node_id} at {advertise}; start it with: suslik serve --data-dir {} --node-id {node_id} --listen {advertise}",
                from.display(),
                r.taken_from,
                r.taken_at_ms,
                r.index,
                data_dir.display(),
                data_dir.display(),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("suslik: restore failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Parses `MIN..MAX` (milliseconds, MIN < MAX).
fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (lo, hi) = text
        .split_once("..")
        .ok_or_else(|| format!("{text:?} is not MIN..MAX"))?;
    let lo: u64 = lo
        .trim()
        .parse()
        .map_err(|_| format!("{lo:?} is not a number"))?;
    let hi: u64 = hi
        .trim()
        .parse()
        .map_err(|_| format!("{hi:?} is not a number"))?;
    if lo == 0 || lo >= hi {
        return Err(format!("{text:?}: MIN must be positive and below MAX"));
    }
    Ok((lo, hi))
}
