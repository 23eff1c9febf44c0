//! The artefacts of `observability/` against a real Prometheus (Debian's `prometheus`
//! package: `prometheus` and `promtool`):
//!
//! - `promtool check config`, `promtool check rules`, and `promtool test rules` with
//!   the unit tests of `observability/tests/` (each alert firing and not firing);
//! - Prometheus, configured by the shipped `prometheus.yml` and rule files (only the
//!   target's address and the intervals changed), scraping a service whose pools are
//!   under load, evaluating through its HTTP API every PromQL expression of the
//!   dashboard and of the rules: each must return data. The load is shaped so that
//!   every alert's condition holds (callers queue past 50, p99 is over 100 ms, acquires
//!   time out, a second pool cannot connect), on a primary with two real standbys, one
//!   with replay paused, so the replica series show an eligible and an ineligible one.
//!
//! Outside CI a machine without Prometheus skips these tests, loudly; under `CI=true`
//! its absence fails them (`.ci/run` installs it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lifeguard::metrics::prometheus::Registry;
use lifeguard::{Pool, PoolConfig, Role, query};
use lifeguard_suite::scrape::{free_port, http_get};

/// How long Prometheus may take to start, and all expressions to return data.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const DATA_TIMEOUT: Duration = Duration::from_secs(120);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

fn observability() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("observability")
}

/// The path of Debian's `tool` (`prometheus` or `promtool`); `None` (after saying so
/// on stderr) when it is not installed outside CI. Under `CI=true` a missing tool
/// fails the test.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "{name} is not installed: under CI it must be (apt-get install prometheus)"
        );
        eprintln!(
            "\n!!!!!!!! SKIPPED: {name} is not installed (apt-get install prometheus); \
             the dashboard, rules and alerts were NOT checked against Prometheus !!!!!!!!\n"
        );
    }
    found
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{command:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_the_config_and_rules_and_runs_their_unit_tests() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let dir = observability();
    let rules = [
        dir.join("rules/lifeguard-recording.yml"),
        dir.join("rules/lifeguard-alerts.yml"),
    ];
    run(Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .args(&rules));
    run(Command::new(&promtool)
        .current_dir(&dir)
        .args(["check", "config", "prometheus.yml"]));
    let out = run(Command::new(&promtool).current_dir(&dir).args([
        "test",
        "rules",
        "tests/lifeguard-alerts.test.yml",
    ]));
    assert!(out.contains("SUCCESS"), "{out}");
    // Every alert has a unit test.
    let tests = std::fs::read_to_string(dir.join("tests/lifeguard-alerts.test.yml"))
        .expect("read the unit tests");
    for alert in names(&rules[1], "- alert:") {
        assert!(
            tests.contains(&format!("alertname: {alert}")),
            "alert {alert} has no unit test"
        );
    }
}

/// The values of the `key` lines of a rule file (`- alert:`, `expr:`), one per line.
fn names(path: &Path, key: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .map(|v| {
            let v = v.trim();
            assert!(
                !v.is_empty() && v != "|" && v != ">",
                "{}: write each {key} on one line",
                path.display()
            );
            v.to_owned()
        })
        .collect()
}

/// Every PromQL expression of the dashboard and of the rule files.
fn expressions() -> Vec<String> {
    let dir = observability();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("grafana/lifeguard.json")).expect("read the dashboard"),
    )
    .expect("the dashboard is JSON");
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets").iter())
        .map(|t| t["expr"].as_str().expect("expr").to_owned())
        .collect();
    for file in [
        "rules/lifeguard-recording.yml",
        "rules/lifeguard-alerts.yml",
    ] {
        exprs.extend(names(&dir.join(file), "expr:"));
    }
    exprs
}

