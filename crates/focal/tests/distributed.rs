//! The distributed pipeline end to end: real `focal submit` and `focal worker` processes, a real
//! PostgreSQL (a schema per test) and a real NATS JetStream (a stream per test, or a private
//! server for the restart test). The reference workload must come out exactly as
//! `expected.json` says, however workers and the queue are disturbed.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    focal_testkit::workspace_root()
}

fn fixture(name: &str) -> String {
    repo()
        .join("tests/fixtures/workload")
        .join(name)
        .display()
        .to_string()
}

/// One test's world: a data folder pointing at its own schema, and its own stream.
struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    stream: String,
    nats: String,
    workers: Vec<Child>,
    _schema: focal_testkit::SchemaGuard,
}

impl Cluster {
    fn new(nats: &str) -> Cluster {
        focal_testkit::require_postgres();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let schema = focal_testkit::unique_name("dist_test");
        let cluster = Cluster {
            data,
            stream: focal_testkit::unique_name("TEST").to_ascii_uppercase(),
            nats: nats.to_string(),
            workers: Vec::new(),
            _schema: focal_testkit::SchemaGuard(schema.clone()),
            _dir: dir,
        };
        cluster.ok(&[
            "init",
            "--asn",
            &fixture("asn-ipv4.csv"),
            "--asn",
            &fixture("asn-ipv6.csv"),
            "--postgres",
            &focal_testkit::postgres_url_with_schema(&schema),
        ]);
        cluster.ok(&["constituents", "import", &fixture("constituents.csv")]);
        cluster
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_focal"));
        c.arg("--data")
            .arg(&self.data)
            .args(args)
            .env("FOCAL_NATS", &self.nats)
            .env("FOCAL_STREAM", &self.stream)
            .env("FOCAL_LOG", "warn");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the focal binary runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "focal {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let text = self.ok(&with_json);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid JSON ({e}): {text}"))
    }

    /// Queues the reference workload in chunks of `records`; returns the job id.
    fn submit(&self, records: u32) -> i64 {
        let out = self.json(&[
            "submit",
            "--feed",
            &repo()
                .join("bench/reference-feed.toml")
                .display()
                .to_string(),
            "--chunk-records",
            &records.to_string(),
            &fixture("feed.csv"),
        ]);
        out["files"][0]["submitted"]["job"]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("submit printed no job: {out}"))
    }

    fn start_worker(&mut self, name: &str) {
        let child = self
            .command(&[
                "worker",
                "--name",
                name,
                "--concurrency",
                "1",
                "--ack-wait",
                "3",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting a worker");
        self.workers.push(child);
    }

    fn job(&self, id: i64) -> Value {
        self.json(&["jobs", &id.to_string()])
    }

    fn chunks_done(&self, id: i64) -> u64 {
        self.job(id)["job"]["chunks_done"].as_u64().unwrap_or(0)
    }

    /// Polls until `ready` holds, failing the test (with the job's state) after two minutes.
    fn wait_until(&self, id: i64, what: &str, ready: impl Fn(&Value) -> bool) {
        let started = Instant::now();
        loop {
            let job = self.job(id);
            if ready(&job) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "gave up waiting for {what}: {job}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn wait_completed(&self, id: i64) {
        self.wait_until(id, "the job to complete", |j| {
            j["job"]["status"] == "completed"
        });
    }

    /// The store's figures equal the reference workload's `expected.json`.
    fn assert_expected_figures(&self) {
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(fixture("expected.json")).expect("expected.json"),
        )
        .expect("valid expected.json");
        let stats = self.json(&["stats"]);
        assert_eq!(stats["events"], expected["unique_events"], "unique events");
        assert_eq!(stats["unassigned"], expected["unassigned_events"]);
        assert_eq!(stats["quarantined"], expected["malformed_rows"]);
        assert_eq!(
            stats["constituents_with_events"],
            expected["constituents_with_events"]
        );
        assert_eq!(stats["per_constituent"], expected["per_constituent"]);
        let runs = self.json(&["runs"]);
        let run = &runs[0];
        assert_eq!(run["status"], "completed");
        assert_eq!(run["rows_read"], expected["rows"]);
        assert_eq!(run["events_stored"], expected["unique_events"]);
        assert_eq!(
            run["duplicates"].as_u64().unwrap() + run["events_stored"].as_u64().unwrap(),
            expected["valid_rows"].as_u64().unwrap(),
            "every valid row is stored or counted as a duplicate, once"
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        // Leave no test stream behind on a shared NATS server.
        let (url, stream) = (self.nats.clone(), self.stream.clone());
        if let Ok(rt) = tokio::runtime::Runtime::new() {
            rt.block_on(async {
                if let Ok(client) = async_nats::connect(url.as_str()).await {
                    let _ = async_nats::jetstream::new(client)
                        .delete_stream(&stream)
                        .await;
                }
            });
        }
    }
}

fn kill(child: &mut Child) {
    // SIGKILL: no chance to finish, acknowledge or roll back anything.
    child.kill().expect("killing a worker");
    child.wait().expect("reaping a worker");
}

#[test]
fn two_workers_reproduce_the_reference_figures() {
    focal_testkit::require_nats();
    let mut cluster = Cluster::new(focal_testkit::NATS_URL);
    let job = cluster.submit(400);
    cluster.start_worker("w1");
    cluster.start_worker("w2");
    cluster.wait_completed(job);
    cluster.assert_expected_figures();
    let chunks = cluster.job(job)["chunks"].as_array().unwrap().clone();
    assert_eq!(chunks.len(), 13, "5000 records in chunks of 400");
    assert!(chunks.iter().all(|c| c["status"] == "done"));
    // Submitting the same content again adds nothing.
    let again = cluster.json(&[
        "submit",
        "--feed",
        &repo()
            .join("bench/reference-feed.toml")
            .display()
            .to_string(),
        &fixture("feed.csv"),
    ]);
    assert!(again["files"][0]["submitted"]["already_ingested"].is_i64());
    cluster.assert_expected_figures();
}

#[test]
fn a_worker_killed_mid_run_loses_and_doubles_nothing() {
    focal_testkit::require_nats();
    let mut cluster = Cluster::new(focal_testkit::NATS_URL);
    let job = cluster.submit(50);
    cluster.start_worker("doomed");
    cluster.wait_until(job, "the first chunks", |j| {
        j["job"]["chunks_done"].as_u64().unwrap_or(0) >= 3
    });
    let mut doomed = cluster.workers.remove(0);
    kill(&mut doomed);
    let done_at_kill = cluster.chunks_done(job);
    assert!(
        done_at_kill < 100,
        "the worker was killed before the end ({done_at_kill} of 100 chunks done)"
    );
    cluster.start_worker("survivor");
    cluster.wait_completed(job);
    cluster.assert_expected_figures();
    let chunks = cluster.job(job)["chunks"].as_array().unwrap().clone();
    let by = |name: &str| chunks.iter().filter(|c| c["worker"] == name).count();
    assert!(by("doomed") >= 3, "the killed worker's commits are kept");
    assert!(by("survivor") > 0, "the survivor did the rest");
}

/// A NATS server of the test's own, so it can be stopped and started again.
struct PrivateNats {
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateNats {
    fn start() -> PrivateNats {
        let mut nats = PrivateNats {
            port: focal_testkit::free_port(),
            store: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        nats.launch();
        nats
    }

    fn launch(&mut self) {
        let child = Command::new(focal_testkit::nats_server_binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nats-server");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the private nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
    }
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn a_nats_restart_mid_run_loses_and_doubles_nothing() {
    let mut nats = PrivateNats::start();
    let mut cluster = Cluster::new(&nats.url());
    let job = cluster.submit(50);
    cluster.start_worker("w1");
    cluster.start_worker("w2");
    cluster.wait_until(job, "the first chunks", |j| {
        j["job"]["chunks_done"].as_u64().unwrap_or(0) >= 3
    });
    // The server goes away with chunks queued and in flight, and comes back on the same port
    // with the same JetStream storage.
    nats.stop();
    let done_while_down = cluster.chunks_done(job);
    assert!(
        done_while_down < 100,
        "NATS was stopped before the end ({done_while_down} of 100 chunks done)"
    );
    std::thread::sleep(Duration::from_secs(1));
    nats.launch();
    cluster.wait_completed(job);
    cluster.assert_expected_figures();
    assert!(
        !path_str(nats.store.path()).is_empty(),
        "the store folder outlived the restart"
    );
}

#[test]
fn distributed_commands_refuse_sqlite_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let focal = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_focal"))
            .arg("--data")
            .arg(&data)
            .args(args)
            .output()
            .expect("the focal binary runs")
    };
    assert!(focal(&["init"]).status.success());
    let out = focal(&["worker"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs PostgreSQL") && err.contains("focal.db"),
        "{err}"
    );
}

/// A gzipped file goes through the work queue like the plain one (the submitter reads it
/// decompressed, the workers get records), and a definition that takes its time from the
/// file's name is refused, since workers would not carry that time.
#[test]
fn a_gzipped_file_is_submitted_and_a_file_time_is_refused() {
    use std::io::Write;
    focal_testkit::require_nats();
    let mut cluster = Cluster::new(focal_testkit::NATS_URL);
    let packed = cluster._dir.path().join("feed.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(fixture("feed.csv")).unwrap())
        .unwrap();
    std::fs::write(&packed, gz.finish().unwrap()).unwrap();
    let reference = repo().join("bench/reference-feed.toml");
    let out = cluster.json(&[
        "submit",
        "--feed",
        &reference.display().to_string(),
        "--chunk-records",
        "1000",
        &packed.display().to_string(),
    ]);
    let job = out["files"][0]["submitted"]["job"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("submit printed no job: {out}"));
    cluster.start_worker("w1");
    cluster.wait_completed(job);
    cluster.assert_expected_figures();

    let timed = cluster._dir.path().join("timed.toml");
    let definition = std::fs::read_to_string(&reference).unwrap().replace(
        "[time]\n",
        "[time]\nfile_name = '(?P<time>\\d{4}-\\d{2}-\\d{2})'\nfile_name_format = '%Y-%m-%d'\n",
    );
    assert!(
        definition.contains("file_name ="),
        "the reference feed has a [time] table"
    );
    std::fs::write(&timed, definition).unwrap();
    let dated = cluster._dir.path().join("feed-2026-11-30.csv");
    std::fs::copy(fixture("feed.csv"), &dated).unwrap();
    let out = cluster.run(&[
        "submit",
        "--feed",
        &timed.display().to_string(),
        &dated.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("time.header or time.file_name"), "{stderr}");
}
