//! Harness for end-to-end tests of the web console in a real browser: headless Chromium
//! driven through ChromeDriver (WebDriver), against the real server on 127.0.0.1.
//!
//! - [`TestServer`] starts beian on `127.0.0.1:0` with a fresh SQLite data directory and a
//!   [`ManualClock`].
//! - [`Browser`] starts `chromedriver` on a free port, opens a headless Chromium session with a
//!   fresh profile, and offers small helpers (`goto`, `fill`, `click`, `submit`, `text`,
//!   `upload`, `screenshot`, ...). Every helper is bounded in time and panics with context
//!   (after saving a screenshot and the page source) when the page is not as expected.
//! - Network requests the pages make are recorded (Chrome's performance log plus the page's
//!   Resource Timing entries); [`Browser::assert_same_origin`] checks they all stayed on the
//!   page's own origin. Chromium is also started with every host name but `127.0.0.1` and
//!   `localhost` unresolvable, so a stray external request fails fast instead of hanging.
//! - Dropping the `Browser` (also while a test panics) closes the session, then kills
//!   ChromeDriver and every process it started; a panicking test leaves a last screenshot
//!   and the page source in its artifacts folder.
//!
//! Artifacts go to `test-artifacts/<test>/` at the workspace root (gitignored):
//! `NN-<name>.png` screenshots and `chromedriver.log`.

pub mod desk_driver;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use beian::app::Application;
use beian::config::{Config, ConfigArgs, GatewayChoice};
use beian_service::{ManualClock, Service};
use beian_testkit::servers::Stoppable;
use chrono::{TimeZone, Utc};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bound for one WebDriver command (page loads included).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `wait_for` and friends wait for an element or a page to appear.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long ChromeDriver may take to answer `/status`, and Chromium to open a session.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often waits poll.
const POLL: Duration = Duration::from_millis(50);

/// axe-core's browser bundle (npm `axe-core`, installed by scripts/ensure-tools), unless
/// `BEIAN_AXE` names another file.
pub const AXE: &str = "/usr/local/lib/beian-tools/node_modules/axe-core/axe.min.js";

/// The page's width problems (see [`Browser::overflow`]). An element inside a box that
/// scrolls sideways (a wide table in its card) is reachable by scrolling that box: only the
/// page itself must not be wider than the viewport.
const OVERFLOW_JS: &str = r#"
var w = document.documentElement.clientWidth; var bad = [];
function scrolls(e) {
  for (var p = e.parentElement; p; p = p.parentElement) {
    var o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true;
  }
  return false;
}
if (document.documentElement.scrollWidth > w + 1) bad.push('page ' + document.documentElement.scrollWidth + 'px > ' + w + 'px');
document.querySelectorAll('body *').forEach(function (e) {
  var r = e.getBoundingClientRect(); if (r.width === 0 || getComputedStyle(e).visibility === 'hidden') return;
  if (r.right > w + 1 && getComputedStyle(e).position !== 'absolute' && !e.closest('.sr-only') && !scrolls(e))
    bad.push('overflows: ' + e.tagName + ' ' + (e.id || e.className) + ' ' + (e.innerText || '').slice(0, 20));
});
document.querySelectorAll('.btn, button, header.top nav a, th, td').forEach(function (e) {
  var r = e.getBoundingClientRect(); var t = (e.innerText || '').trim();
  if (r.width > 0 && t.length >= 2 && t.length <= 6 && r.height > 2 * r.width) bad.push('vertical text: ' + t);
});
return bad.slice(0, 20);
"#;

/// Chromium, unless `BEIAN_CHROMIUM` names another binary.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// ChromeDriver, unless `BEIAN_CHROMEDRIVER` names another binary.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// The moment a [`TestServer`]'s clock starts at: Monday 2026-03-02 10:00 Beijing time.
pub fn start_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().expect("valid start time")
}

