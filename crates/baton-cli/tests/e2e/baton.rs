//! Running the real binary.

use baton_testkit::ScriptedServer;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "e2e-token-0123456789abcdef";

/// A data dir and a config file pointing baton at a scripted model server.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub database: Option<String>,
}

impl Setup {
    pub fn new(model_server: &ScriptedServer, database: Option<&str>) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[gateway]
default_model = "scripted/scripted-small"
detect_ollama = false

[[providers]]
name = "scripted"
kind = "openai"
base_url = "{}"
api_key = "sk-scripted-secret"

[[providers.models]]
name = "scripted-small"
context_window = 16000
input_price = 1.0
output_price = 2.0

[[providers.models]]
name = "scripted-large"
context_window = 128000
"#,
                model_server.openai_base()
            ),
        )
        .unwrap();
        Setup {
            dir,
            config,
            database: database.map(str::to_owned),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `baton ARGS` with this setup's config, data dir and database.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("BATON_CONFIG", &self.config)
            .env("BATON_DATA_DIR", self.data_dir())
            .env("NO_COLOR", "1");
        if let Some(url) = &self.database {
            cmd.env("BATON_DATABASE_URL", url);
        }
        cmd
    }

    /// Starts `baton serve` on a free port with a token.
    pub fn serve(&self, extra_env: &[(&str, &str)]) -> Running {
        let mut cmd = self.command(&["serve", "--addr", "127.0.0.1:0"]);
        cmd.env("BATON_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Running::start(cmd)
    }
}

/// A `baton serve` process; killed if still running when dropped.
pub struct Running {
    pub child: Child,
    pub url: String,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Running {
    /// Starts a `baton serve` command (stderr piped) and waits until it
    /// listens.
    pub fn start(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().expect("baton starts");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on http://") {
                    let url = line[i + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .to_owned();
                    let _ = tx.send(url);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("baton did not start: {:?}", log.lock().unwrap());
            }
        };
        Running { child, url, log }
    }

    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {TOKEN}").parse().unwrap(),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "baton did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to completion, returning (status, stdout, stderr).
pub fn run(mut cmd: Command) -> (std::process::ExitStatus, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}
