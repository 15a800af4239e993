//! `squeezeflow tune <check|apply|revert|plan>`: host tuning for bare-metal Linux. The logic is
//! in `engine::host`; this module parses flags, prints, and measures venue handshakes for
//! `check --online`.
//!
//! Exit codes: 0 fine (check: no FAIL), 1 check found a FAIL, 2 usage or IO error.

use super::Global;
use anyhow::Context;
use engine::config::{Config, FeedConfig};
use engine::host::apply::{self, Step};
use engine::host::check::{self, Handshake, Item, Verdict};
use engine::host::plan::{self, UnitParams};
use engine::host::probe::Host;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Read-only audit: PASS/WARN/FAIL per item with the fix; exit 1 if anything FAILs.
    Check(CheckArgs),
    /// Set the runtime settings (governor, THP, sysctls, irqbalance, NIC IRQ affinity).
    /// Prints the commands without running them unless --execute.
    Apply(ApplyArgs),
    /// Restore what `apply --execute` saved. Prints the commands unless --execute.
    Revert(ApplyArgs),
    /// Kernel command line, engine core map and systemd unit for this machine.
    Plan(PlanArgs),
}

#[derive(Debug, clap::Args)]
struct RootArg {
    /// Read (and with --execute, write) the host under DIR instead of / (fixture trees).
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    root: RootArg,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Also measure TCP connect and TLS handshake time to each configured venue endpoint.
    #[arg(long)]
    online: bool,
}

#[derive(Debug, clap::Args)]
struct ApplyArgs {
    #[command(flatten)]
    root: RootArg,
    /// Only print the commands (the default).
    #[arg(long, conflicts_with = "execute")]
    dry_run: bool,
    /// Really run them (needs root).
    #[arg(long)]
    execute: bool,
    /// The saved previous state. Default: DATA_DIR/tuning/state.json.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct PlanArgs {
    #[command(flatten)]
    root: RootArg,
    /// The engine binary the unit starts.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/usr/local/bin/squeezeflow"
    )]
    bin: String,
}

pub(crate) fn main(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    match run(global, args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = global.load_config()?;
    match args.action {
        Action::Check(a) => check_cmd(&cfg, a),
        Action::Apply(a) => apply_cmd(&cfg, a),
        Action::Revert(a) => revert_cmd(&cfg, a),
        Action::Plan(a) => plan_cmd(global, &cfg, a),
    }
}

fn probe(root: &Path) -> anyhow::Result<Host> {
    anyhow::ensure!(root.is_dir(), "--root {}: not a directory", root.display());
    Ok(Host::probe(root))
}

fn check_cmd(cfg: &Config, a: CheckArgs) -> anyhow::Result<ExitCode> {
    let host = probe(&a.root.root)?;
    let handshakes = a.online.then(|| measure_venues(cfg));
    let items = check::check(&host, &cfg.runtime.cores, handshakes.as_deref());
    let code = check::exit_code(&items);
    let mut out = std::io::stdout().lock();
    let count = |v: Verdict| items.iter().filter(|i| i.verdict == v).count();
    if a.json {
        let doc = serde_json::json!({
            "items": items,
            "pass": count(Verdict::Pass),
            "warn": count(Verdict::Warn),
            "fail": count(Verdict::Fail),
            "skip": count(Verdict::Skip),
            "exit_code": code,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for item in &items {
            write_item(&mut out, item)?;
        }
        writeln!(
            out,
            "\n{} PASS, {} WARN, {} FAIL, {} SKIP",
            count(Verdict::Pass),
            count(Verdict::Warn),
            count(Verdict::Fail),
            count(Verdict::Skip)
        )?;
    }
    Ok(ExitCode::from(code))
}

fn write_item(out: &mut impl Write, item: &Item) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<4}  {:<17} {}: {} (expected {})",
        item.verdict.as_str(),
        item.id,
        item.title,
        item.found,
        item.expected
    )?;
    if !item.fix.is_empty() {
        writeln!(out, "{:<24}fix: {}", "", item.fix)?;
    }
    Ok(())
}

fn state_path(cfg: &Config, a: &ApplyArgs) -> PathBuf {
    a.state
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("tuning").join("state.json"))
}