/// beian on `127.0.0.1:<random port>` with a fresh SQLite data directory and a manual clock.
/// Stops when dropped (or, checking it shut down cleanly, with [`TestServer::stop`]).
pub struct TestServer {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    pub svc: Arc<Service>,
    pub clock: Arc<ManualClock>,
    /// The data directory (database, media files, key); removed on drop.
    pub dir: tempfile::TempDir,
    /// The authority gateway its job worker uses (the simulator or the desk).
    pub gateway: Arc<dyn beian_ports::authority::AuthorityGateway>,
    server: Stoppable<anyhow::Result<()>>,
}

impl TestServer {
    /// With the built-in authority simulator (the journeys read its texts and use its page).
    pub async fn start() -> TestServer {
        TestServer::start_with(GatewayChoice::Simulator).await
    }

    /// With the authority reached through `gateway` (the manual desk's tests).
    pub async fn start_with(gateway: GatewayChoice) -> TestServer {
        let dir = tempfile::Builder::new().prefix("beian-browser-data-").tempdir().expect("data tempdir");
        let args = ConfigArgs {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_path_buf()),
            // The journeys read the codes texted to people from the development outbox.
            sms_outbox: Some(true),
            ..ConfigArgs::default()
        };
        let config = Config::resolve(&args).expect("config");
        let clock = Arc::new(ManualClock::new(start_time()));
        let (store, svc) = beian::app::open(&config, clock.clone()).await.expect("open the service");
        // Deadlines far away, so the automatic clearance sweep stays out of tests that do not
        // ask for it.
        beian_testkit::service::far_deadlines(&svc).await;
        let channels = beian::app::channels(&config, &svc).expect("channels");
        let app = Application::with_service(&config.listen, &store, svc.clone(), gateway)
            .await
            .expect("bind 127.0.0.1:0")
            .with_channels(channels)
            .with_worker_poll(Duration::from_millis(20));
        let base = format!("http://{}", app.local_addr().expect("local address"));
        let gateway: Arc<dyn beian_ports::authority::AuthorityGateway> = match (app.simulator(), app.desk()) {
            (Some(sim), _) => sim,
            (None, Some(desk)) => desk,
            (None, None) => panic!("the browser tests run the simulator or the desk"),
        };
        let server = Stoppable::spawn(|stop| app.run(stop));
        TestServer { base, svc, clock, dir, gateway, server }
    }

    /// `base` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stop the server and check it shut down cleanly.
    pub async fn stop(self) {
        let res = tokio::time::timeout(STEP_TIMEOUT, self.server.stop()).await.expect("server stops in time");
        res.expect("server stopped cleanly");
    }
}

// ---------------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------------

/// Headless Chromium through ChromeDriver. See the crate documentation.
pub struct Browser {
    // Field order matters: the client goes first, then ChromeDriver (which closes the session
    // and kills the processes), then the profile directory Chromium was writing to.
    client: Client,
    driver: Driver,
    _profile: tempfile::TempDir,
    /// Every request URL seen so far, and how many of them were already checked.
    requests: Mutex<(Vec<String>, usize)>,
    /// Whether a helper already saved the browser's state before panicking.
    failure_saved: AtomicBool,
}

impl Drop for Browser {
    /// A test panicking with the browser open (a failed `assert!` in the test itself): keep a
    /// last screenshot and the page source. The session is ended by `Driver`'s drop.
    fn drop(&mut self) {
        if !std::thread::panicking() || self.failure_saved.load(Ordering::SeqCst) {
            return;
        }
        let Some(id) = self.driver.session.clone() else { return };
        let port = self.driver.port;
        let get = |what: &str| {
            let (status, body) =
                http_call(port, "GET", &format!("/session/{id}/{what}"), None, Duration::from_secs(10))
                    .ok()?;
            let v: Value = serde_json::from_str(&body).ok()?;
            (status == 200).then(|| v["value"].as_str().map(str::to_string)).flatten()
        };
        let mut saved = Vec::new();
        if let Some(png) = get("screenshot").and_then(|b| BASE64.decode(b).ok()) {
            let path = self.driver.artifacts.path("PANIC", "png");
            if std::fs::write(&path, png).is_ok() {
                saved.push(path.display().to_string());
            }
        }
        if let Some(html) = get("source") {
            let path = self.driver.artifacts.path("PANIC", "html");
            if std::fs::write(&path, html).is_ok() {
                saved.push(path.display().to_string());
            }
        }
        if !saved.is_empty() {
            eprintln!("browser state saved: {}", saved.join(", "));
        }
    }
}

