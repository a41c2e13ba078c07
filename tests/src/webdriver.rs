//! A minimal WebDriver client for the console's browser tests: starts Debian's
//! `chromedriver` on port 0 (it binds a free port and prints which), opens one headless Chromium session with a fresh
//! profile, and offers the few calls the tests need (navigate, find, click, type, run
//! a script, wait for a condition, take a screenshot).
//!
//! It speaks the W3C WebDriver protocol over `reqwest`, which the workspace already
//! builds, instead of pulling in a browser-automation crate. Chromedriver runs in its
//! own process group; dropping the [`Browser`] kills that group, Chromium included,
//! so a failing test leaves no browser behind.

use anyhow::{anyhow, bail, Context};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for a page condition may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// Chromium's flags: headless, no sandbox (containers run as root), and nothing that
/// talks to the network on its own.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
];

/// Where the browser binaries are: Debian's paths unless `SUSLIK_CHROMIUM` /
/// `SUSLIK_CHROMEDRIVER` say otherwise.
fn binary(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_string())
}

/// Where screenshots go: `target/console-screenshots/` of the workspace (git-ignored).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("console-screenshots")
}

/// One headless Chromium session driven through chromedriver.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    killed: bool,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn launch() -> anyhow::Result<Browser> {
        let driver_bin = binary("SUSLIK_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = binary("SUSLIK_CHROMIUM", "/usr/bin/chromium");
        // Port 0: chromedriver binds a free port and says which on stdout.
        let mut driver = Command::new(&driver_bin)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot run {driver_bin}: the console tests need Debian's headless Chromium \
                     and its driver; scripts/test.sh installs them, or run \
                     `apt-get install chromium chromium-driver`"
                )
            })?;
        let stdout = driver.stdout.take();
        let profile = tempfile::tempdir()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()?;
        let mut browser = Browser {
            driver,
            http,
            session: String::new(),
            killed: false,
            _profile: profile,
        };
        let stdout = stdout.ok_or_else(|| anyhow!("no stdout of chromedriver"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Drain stdout for the driver's whole life (a full pipe would block it).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = announced_port(&line) {
                    let _ = tx.send(port);
                }
            }
        });
        let port = tokio::task::spawn_blocking(move || rx.recv_timeout(WAIT))
            .await?
            .map_err(|_| anyhow!("chromedriver did not say which port it listens on"))?;
        let base = format!("http://127.0.0.1:{port}");
        browser.wait_for_driver(&base).await?;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!(
            "--user-data-dir={}",
            browser._profile.path().display()
        ));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let answer = browser
            .call(
                reqwest::Method::POST,
                &format!("{base}/session"),
                Some(caps),
            )
            .await
            .context("starting a Chromium session")?;
        let id = answer["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no sessionId in {answer}"))?;
        browser.session = format!("{base}/session/{id}");
        Ok(browser)
    }

    async fn wait_for_driver(&mut self, base: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.driver.try_wait()? {
                bail!("chromedriver exited at start: {status}");
            }
            if let Ok(r) = self.http.get(format!("{base}/status")).send().await {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if v["value"]["ready"] == json!(true) {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("chromedriver did not become ready within {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One WebDriver call; returns its `value` or the driver's error.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method.clone(), url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "WebDriver {method} {url}: {status} {}: {}",
                v["value"]["error"],
                v["value"]["message"]
            );
        }
        Ok(v["value"].clone())
    }

    async fn session_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.session);
        self.call(method, &url, body).await
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.session_call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await?;
        Ok(())
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and decodes its
    /// return value.
    pub async fn eval<T: DeserializeOwned>(
        &self,
        script: &str,
        args: Vec<Value>,
    ) -> anyhow::Result<T> {
        let v = self
            .session_call(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({ "script": script, "args": args })),
            )
            .await?;
        serde_json::from_value(v.clone())
            .with_context(|| format!("script returned {v}, not the expected type"))
    }

    /// Waits until the JavaScript expression `condition` is true on the page.
    pub async fn wait_until(&self, what: &str, condition: &str) -> anyhow::Result<()> {
        let script = format!("return !!({condition});");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // A script may fail while the page navigates; only the deadline fails.
            if let Ok(true) = self.eval::<bool>(&script, vec![]).await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let text: String = self
                    .eval("return document.body.innerText.slice(0, 2000);", vec![])
                    .await
                    .unwrap_or_default();
                bail!(
                    "timed out after {WAIT:?} waiting for {what} ({condition}); page text:\n{text}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for an element matching `css` and returns its reference.
    pub async fn find(&self, css: &str) -> anyhow::Result<String> {
        let cond = format!("document.querySelector({})", json!(css));
        self.wait_until(&format!("element {css}"), &cond).await?;
        let v = self
            .session_call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await?;
        v[ELEMENT_KEY]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no element reference in {v}"))
    }

    /// Clicks the first element matching `css` (as a user would: WebDriver scrolls it
    /// into view and sends a real click).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let el = self.find(css).await?;
        self.session_call(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await
        .with_context(|| format!("clicking {css}"))?;
        Ok(())
    }

    /// Replaces the text of the input matching `css` with `text`, typed key by key.
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let el = self.find(css).await?;
        self.session_call(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            Some(json!({})),
        )
        .await?;
        self.session_call(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .await
        .with_context(|| format!("typing into {css}"))?;
        Ok(())
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let el = self.find(css).await?;
        let v = self
            .session_call(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Saves a PNG of the viewport as `target/console-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let v = self
            .session_call(reqwest::Method::GET, "/screenshot", None)
            .await?;
        let png = decode_base64(v.as_str().unwrap_or_default())?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the session (closing Chromium) and stops chromedriver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let r = self
            .session_call(reqwest::Method::DELETE, "", None)
            .await
            .map(|_| ());
        self.kill();
        r
    }

    fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        // Chromium runs in chromedriver's process group: signal the whole group.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--"])
            .arg(format!("-{}", self.driver.id()))
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The port in chromedriver's `ChromeDriver was started successfully on port N.`
fn announced_port(line: &str) -> Option<u16> {
    line.trim()
        .strip_prefix("ChromeDriver was started successfully on port ")?
        .trim_end_matches('.')
        .parse()
        .ok()
}

/// Standard base64 (with padding), as WebDriver sends screenshots.
fn decode_base64(text: &str) -> anyhow::Result<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = sextet(*c).ok_or_else(|| anyhow!("bad base64 byte {c}"))?;
            acc |= v << (18 - 6 * i);
        }
        let n = chunk.len() * 6 / 8;
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{announced_port, decode_base64};

    #[test]
    fn the_port_chromedriver_announces_is_read_from_its_line() {
        assert_eq!(
            announced_port("ChromeDriver was started successfully on port 36297."),
            Some(36297)
        );
        assert_eq!(announced_port("Only local connections are allowed."), None);
        assert_eq!(
            announced_port("Starting ChromeDriver 148.0 on port 0"),
            None
        );
    }

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
        assert!(decode_base64("a$==").is_err());
    }
}
