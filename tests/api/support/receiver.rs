//! A webhook receiver for the tests: an HTTP server on loopback that keeps every request it gets
//! and answers with the statuses it is told to, and a verifier that checks signatures with the
//! Standard Webhooks library from PyPI, as a real consumer would, not with our own code.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// A request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// How the receiver answers a request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Keeps the request waiting this long, then answers 200.
    HoldThenOk(Duration),
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    /// Answers for the next requests, in order; 200 when none is left.
    answers: Mutex<VecDeque<Answer>>,
}

pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let url = format!("http://{}/hooks", listener.local_addr().expect("the receiver's address"));
        let server =
            HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Receiver { url, shared, server: handle }
    }

    /// Answers the next requests with `answers`, in order, and 200 after them.
    pub fn answer(&self, answers: &[Answer]) {
        self.shared.answers.lock().expect("answers").extend(answers.iter().copied());
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received").clone()
    }

    /// Waits, ten seconds at most, until at least `count` requests came.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        self.wait_for_within(count, Duration::from_secs(10)).await
    }

    /// Waits, `limit` at most, until at least `count` requests came.
    pub async fn wait_for_within(&self, count: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(Instant::now() < deadline, "{} of {count} requests came: {received:?}", received.len());
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn receive(request: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), value.to_str().unwrap_or_default().to_string()))
        .collect();
    shared
        .received
        .lock()
        .expect("received")
        .push(Received { headers, body: String::from_utf8_lossy(&body).into_owned() });
    let answer = shared.answers.lock().expect("answers").pop_front().unwrap_or(Answer::Status(200));
    match answer {
        Answer::Status(status) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("a status"))
                .body(format!("answered {status}"))
        }
        Answer::HoldThenOk(wait) => {
            actix_web::rt::time::sleep(wait).await;
            HttpResponse::Ok().body("late")
        }
    }
}

/// A Python with the `standardwebhooks` package, in a virtual environment under the target
/// folder, made on first use.
fn python_with_standardwebhooks() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("standardwebhooks-venv");
        let python = venv.join("bin/python");
        let ready = || {
            Command::new(&python)
                .args(["-c", "import standardwebhooks"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        if !ready() {
            let made = Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv).status();
            assert!(made.is_ok_and(|status| status.success()), "python3 -m venv failed");
            let installed = Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "standardwebhooks==1.3.0"])
                .status();
            assert!(installed.is_ok_and(|status| status.success()), "pip install standardwebhooks failed");
            assert!(ready(), "standardwebhooks does not import");
        }
        python
    })
}

const VERIFY: &str = r#"
import json, sys
from standardwebhooks import Webhook
task = json.load(sys.stdin)
for message in task["messages"]:
    Webhook(task["secret"]).verify(message["body"], message["headers"])
print(len(task["messages"]))
"#;

/// Verifies every request in `received` with the `standardwebhooks` library under `secret`;
/// panics with the library's reason on the first that fails.
pub fn verify_signatures(secret: &str, received: &[Received]) {
    let python = python_with_standardwebhooks();
    let messages: Vec<Value> =
        received.iter().map(|message| json!({"headers": message.headers, "body": message.body})).collect();
    let task = json!({"secret": secret, "messages": messages}).to_string();
    let mut child = Command::new(python)
        .args(["-c", VERIFY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the verifier");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), task.as_bytes())
        .expect("send the task");
    let output = child.wait_with_output().expect("the verifier's answer");
    assert!(
        output.status.success(),
        "standardwebhooks refused a delivery: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), received.len().to_string());
}