/// Where a test's screenshots go, and their running number.
struct Artifacts {
    dir: PathBuf,
    next: AtomicU32,
}

impl Artifacts {
    fn path(&self, name: &str, ext: &str) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        self.dir.join(format!("{n:02}-{}.{ext}", sanitize(name)))
    }
}

/// The running ChromeDriver; dropping it ends the session and every process it started.
struct Driver {
    child: Child,
    port: u16,
    session: Option<String>,
    artifacts: Arc<Artifacts>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        shut_down(&mut self.child, self.port, self.session.as_deref());
    }
}

impl Browser {
    /// Start ChromeDriver and a fresh headless Chromium session. `test` names the artifacts
    /// folder `test-artifacts/<test>/` (emptied first), so use the test function's name.
    pub async fn start(test: &str) -> Browser {
        let chromium = binary("BEIAN_CHROMIUM", CHROMIUM);
        let chromedriver = binary("BEIAN_CHROMEDRIVER", CHROMEDRIVER);
        let dir = artifacts_root().join(sanitize(test));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let artifacts = Arc::new(Artifacts { dir, next: AtomicU32::new(1) });

        let mut driver = start_driver(&chromedriver, artifacts.clone()).await;
        let profile = tempfile::Builder::new().prefix("beian-chromium-").tempdir().expect("profile tempdir");
        let caps = capabilities(&chromium, profile.path());
        let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let url = format!("http://127.0.0.1:{}", driver.port);
        let client = match tokio::time::timeout(START_TIMEOUT, builder.connect(&url)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!(
                "ChromeDriver could not start Chromium ({}): {e}; see {}",
                chromium.display(),
                artifacts.dir.join("chromedriver.log").display()
            ),
            Err(_) => panic!("Chromium did not start within {START_TIMEOUT:?}"),
        };
        driver.session =
            tokio::time::timeout(STEP_TIMEOUT, client.session_id()).await.ok().and_then(|r| r.ok()).flatten();
        assert!(driver.session.is_some(), "no WebDriver session id");
        let browser = Browser {
            client,
            driver,
            _profile: profile,
            requests: Mutex::default(),
            failure_saved: AtomicBool::new(false),
        };
        // Forget what the browser loaded on its own before the test's first page.
        browser.read_log("performance").await;
        browser.read_log("browser").await;
        browser
    }

    /// The fantoccini client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// ChromeDriver's process id followed by those of every process it started (Chromium's).
    pub fn process_ids(&self) -> Vec<u32> {
        let root = self.driver.child.id();
        let mut ids = vec![root];
        ids.extend(descendants(root));
        ids
    }

    /// The folder this test's screenshots go to.
    pub fn artifacts_dir(&self) -> &Path {
        &self.driver.artifacts.dir
    }

    /// Navigate to `url` (absolute) and wait for the page to load.
    pub async fn goto(&self, url: &str) {
        self.step(&format!("open {url}"), self.client.goto(url)).await;
    }

    pub async fn current_url(&self) -> String {
        self.step("read the current URL", self.client.current_url()).await.to_string()
    }

