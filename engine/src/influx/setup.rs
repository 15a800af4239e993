//! The database and retention policies of the original `setup_retention_policy.sh`
//! (reference/seed-compat.md): database `significant_trades`; `aggr_1s` kept 24 h (where the
//! 1-second bars go), `rp_1s` 30 days and the database's default, `rp_1m` kept forever; plus
//! `aggr_<tf>` (kept forever) for each configured rollup. [`apply`] creates what is missing and
//! corrects durations that differ; [`verify`] only reads and reports.

use super::client::{quote_ident, InfluxClient, InfluxError};
use serde_json::Value;

/// One retention policy as wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    /// Seconds kept; 0 is forever (`INF`).
    pub duration_s: u64,
    pub default: bool,
}

impl Policy {
    fn new(name: &str, duration_s: u64, default: bool) -> Policy {
        Policy {
            name: name.to_string(),
            duration_s,
            default,
        }
    }

    fn duration_ql(&self) -> String {
        if self.duration_s == 0 {
            "INF".into()
        } else {
            format!("{}s", self.duration_s)
        }
    }
}

/// The policies of the original script, with the 1-second policy named `rp_1s_name` (normally
/// `aggr_1s`) and `aggr_<tf>` for each rollup timeframe.
pub fn wanted(one_second_rp: &str, rollups: &[String]) -> Vec<Policy> {
    let mut v = vec![
        Policy::new(one_second_rp, 86_400, false),
        Policy::new("rp_1s", 30 * 86_400, true),
        Policy::new("rp_1m", 0, false),
    ];
    for tf in rollups {
        let name = format!("aggr_{tf}");
        if !v.iter().any(|p| p.name == name) {
            v.push(Policy::new(&name, 0, false));
        }
    }
    v
}

/// A policy as the server has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub name: String,
    pub duration_s: u64,
    pub default: bool,
}

/// `SHOW RETENTION POLICIES` of the client's database.
pub fn existing(client: &mut InfluxClient) -> Result<Vec<Existing>, InfluxError> {
    let db = client.database().to_string();
    let res = client.query_in(
        Some(&db),
        &format!("SHOW RETENTION POLICIES ON {}", quote_ident(&db)),
    )?;
    let mut out = Vec::new();
    for s in res.iter().flatten() {
        let col = |n: &str| s.columns.iter().position(|c| c == n);
        let (Some(name), Some(dur), Some(def)) = (col("name"), col("duration"), col("default"))
        else {
            continue;
        };
        for row in &s.values {
            let text = |i: usize| row.get(i).and_then(Value::as_str).unwrap_or_default();
            out.push(Existing {
                name: text(name).to_string(),
                duration_s: parse_go_duration(text(dur)).unwrap_or(u64::MAX),
                default: row.get(def).and_then(Value::as_bool).unwrap_or(false),
            });
        }
    }
    Ok(out)
}

/// Go's `time.Duration` text as InfluxDB shows it (`24h0m0s`, `720h0m0s`, `0s`) → seconds.
pub fn parse_go_duration(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
    }
    num.is_empty().then_some(total)
}

/// One line of a setup or verification report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

/// Creates the database and policies, fixing durations and the default flag; returns what it
/// did.
pub fn apply(client: &mut InfluxClient, policies: &[Policy]) -> Result<Vec<String>, InfluxError> {
    let mut done = Vec::new();
    let db = client.database().to_string();
    if !client.databases()?.contains(&db) {
        client.query_in(None, &format!("CREATE DATABASE {}", quote_ident(&db)))?;
        done.push(format!("created database {db}"));
    }
    let have = existing(client)?;
    for p in policies {
        let default = if p.default { " DEFAULT" } else { "" };
        let target = format!("{} ON {}", quote_ident(&p.name), quote_ident(&db));
        match have.iter().find(|e| e.name == p.name) {
            None => {
                client.query_in(
                    Some(&db),
                    &format!(
                        "CREATE RETENTION POLICY {target} DURATION {} REPLICATION 1{default}",
                        p.duration_ql()
                    ),
                )?;
                done.push(format!(
                    "created retention policy {} ({})",
                    p.name,
                    p.duration_ql()
                ));
            }
            Some(e) if e.duration_s != p.duration_s || (p.default && !e.default) => {
                client.query_in(
                    Some(&db),
                    &format!(
                        "ALTER RETENTION POLICY {target} DURATION {}{default}",
                        p.duration_ql()
                    ),
                )?;
                done.push(format!(
                    "altered retention policy {} ({})",
                    p.name,
                    p.duration_ql()
                ));
            }
            Some(_) => {}
        }
    }
    Ok(done)
}

/// Checks the database and policies without changing anything, and counts the 1-second bars
/// of the last hour (as the original's verification command did).
pub fn verify(
    client: &mut InfluxClient,
    policies: &[Policy],
    one_second: (&str, &str),
) -> Result<Vec<Check>, InfluxError> {
    let db = client.database().to_string();
    let mut checks = Vec::new();
    let exists = client.databases()?.contains(&db);
    checks.push(Check {
        what: format!("database {db}"),
        ok: exists,
        detail: if exists {
            "exists".into()
        } else {
            "missing".into()
        },
    });
    if !exists {
        return Ok(checks);
    }
    let have = existing(client)?;
    for p in policies {
        let (ok, detail) = match have.iter().find(|e| e.name == p.name) {
            None => (false, "missing".to_string()),
            Some(e) => {
                let mut problems = Vec::new();
                if e.duration_s != p.duration_s {
                    problems.push(format!(
                        "duration {} (want {})",
                        show_duration(e.duration_s),
                        show_duration(p.duration_s)
                    ));
                }
                if p.default && !e.default {
                    problems.push("not the default policy".to_string());
                }
                if problems.is_empty() {
                    (
                        true,
                        format!(
                            "duration {}{}",
                            show_duration(e.duration_s),
                            if e.default { ", default" } else { "" }
                        ),
                    )
                } else {
                    (false, problems.join(", "))
                }
            }
        };
        checks.push(Check {
            what: format!("retention policy {}", p.name),
            ok,
            detail,
        });
    }
    let (rp, m) = one_second;
    let q = format!(
        "SELECT COUNT(\"close\") FROM {}.{} WHERE time > now() - 1h",
        quote_ident(rp),
        quote_ident(m)
    );
    if have.iter().any(|e| e.name == rp) {
        let res = client.query(&q)?;
        let n = res
            .iter()
            .flatten()
            .flat_map(|s| s.values.iter())
            .filter_map(|r| r.get(1).and_then(Value::as_u64))
            .sum::<u64>();
        checks.push(Check {
            what: format!("{rp}.{m} last hour"),
            ok: true,
            detail: format!("{n} bars with trades"),
        });
    }
    Ok(checks)
}

fn show_duration(s: u64) -> String {
    match s {
        0 => "forever".into(),
        u64::MAX => "unreadable".into(),
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("24h0m0s"), Some(86_400));
        assert_eq!(parse_go_duration("720h0m0s"), Some(30 * 86_400));
        assert_eq!(parse_go_duration("0s"), Some(0));
        assert_eq!(parse_go_duration("1h30m"), Some(5400));
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_go_duration("12"), None);
    }

    #[test]
    fn wanted_policies() {
        let w = wanted("aggr_1s", &["1m".into(), "5m".into()]);
        let names: Vec<&str> = w.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["aggr_1s", "rp_1s", "rp_1m", "aggr_1m", "aggr_5m"]);
        assert!(w[1].default);
    }
}