fn apply_cmd(cfg: &Config, a: ApplyArgs) -> anyhow::Result<ExitCode> {
    let root = &a.root.root;
    let host = probe(root)?;
    let map = check::core_map(&host, &cfg.runtime.cores)
        .map_err(|e| anyhow::anyhow!("the engine's core map does not fit this host: {e}"))?;
    let steps = apply::steps(&host, &map);
    let state = state_path(cfg, &a);
    let mut out = std::io::stdout().lock();
    if steps.is_empty() {
        writeln!(
            out,
            "# nothing to change: the runtime settings are already tuned"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if !a.execute {
        writeln!(
            out,
            "# dry run: {} changes; `--execute` runs them and saves the previous values to {}",
            steps.len(),
            state.display()
        )?;
        print_commands(&mut out, root, &steps)?;
        return Ok(ExitCode::SUCCESS);
    }
    apply::execute(root, &steps, &state)?;
    print_commands(&mut out, root, &steps)?;
    writeln!(
        out,
        "# applied {} changes; previous values saved to {} (`squeezeflow tune revert --execute` restores them)",
        steps.len(),
        state.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn revert_cmd(cfg: &Config, a: ApplyArgs) -> anyhow::Result<ExitCode> {
    let root = &a.root.root;
    anyhow::ensure!(root.is_dir(), "--root {}: not a directory", root.display());
    let state = state_path(cfg, &a);
    let steps = apply::revert_steps(&apply::load_state(&state)?);
    let mut out = std::io::stdout().lock();
    if !a.execute {
        writeln!(
            out,
            "# dry run: {} changes restore {}; `--execute` runs them",
            steps.len(),
            state.display()
        )?;
        print_commands(&mut out, root, &steps)?;
        return Ok(ExitCode::SUCCESS);
    }
    apply::revert(root, &state)?;
    print_commands(&mut out, root, &steps)?;
    writeln!(
        out,
        "# restored {} settings; removed {}",
        steps.len(),
        state.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn print_commands(out: &mut impl Write, root: &Path, steps: &[Step]) -> std::io::Result<()> {
    for step in steps {
        writeln!(out, "{}", apply::command(root, step))?;
    }
    Ok(())
}

fn plan_cmd(global: &Global, cfg: &Config, a: PlanArgs) -> anyhow::Result<ExitCode> {
    let host = probe(&a.root.root)?;
    let config = match &global.config {
        Some(p) => std::path::absolute(p)
            .with_context(|| format!("--config {}", p.display()))?
            .to_string_lossy()
            .into_owned(),
        None => "/etc/squeezeflow/config.toml".to_string(),
    };
    // A relative data dir means nothing to systemd: use the conventional state directory.
    let data_dir = if cfg.data_dir.is_absolute() {
        cfg.data_dir.to_string_lossy().into_owned()
    } else {
        "/var/lib/squeezeflow".to_string()
    };
    let params = UnitParams {
        bin: a.bin,
        config,
        data_dir,
    };
    let p = plan::plan(&host, &params)?;
    print!("{}", p.render());
    Ok(ExitCode::SUCCESS)
}

/// `host:port` of each configured venue endpoint (the defaults when the config lists none).
fn venue_endpoints(cfg: &Config) -> Vec<(String, u16, bool)> {
    let feeds: Vec<FeedConfig> = if cfg.feeds.is_empty() {
        Config::default_feeds()
    } else {
        cfg.feeds.clone()
    };
    let mut out = Vec::new();
    for f in &feeds {
        let url = match (&f.url, f.venue()) {
            (Some(u), _) => u.clone(),
            (None, Ok(feeds::Venue::BinanceUsdm)) => feeds::binance::USDM_BASE.to_string(),
            (None, _) => feeds::binance::SPOT_BASE.to_string(),
        };
        if let Some(ep) = parse_endpoint(&url) {
            if !out.contains(&ep) {
                out.push(ep);
            }
        }
    }
    out
}

/// `wss://host:port/path` → (host, port, tls).
fn parse_endpoint(url: &str) -> Option<(String, u16, bool)> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
        (true, r)
    } else {
        (false, url.strip_prefix("ws://")?)
    };
    let authority = rest.split(['/', '?']).next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, if tls { 443 } else { 80 }),
    };
    (!host.is_empty()).then(|| (host.to_string(), port, tls))
}

fn measure_venues(cfg: &Config) -> Vec<Handshake> {
    venue_endpoints(cfg)
        .into_iter()
        .map(|(host, port, tls)| Handshake {
            endpoint: format!("{host}:{port}"),
            result: measure(&host, port, tls),
        })
        .collect()
}

/// Time of TCP connect plus (for wss) the TLS handshake; DNS resolution is not counted.
fn measure(host: &str, port: u16, tls: bool) -> Result<Duration, String> {
    const TIMEOUT: Duration = Duration::from_secs(3);
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolve: {e}"))?
        .next()
        .ok_or("resolve: no address")?;
    let start = Instant::now();
    let mut tcp =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    if tls {
        tcp.set_read_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        tcp.set_write_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = feeds::ws::tls_config_with_roots(roots);
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("server name: {e}"))?;
        let mut conn = rustls::ClientConnection::new(Arc::clone(&config), name)
            .map_err(|e| format!("tls: {e}"))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)
                .map_err(|e| format!("tls: {e}"))?;
        }
    }
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("wss://stream.binance.com:9443"),
            Some(("stream.binance.com".to_string(), 9443, true))
        );
        assert_eq!(
            parse_endpoint("wss://fstream.binance.com/market"),
            Some(("fstream.binance.com".to_string(), 443, true))
        );
        assert_eq!(
            parse_endpoint("ws://127.0.0.1:9001/ws"),
            Some(("127.0.0.1".to_string(), 9001, false))
        );
        assert_eq!(parse_endpoint("http://x"), None);
        let eps = venue_endpoints(&Config::default());
        assert_eq!(eps.len(), 2);
    }
}