    /// The page's path and query (`/miit/verify?x=1`), without the origin.
    pub async fn current_path(&self) -> String {
        let url = self.step("read the current URL", self.client.current_url()).await;
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    pub async fn title(&self) -> String {
        self.step("read the title", self.client.title()).await
    }

    /// The serialized DOM as it is now.
    pub async fn page_source(&self) -> String {
        self.step("read the page source", self.client.source()).await
    }

    /// The text a reader sees on the page (`document.body.innerText`).
    pub async fn body_text(&self) -> String {
        let v = self.js("return document.body ? document.body.innerText : '';").await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Whether the page's visible text contains `needle`.
    pub async fn has_text(&self, needle: &str) -> bool {
        self.body_text().await.contains(needle)
    }

    /// Panic (with a screenshot) unless the page's visible text contains `needle`.
    pub async fn assert_text(&self, needle: &str) {
        let text = self.body_text().await;
        if !text.contains(needle) {
            self.fail(&format!("expected the page to show {needle:?}; it shows:\n{text}")).await;
        }
    }

    /// Wait (bounded) until an element matching `css` exists, and return it.
    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            match tokio::time::timeout(STEP_TIMEOUT, self.client.find(Locator::Css(css))).await {
                Ok(Ok(e)) => return e,
                Ok(Err(e)) if e.is_no_such_element() && Instant::now() < deadline => {}
                Ok(Err(e)) if e.is_no_such_element() => {
                    self.fail(&format!("no element matches {css:?} after {WAIT_TIMEOUT:?}")).await
                }
                Ok(Err(e)) => self.fail(&format!("finding {css:?}: {e}")).await,
                Err(_) => self.fail(&format!("finding {css:?}: no answer within {STEP_TIMEOUT:?}")).await,
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether an element matching `css` exists right now (no waiting).
    pub async fn exists(&self, css: &str) -> bool {
        !self.step(&format!("find {css:?}"), self.client.find_all(Locator::Css(css))).await.is_empty()
    }

    /// Every element matching `css` right now (no waiting).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.step(&format!("find {css:?}"), self.client.find_all(Locator::Css(css))).await
    }

    /// The visible text of the (first) element matching `css`, waiting for it to exist.
    pub async fn text(&self, css: &str) -> String {
        let e = self.wait_for(css).await;
        self.step(&format!("read the text of {css:?}"), e.text()).await
    }

    /// The value of attribute `name` of the element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let e = self.wait_for(css).await;
        self.step(&format!("read {name} of {css:?}"), e.attr(name)).await
    }

    /// The current value of a form field (its `value` property, which follows typing).
    pub async fn value(&self, css: &str) -> String {
        let e = self.wait_for(css).await;
        self.step(&format!("read the value of {css:?}"), e.prop("value")).await.unwrap_or_default()
    }

    /// Clear the field matching `css` and type `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.wait_for(css).await;
        self.step(&format!("clear {css:?}"), e.clear()).await;
        self.step(&format!("type into {css:?}"), e.send_keys(text)).await;
    }