/// A running Prometheus, killed when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts `binary` with the shipped config, scraping `target` every second.
    fn start(binary: &Path, target: SocketAddr, dir: &Path) -> Prometheus {
        let shipped = observability();
        let config =
            std::fs::read_to_string(shipped.join("prometheus.yml")).expect("read prometheus.yml");
        assert!(config.contains("localhost:9187") && config.contains("15s"));
        let config = config
            .replace("localhost:9187", &target.to_string())
            .replace("15s", "1s")
            .replace("rules/", &format!("{}/rules/", shipped.display()));
        std::fs::write(dir.join("prometheus.yml"), config).expect("write the config");
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let log = dir.join("prometheus.log");
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("create the log"))
            .stderr(std::fs::File::create(dir.join("prometheus.err")).expect("create the log"))
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus { child, addr, log };
        let deadline = Instant::now() + START_TIMEOUT;
        while !matches!(http_get(addr, "/-/ready", HTTP_TIMEOUT), Ok((200, _))) {
            assert!(
                Instant::now() < deadline,
                "Prometheus was not ready within {START_TIMEOUT:?}: {}",
                prometheus.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        prometheus
    }

    fn logs(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "{}{}",
            read(&self.log),
            read(&self.log.with_extension("err"))
        )
    }

    /// The API's answer to the instant query `expr`: its result vector.
    fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/v1/query?query={}", encode(expr));
        let (status, body) = http_get(self.addr, &path, HTTP_TIMEOUT).expect("query the API");
        let answer: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(status, 200, "{expr}: {body}");
        assert_eq!(answer["status"], "success", "{expr}: {body}");
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Callers that keep a one-connection pool saturated until `stop`: 80 of them, each
/// statement 20 ms, so callers queue past 50, queries take over 100 ms and some give up
/// after the 1 s acquire timeout; every 10th statement fails, every 3rd goes to a
/// replica, and one caller runs transactions.
fn load(pool: &Pool, stop: &Arc<AtomicBool>) {
    for me in 0..80 {
        let (pool, stop) = (pool.clone(), stop.clone());
        may::go!(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let _ = if me == 0 {
                    pool.transaction(|tx| query("SELECT pg_sleep(0.02)").execute(tx))
                } else if i.is_multiple_of(10) {
                    query("SELECT 1 / 0").execute(&pool)
                } else if i.is_multiple_of(3) {
                    query("SELECT pg_sleep(0.02)").on_replica().execute(&pool)
                } else {
                    query("SELECT pg_sleep(0.02)").execute(&pool)
                };
            }
        });
    }
}

#[test]
fn prometheus_evaluates_every_dashboard_and_rule_expression_on_live_series() {
    let Some(binary) = tool("prometheus") else {
        return;
    };
    // A primary and two standbys, one with replay paused: the replica series have an
    // eligible and an ineligible replica to show.
    let primary = lifeguard_harness::Cluster::start().expect("a primary");
    let standbys = [
        primary.start_standby().expect("a standby"),
        primary.start_standby().expect("a standby"),
    ];
    standbys[1].pause_replay().expect("pause replay");
    let config = PoolConfig::new(&primary.url())
        .expect("the harness's URL")
        .replica(&standbys[0].url())
        .expect("a standby's URL")
        .replica(&standbys[1].url())
        .expect("a standby's URL")
        .connections(1)
        .max_in_flight(1)
        .max_exclusive(2)
        .acquire_timeout(Duration::from_secs(1));
    let pool = Pool::new(config).expect("pool");
    // A second pool whose server refuses every connection: its errors are the
    // connection-error series'.
    let refusing = lifeguard_harness::RefusingPort::new().expect("a refusing port");
    let broken = Pool::new(
        PoolConfig::new(&refusing.url())
            .expect("the refusing URL")
            .connections(2)
            .backoff(Duration::from_millis(10), Duration::from_millis(100)),
    )
    .expect("pool on the refusing port");

    let registry = Registry::new();
    let options = |name| lifeguard::metrics::Options::new().pool_label(name);
    pool.register_metrics_with(&registry, options("main"))
        .expect("register the pool");
    broken
        .register_metrics_with(&registry, options("broken"))
        .expect("register the broken pool");
    let target: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _server = lifeguard::metrics::serve_registry(target, registry).expect("serve");

    let stop = Arc::new(AtomicBool::new(false));
    load(&pool, &stop);
    assert!(pool.server_stats().iter().any(|s| s.role == Role::Replica));

    let dir = tempdir();
    let prometheus = Prometheus::start(&binary, target, &dir);
    let mut waiting: Vec<String> = expressions();
    assert!(
        waiting.len() > 20,
        "only {} expressions found",
        waiting.len()
    );
    waiting.push("up{job=\"lifeguard\"} == 1".into());
    let deadline = Instant::now() + DATA_TIMEOUT;
    while !waiting.is_empty() && Instant::now() < deadline {
        waiting.retain(|expr| prometheus.query(expr).is_empty());
        if !waiting.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(
        waiting.is_empty(),
        "no data within {DATA_TIMEOUT:?} for:\n{}\nPrometheus said:\n{}",
        waiting.join("\n"),
        prometheus.logs()
    );
    pool.close(Duration::from_secs(2));
    broken.close(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory under the system's temporary one.
fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "lifeguard-prometheus-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}
