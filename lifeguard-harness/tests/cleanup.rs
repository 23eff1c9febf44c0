//! Cleanup when the test process ends without dropping its clusters: a normal exit with
//! a cluster in a `static`, and a SIGKILL. The scenarios run in a child process (this
//! test binary again, running the ignored `child` test).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lifeguard_harness::{Cluster, test_server, wait_until};

const MODE_ENV: &str = "LIFEGUARD_HARNESS_CLEANUP_CHILD";

/// The child side: starts clusters, reports `CHILD <dir> <pid>` for each, then either
/// returns (normal exit) or waits to be killed.
#[test]
#[ignore = "run by the other tests of this file in a child process"]
fn child() {
    let Ok(mode) = std::env::var(MODE_ENV) else {
        return;
    };
    let report = |c: &Cluster| {
        println!("CHILD {} {}", c.socket_dir().display(), c.pid().unwrap());
    };
    match mode.as_str() {
        "static" => {
            report(test_server().cluster().unwrap());
            let leaked = Box::leak(Box::new(Cluster::start().unwrap()));
            report(leaked);
        }
        "sigkill" => {
            let primary = Cluster::start().unwrap();
            let standby = primary.start_standby().unwrap();
            report(&primary);
            report(&standby);
            report(test_server().cluster().unwrap());
            println!("CHILD ready");
            std::thread::sleep(Duration::from_secs(120));
        }
        other => panic!("unknown mode {other}"),
    }
}

/// The child process, killed if the test fails before it ends.
struct ChildProcess(Child);

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(mode: &str) -> ChildProcess {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MODE_ENV, mode)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ChildProcess(child)
}

/// Reads `CHILD` lines until `stop` (or the end); returns (directory, postmaster pid).
fn read_reports(child: &mut Child, stop: Option<&str>) -> Vec<(PathBuf, u32)> {
    let mut reports = Vec::new();
    for line in BufReader::new(child.stdout.as_mut().unwrap()).lines() {
        let line = line.unwrap();
        // libtest prints `test child ... ` on the line of the first report.
        let Some(rest) = line.split_once("CHILD ").map(|(_, rest)| rest) else {
            continue;
        };
        if Some(rest) == stop {
            break;
        }
        let (dir, pid) = rest.rsplit_once(' ').unwrap();
        reports.push((PathBuf::from(dir), pid.parse().unwrap()));
    }
    reports
}

fn gone(dir: &Path, pid: u32) -> bool {
    !dir.exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn normal_exit_cleans_up_clusters_never_dropped() {
    let mut child = spawn_child("static");
    let reports = read_reports(&mut child.0, None);
    assert!(child.0.wait().unwrap().success());
    assert_eq!(reports.len(), 2);
    // The atexit hook has finished before the process exited.
    for (dir, pid) in reports {
        assert!(
            gone(&dir, pid),
            "{} or pid {pid} left behind",
            dir.display()
        );
    }
}

#[test]
fn sigkill_of_the_test_process_cleans_up() {
    let mut child = spawn_child("sigkill");
    let reports = read_reports(&mut child.0, Some("ready"));
    assert_eq!(reports.len(), 3);
    for (dir, pid) in &reports {
        assert!(!gone(dir, *pid));
    }
    child.0.kill().unwrap(); // SIGKILL: no destructor, no atexit
    child.0.wait().unwrap();
    for (dir, pid) in reports {
        wait_until("the guard to clean up", Duration::from_secs(30), || {
            Ok(gone(&dir, pid))
        })
        .unwrap();
    }
}