    /// Choose the `<option>` with value `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        let e = self.wait_for(css).await;
        self.step(&format!("select {value:?} in {css:?}"), e.select_by_value(value)).await;
    }

    /// Click the element matching `css` (no waiting for what follows; see [`Browser::submit`]).
    pub async fn click(&self, css: &str) {
        let e = self.wait_for(css).await;
        self.step(&format!("click {css:?}"), e.click()).await;
    }

    /// Click the element matching `css` and wait (bounded) until the next page has loaded,
    /// also when it has the same URL (a form posting back to itself).
    pub async fn submit(&self, css: &str) {
        self.js("window.__beianLeaving = true; return null;").await;
        self.click(css).await;
        self.wait_for_new_page().await;
    }

    /// Click the submit button matching `css` of a form that asks for confirmation
    /// (`data-confirm`): answer the dialog with `accept`, and, when accepted, wait for the next
    /// page. Returns the question the dialog asked.
    pub async fn submit_confirmed(&self, css: &str, accept: bool) -> String {
        self.js("window.__beianLeaving = true; return null;").await;
        self.click(css).await;
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let question = loop {
            match tokio::time::timeout(STEP_TIMEOUT, self.client.get_alert_text()).await {
                Ok(Ok(t)) => break t,
                _ if Instant::now() < deadline => tokio::time::sleep(POLL).await,
                _ => self.fail(&format!("clicking {css:?} asked no confirmation")).await,
            }
        };
        if accept {
            self.step("accept the confirmation", self.client.accept_alert()).await;
            self.wait_for_new_page().await;
        } else {
            self.step("dismiss the confirmation", self.client.dismiss_alert()).await;
            self.js("window.__beianLeaving = false; return null;").await;
        }
        question
    }

    /// Make the viewport `width` CSS pixels wide (and 900 high), as on a phone (390) or a
    /// laptop (1280); the page is laid out again at once.
    pub async fn set_width(&self, width: u32) {
        self.step("resize the window", self.client.set_window_size(width, 900)).await;
        // The window may be wider than its viewport (a frame): widen by the difference.
        let inner = self.js("return window.innerWidth;").await.as_u64().unwrap_or(0) as u32;
        if inner != width && inner > 0 {
            let outer = width + width.saturating_sub(inner);
            self.step("resize the window", self.client.set_window_size(outer, 900)).await;
        }
        let inner = self.js("return window.innerWidth;").await.as_u64().unwrap_or(0) as u32;
        if inner != width {
            self.fail(&format!("the viewport is {inner} px wide, not {width}")).await;
        }
    }

    /// Panic (with a screenshot) if the page is wider than the viewport (a horizontal scroll
    /// bar), or if a button, link button or menu entry wraps its text one character per line
    /// (taller than wide), naming the offenders.
    pub async fn assert_fits_width(&self) {
        let bad = self.overflow().await;
        if !bad.is_empty() {
            self.fail(&format!("the page does not fit: {bad:?}")).await;
        }
    }

    /// What makes the page wider than the viewport, or wraps a short label one character per
    /// line (see [`Browser::assert_fits_width`]); empty when the page fits.
    pub async fn overflow(&self) -> Vec<String> {
        let bad = self.js(OVERFLOW_JS).await;
        bad.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
    }

    /// Run axe-core on the page as it is now and panic (with a screenshot) on any violation of
    /// serious or critical impact, naming the rule, its help text and the offending elements.
    pub async fn assert_accessible(&self) {
        let list = self.accessibility_violations().await;
        if !list.is_empty() {
            self.fail(&format!("accessibility violations:\n  {}", list.join("\n  "))).await;
        }
    }

    /// axe-core's violations of serious or critical impact on the page as it is now, one line
    /// each: impact, rule, help text, the first offending elements.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let path = binary("BEIAN_AXE", AXE);
        let axe =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        if self.js("return typeof window.axe;").await != "object" {
            self.step("inject axe-core", self.client.execute(&axe, vec![])).await;
        }
        let run = "const done = arguments[arguments.length - 1];\
            axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations\
              .filter(v => v.impact === 'serious' || v.impact === 'critical')\
              .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(', '))))\
              .catch(e => done(['axe failed: ' + e]));";
        let found = self.step("run axe-core", self.client.execute_async(run, vec![])).await;
        found.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
    }

    /// Wait (bounded) until the page that was open at the last [`Browser::submit`] has been
    /// replaced and the new one has loaded.
    async fn wait_for_new_page(&self) {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let probe = "return !window.__beianLeaving && document.readyState === 'complete';";
        loop {
            // While the old page unloads, scripts may fail; that only means "not yet".
            if let Ok(Ok(Value::Bool(true))) =
                tokio::time::timeout(STEP_TIMEOUT, self.client.execute(probe, vec![])).await
            {
                return;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("no new page loaded within {WAIT_TIMEOUT:?}")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Put a local file into the `<input type=file>` matching `css` (WebDriver "types" the
    /// absolute path into it; ChromeDriver runs on this machine, so it reads the file
    /// directly). The input may be hidden: only its presence is needed.
    pub async fn upload(&self, css: &str, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let abs = std::fs::canonicalize(path).unwrap_or_else(|e| panic!("upload {}: {e}", path.display()));
        let e = self.wait_for(css).await;
        let abs = abs.to_str().expect("upload path is UTF-8");
        self.step(&format!("upload {abs} into {css:?}"), e.send_keys(abs)).await;
    }

    /// Several files into one `<input type=file multiple>` (paths joined by newlines).
    pub async fn upload_many(&self, css: &str, paths: &[&Path]) {
        let abs: Vec<String> = paths
            .iter()
            .map(|p| {
                let a = std::fs::canonicalize(p).unwrap_or_else(|e| panic!("upload {}: {e}", p.display()));
                a.to_str().expect("upload path is UTF-8").to_string()
            })
            .collect();
        let e = self.wait_for(css).await;
        self.step(&format!("upload {} files into {css:?}", abs.len()), e.send_keys(&abs.join("\n"))).await;
    }

    /// Run `script` (a function body: use `return`) in the page and give back its result.
    pub async fn js(&self, script: &str) -> Value {
        self.step("run a script", self.client.execute(script, vec![])).await
    }

    /// Save a screenshot of the viewport as `test-artifacts/<test>/NN-<name>.png`; returns
    /// the file's path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.step(&format!("screenshot {name}"), self.client.screenshot()).await;
        let path = self.driver.artifacts.path(name, "png");
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    /// Every http(s)/ws(s) URL the browser requested so far (navigations, form posts, images,
    /// styles, scripts, favicon...), in order.
    pub async fn requests(&self) -> Vec<String> {
        self.collect_requests().await;
        self.requests.lock().expect("requests lock").0.clone()
    }

    /// Panic unless every request since the last check went to the current page's origin
    /// (`data:`, `blob:` and `about:` URLs are local and allowed).
    pub async fn assert_same_origin(&self) {
        let url = self.step("read the current URL", self.client.current_url()).await;
        let origin = url.origin().ascii_serialization();
        self.collect_requests().await;
        let foreign: Vec<String> = {
            let mut g = self.requests.lock().expect("requests lock");
            let (seen, checked) = &mut *g;
            let foreign = seen[*checked..].iter().filter(|u| !same_origin(u, &origin)).cloned().collect();
            *checked = seen.len();
            foreign
        };
        if !foreign.is_empty() {
            self.fail(&format!(
                "the page requested other origins than {origin}:\n  {}",
                foreign.join("\n  ")
            ))
            .await;
        }
    }

    /// Messages the pages logged at level SEVERE (JavaScript errors, failed loads) so far.
    pub async fn console_errors(&self) -> Vec<String> {
        self.read_log("browser")
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Add the requests from Chrome's performance log and the page's Resource Timing entries.
    async fn collect_requests(&self) {
        let mut urls = Vec::new();
        for entry in self.read_log("performance").await {
            let Some(msg) = entry["message"].as_str() else { continue };
            let Ok(msg) = serde_json::from_str::<Value>(msg) else { continue };
            let msg = &msg["message"];
            match msg["method"].as_str() {
                Some("Network.requestWillBeSent") => {
                    if let Some(u) = msg["params"]["request"]["url"].as_str() {
                        urls.push(u.to_string());
                    }
                }
                Some("Network.webSocketCreated") => {
                    if let Some(u) = msg["params"]["url"].as_str() {
                        urls.push(u.to_string());
                    }
                }
                _ => {}
            }
        }
        // Belt and braces: what the current page itself reports having loaded. It mostly
        // repeats the log (which has every request, repeats included), so only URLs the log
        // never showed are added.
        let script =
            "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);";
        let mut reported = Vec::new();
        if let Ok(Ok(Value::Array(list))) =
            tokio::time::timeout(STEP_TIMEOUT, self.client.execute(script, vec![])).await
        {
            reported.extend(list.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
        let mut g = self.requests.lock().expect("requests lock");
        g.0.extend(urls.into_iter().filter(|u| is_network(u)));
        for u in reported.into_iter().filter(|u| is_network(u)) {
            if !g.0.contains(&u) {
                g.0.push(u);
            }
        }
    }

    /// Read (and so empty) one of ChromeDriver's logs.
    async fn read_log(&self, kind: &'static str) -> Vec<Value> {
        let (port, session) = (self.driver.port, self.driver.session.clone().unwrap_or_default());
        let body = json!({ "type": kind }).to_string();
        let res = tokio::task::spawn_blocking(move || {
            http_call(port, "POST", &format!("/session/{session}/se/log"), Some(&body), STEP_TIMEOUT)
        })
        .await
        .expect("log reader");
        match res {
            Ok((200, text)) => {
                let v: Value = serde_json::from_str(&text).expect("ChromeDriver log is JSON");
                v["value"].as_array().cloned().unwrap_or_default()
            }
            Ok((status, text)) => panic!("reading the {kind} log: HTTP {status}: {text}"),
            Err(e) => panic!("reading the {kind} log: {e}"),
        }
    }

    /// Await a WebDriver command (bounded); on error save a screenshot and panic.
    async fn step<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    ) -> T {
        match tokio::time::timeout(STEP_TIMEOUT, fut).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => self.fail(&format!("{what}: {e}")).await,
            Err(_) => self.fail(&format!("{what}: no answer within {STEP_TIMEOUT:?}")).await,
        }
    }

    /// Save what the browser shows (screenshot and page source), then panic with `msg`.
    async fn fail(&self, msg: &str) -> ! {
        self.failure_saved.store(true, Ordering::SeqCst);
        let saved = self.save_failure_state().await;
        panic!("{msg}\n(browser state saved: {saved})");
    }

    async fn save_failure_state(&self) -> String {
        let mut saved = Vec::new();
        let url = tokio::time::timeout(STEP_TIMEOUT, self.client.current_url()).await;
        if let Ok(Ok(url)) = url {
            saved.push(format!("at {url}"));
        }
        if let Ok(Ok(png)) = tokio::time::timeout(STEP_TIMEOUT, self.client.screenshot()).await {
            let path = self.driver.artifacts.path("FAILED", "png");
            if std::fs::write(&path, png).is_ok() {
                saved.push(path.display().to_string());
            }
        }
        if let Ok(Ok(html)) = tokio::time::timeout(STEP_TIMEOUT, self.client.source()).await {
            let path = self.driver.artifacts.path("FAILED", "html");
            if std::fs::write(&path, html).is_ok() {
                saved.push(path.display().to_string());
            }
        }
        saved.join(", ")
    }
}

/// The capabilities of a session: headless Chromium with a fresh profile, logging network
/// requests, no access to other hosts.
fn capabilities(chromium: &Path, profile: &Path) -> fantoccini::wd::Capabilities {
    let args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        "--window-size=1280,1600".into(),
        "--force-device-scale-factor=1".into(),
        "--hide-scrollbars".into(),
        "--lang=zh-CN".into(),
        // Nothing but the test server resolves: an external URL fails at once (and is still
        // recorded, so assert_same_origin reports it).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium.display().to_string(),
            "args": args,
            "prefs": { "intl.accept_languages": "zh-CN,zh" },
            "perfLoggingPrefs": { "enableNetwork": true, "enablePage": false },
        },
        "goog:loggingPrefs": { "performance": "ALL", "browser": "ALL" },
        "timeouts": { "pageLoad": 20_000, "script": 10_000, "implicit": 0 },
    });
    match caps {
        Value::Object(m) => m,
        _ => unreachable!("capabilities are an object"),
    }
}

/// Spawn ChromeDriver on a free port and wait (bounded) until it is ready. The port is found
/// by binding `127.0.0.1:0` and releasing it; if another process takes it meanwhile,
/// ChromeDriver exits and we try another one.
async fn start_driver(binary: &Path, artifacts: Arc<Artifacts>) -> Driver {
    let log_dir = artifacts.dir.clone();
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port();
        let log = std::fs::File::create(log_dir.join("chromedriver.log")).expect("chromedriver.log");
        let log2 = log.try_clone().expect("log handle");
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e} (run scripts/ensure-tools)", binary.display()));
        let mut driver = Driver { child, port, session: None, artifacts: artifacts.clone() };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = driver.child.try_wait() {
                last = format!("ChromeDriver exited with {status}");
                break;
            }
            let ready = tokio::task::spawn_blocking(move || {
                http_call(port, "GET", "/status", None, Duration::from_secs(2))
            })
            .await
            .expect("status probe");
            if let Ok((200, body)) = ready {
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                if v["value"]["ready"] == true {
                    return driver;
                }
            }
            if Instant::now() >= deadline {
                panic!("ChromeDriver did not become ready within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }
    panic!("ChromeDriver did not start: {last}; see {}", log_dir.join("chromedriver.log").display());
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// End the session (Chromium quits), then kill ChromeDriver and whatever it left running.
fn shut_down(child: &mut Child, port: u16, session: Option<&str>) {
    if let Some(id) = session {
        let _ = http_call(port, "DELETE", &format!("/session/{id}"), None, Duration::from_secs(10));
    }
    let mut pids = descendants(child.id());
    let _ = child.kill();
    let _ = child.wait();
    // Chromium's own processes, should any survive the session: children first is not
    // needed with SIGKILL, and re-parenting does not matter since we collected them above.
    pids.retain(|p| Path::new(&format!("/proc/{p}")).exists());
    for pid in pids {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Every process below `root`, from `/proc` (Linux).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
            // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse::<u32>().ok()) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// One HTTP/1.1 request to ChromeDriver, synchronously (usable in `Drop`): (status, body).
fn http_call(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    // ChromeDriver keeps connections open whatever the request says: read by Content-Length.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + timeout;
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
            let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()));
            let chunked = head.contains("transfer-encoding: chunked");
            let payload = &raw[split + 4..];
            let complete = match length {
                Some(n) => payload.len() >= n,
                None if chunked => payload.ends_with(b"0\r\n\r\n"),
                None => false,
            };
            if complete {
                let body = match length {
                    Some(n) => payload[..n].to_vec(),
                    None => dechunk(payload),
                };
                return Ok((status, String::from_utf8_lossy(&body).into_owned()));
            }
        }
        if Instant::now() >= deadline {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "HTTP response incomplete"));
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            // Closed: whatever arrived is the whole body.
            let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no headers"))?;
            let head = String::from_utf8_lossy(&raw[..split]);
            let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            return Ok((status, String::from_utf8_lossy(&raw[split + 4..]).into_owned()));
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        data = &data[eol + 2..];
        if size == 0 || size > data.len() {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
    out
}

/// Whether `url` goes over the network. `data:`, `blob:`, `about:` and the browser's own
/// pages (`chrome:`: the start tab) never leave the machine.
fn is_network(url: &str) -> bool {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
    ["http", "https", "ws", "wss", "ftp"].contains(&scheme.as_str())
}

/// Whether `url` stays on `origin`.
fn same_origin(url: &str, origin: &str) -> bool {
    if !is_network(url) {
        return true;
    }
    // A WebSocket to the page's own host and port is the same site.
    let ws_origin = origin.replacen("http", "ws", 1);
    [origin, ws_origin.as_str()]
        .iter()
        .any(|o| url == *o || url.strip_prefix(*o).is_some_and(|rest| rest.starts_with(['/', '?', '#'])))
}

fn binary(env: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    assert!(p.exists(), "{} is missing: run scripts/ensure-tools (or set {env})", p.display());
    p
}

/// `test-artifacts/` at the workspace root.
pub fn artifacts_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::canonicalize(&root).unwrap_or(root).join("test-artifacts")
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
