//! The web console in a real headless Chromium against a real broker: an operator
//! blocks an actor, restarts a broken group, creates a process from the form and
//! reads a process's dependency graph, all by clicking in the page. The broker side is
//! checked over the plain HTTP API. Every main view is saved as a PNG in
//! `target/console-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test.sh` installs them).

use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use suslik_tests::webdriver::Browser;
use suslik_tests::{eventually, Broker};

/// The broker's JSON API, as a worker or an operator script calls it.
struct Rest {
    http: reqwest::Client,
    base: String,
}

impl Rest {
    fn new(broker: &Broker) -> anyhow::Result<Rest> {
        Ok(Rest {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: format!("http://{}", broker.addr()),
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = r.status();
        let v: Value = r.json().await?;
        anyhow::ensure!(status.is_success(), "GET {path}: {status} {v}");
        Ok(v)
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await?;
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {v}");
        Ok(v)
    }

    /// Starts a process; returns its id.
    async fn start(&self, actor: &str, method: &str) -> anyhow::Result<String> {
        let r = self
            .post(
                "/api/v1/processes",
                json!({ "actor_id": actor, "method": method }),
            )
            .await?;
        Ok(r["process_id"].as_str().unwrap_or_default().to_string())
    }

    /// Whatever `actor` gets from one poll that does not wait.
    async fn poll(&self, actor: &str) -> anyhow::Result<Vec<Value>> {
        let r = self
            .post(
                "/api/v1/tasks/poll",
                json!({ "actor_id": actor, "max": 100, "wait_ms": 0 }),
            )
            .await?;
        Ok(r["tasks"].as_array().cloned().unwrap_or_default())
    }

    async fn release(&self, task: &Value, outcome: Value, tasks: Value) -> anyhow::Result<Value> {
        self.post(
            "/api/v1/tasks/release",
            json!({ "task_id": task["task_id"], "outcome": outcome, "tasks": tasks }),
        )
        .await
    }

    async fn state(&self, process_id: &str) -> anyhow::Result<String> {
        let p = self.get(&format!("/api/v1/processes/{process_id}")).await?;
        Ok(p["state"].as_str().unwrap_or_default().to_string())
    }
}

/// A broker, its REST API and a browser on its console.
struct Setup {
    broker: Broker,
    rest: Rest,
    browser: Browser,
}

impl Setup {
    async fn new() -> anyhow::Result<Setup> {
        let broker = Broker::start().await?;
        let rest = Rest::new(&broker)?;
        let browser = Browser::launch().await?;
        Ok(Setup {
            broker,
            rest,
            browser,
        })
    }

    /// Opens `#/<route>` and waits until the view has loaded its data.
    async fn open(&self, route: &str) -> anyhow::Result<()> {
        let view = route.split(['/', '?']).next().unwrap_or_default();
        self.browser
            .goto(&format!("http://{}/console#/{route}", self.broker.addr()))
            .await?;
        self.browser
            .wait_until(
                &format!("the {view} view"),
                &format!("document.getElementById('main').dataset.loaded === {view:?}"),
            )
            .await
    }

    async fn finish(self) -> anyhow::Result<()> {
        self.browser.close().await?;
        self.broker.stop().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_an_actor_in_the_actors_view_makes_its_polls_return_nothing() -> anyhow::Result<()>
{
    let t = Setup::new().await?;
    let blocky = "blocky.Decider#1";
    t.rest.start(blocky, "go").await?;
    t.rest.start("calm.Decider#1", "go").await?;

    t.open("actors").await?;
    let block = format!("button[data-action=block][data-actor={blocky:?}]");
    t.browser.click(&block).await?;
    t.browser
        .find(&format!(
            "button[data-action=unblock][data-actor={blocky:?}]"
        ))
        .await?;
    t.browser.screenshot("actors").await?;

    assert!(
        t.rest.poll(blocky).await?.is_empty(),
        "a blocked actor's poll gets nothing"
    );
    let actors = t.rest.get("/api/v1/actors").await?;
    let row = actors["items"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["actor_id"] == blocky).cloned())
        .ok_or_else(|| anyhow::anyhow!("{blocky} is not listed: {actors}"))?;
    assert_eq!(row["blocked"], true);
    assert_eq!(row["queued"], 1, "its queue keeps its task");

    // Compare the two actors side by side.
    for actor in [blocky, "calm.Decider#1"] {
        t.browser
            .click(&format!("input.pick[data-actor={actor:?}]"))
            .await?;
    }
    t.browser.click("#compare-button").await?;
    t.browser.find("#compare table").await?;
    let compared = t.browser.text("#compare table").await?;
    assert!(compared.contains(blocky) && compared.contains("calm.Decider#1"));
    t.browser.screenshot("actors-compare").await?;

    t.browser
        .click(&format!(
            "button[data-action=unblock][data-actor={blocky:?}]"
        ))
        .await?;
    t.browser.find(&block).await?;
    let tasks = t.rest.poll(blocky).await?;
    assert_eq!(tasks.len(), 1, "unblocked, the waiting task is handed out");
    t.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_a_broken_group_in_the_broken_view_lets_its_processes_finish(
) -> anyhow::Result<()> {
    let t = Setup::new().await?;
    let fragile = "fragile.Decider#1";
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(t.rest.start(fragile, "go").await?);
    }
    let other = t.rest.start("sturdy.Decider#1", "go").await?;
    for task in t.rest.poll(fragile).await? {
        let error = json!({"error": {"error_type": "test.Boom", "message": "the disk is full"}});
        t.rest.release(&task, error, json!([])).await?;
    }
    for task in t.rest.poll("sturdy.Decider#1").await? {
        let error = json!({"error": {"error_type": "test.Other", "message": "unrelated"}});
        t.rest.release(&task, error, json!([])).await?;
    }
    for id in ids.iter().chain([&other]) {
        assert_eq!(t.rest.state(id).await?, "broken");
    }

    t.open("broken").await?;
    let restart = "button[data-action=restart][data-key=\"test.Boom\"]";
    t.browser
        .click("button[data-action=preview][data-key=\"test.Boom\"]")
        .await?;
    t.browser.find("#restart-preview tbody tr").await?;
    let preview = t.browser.text("#restart-preview").await?;
    assert!(
        preview.contains(fragile),
        "the preview names the task to re-run: {preview}"
    );
    t.browser.screenshot("broken").await?;
    t.browser.click(restart).await?;
    t.browser.click("#confirm-yes").await?;
    t.browser.find("#broken-message .success").await?;
    let said = t.browser.text("#broken-message").await?;
    assert!(said.contains('3'), "three processes restarted: {said}");

    // The failed tasks are handed out again; this time they succeed.
    let done = std::sync::Mutex::new(HashSet::new());
    eventually("the restarted tasks to be re-run", || async {
        for task in t.rest.poll(fragile).await? {
            t.rest
                .release(&task, json!({"value": "ok"}), json!([]))
                .await?;
            let process = task["process_id"].as_str().unwrap_or_default().to_string();
            done.lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .insert(process);
        }
        Ok(done.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.len() == 3)
    })
    .await?;
    for id in &ids {
        assert_eq!(t.rest.state(id).await?, "finished");
    }
    assert_eq!(
        t.rest.state(&other).await?,
        "broken",
        "the other group is untouched"
    );
    t.browser
        .wait_until(
            "the test.Boom group to disappear",
            "!document.querySelector('button[data-key=\"test.Boom\"]')",
        )
        .await?;
    t.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_create_form_starts_a_process_and_explains_bad_input() -> anyhow::Result<()> {
    let t = Setup::new().await?;
    let maker = "maker.Decider#1";
    t.open("create").await?;
    let b = &t.browser;
    b.type_into("#create-actor", maker).await?;
    b.type_into("#create-method", "build").await?;
    b.type_into("#create-args", "[1, ").await?;
    b.click("#create-submit").await?;
    let error = b.text("#create-error").await?;
    assert!(error.contains("not valid JSON"), "{error}");
    b.screenshot("create-error").await?;

    // The broker's own validation, shown as it answers.
    b.type_into("#create-actor", "no-version").await?;
    b.type_into("#create-args", "[]").await?;
    b.click("#create-submit").await?;
    b.wait_until(
        "the broker's refusal",
        "(document.querySelector('#create-error')?.textContent || '').includes('refused')",
    )
    .await?;
    let processes = t.rest.get("/api/v1/processes").await?;
    assert_eq!(processes["total"], 0, "nothing was started: {processes}");

    b.type_into("#create-actor", maker).await?;
    b.type_into("#create-custom-id", "order-42").await?;
    b.type_into("#create-args", r#"[{"n": 1}, "two"]"#).await?;
    b.click("#create-submit").await?;
    b.find("#create-ok a[data-process-id]").await?;
    let id: String = b
        .eval(
            "return document.querySelector('#create-ok a').dataset.processId;",
            vec![],
        )
        .await?;
    b.screenshot("create").await?;
    let p = t.rest.get(&format!("/api/v1/processes/{id}")).await?;
    assert_eq!(p["starter"], maker);
    assert_eq!(p["custom_id"], "order-42");
    let tasks = t.rest.poll(maker).await?;
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[0]["args"],
        json!([{"value": {"n": 1}}, {"value": "two"}])
    );

    // The new process is found by its custom id prefix.
    t.open("processes?custom_id=order").await?;
    b.find(&format!("#processes-table a[href=\"#/process/{id}\"]"))
        .await?;
    b.screenshot("processes").await?;
    t.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_page_draws_the_promise_dependencies_between_tasks() -> anyhow::Result<()> {
    let t = Setup::new().await?;
    let pid = t.rest.start("graph.Decider#1", "plan").await?;
    let start = t
        .rest
        .poll("graph.Decider#1")
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no start task"))?;
    let d = start["task_id"].as_str().unwrap_or_default().to_string();
    let [a, b, c, e] = [(); 4].map(|_| uuid());
    let worker = |id: &str, method: &str, args: Value, options: Value| {
        json!({"task_id": id, "actor_id": "graph.Worker#1", "method": method, "kind": "worker",
               "args": args, "options": options})
    };
    let spawned = json!([
        worker(&a, "fetch_prices", json!([]), json!({})),
        worker(&b, "fetch_stock", json!([]), json!({})),
        worker(&e, "audit", json!([]), json!({})),
        worker(
            &c,
            "combine",
            json!([{"promise": {"task_id": a}}, {"promise": {"task_id": b, "no_wait": true}}]),
            json!({"wait_for": [e]}),
        ),
    ]);
    t.rest
        .release(&start, json!({ "promise": c }), spawned)
        .await?;
    // One worker task finishes, so the graph shows a resolved node too.
    let fetched = t.rest.poll("graph.Worker#1").await?;
    let prices = fetched
        .iter()
        .find(|x| x["task_id"] == a.as_str())
        .ok_or_else(|| anyhow::anyhow!("fetch_prices was not handed out: {fetched:?}"))?;
    t.rest
        .release(prices, json!({"value": {"apples": 3}}), json!([]))
        .await?;

    t.open(&format!("process/{pid}")).await?;
    let br = &t.browser;
    br.find("svg.graph g.edges path.edge[data-kind=forward]")
        .await?;
    let edges: Vec<(String, String, String)> = br
        .eval(
            "return Array.from(document.querySelectorAll('svg.graph g.edges path.edge'))\
             .map(p => [p.dataset.from, p.dataset.to, p.dataset.kind]);",
            vec![],
        )
        .await?;
    let edges: HashSet<(String, String, String)> = edges.into_iter().collect();
    let edge = |f: &str, t: &str, k: &str| (f.to_string(), t.to_string(), k.to_string());
    for expected in [
        edge(&a, &c, "arg"),
        edge(&b, &c, "no_wait"),
        edge(&e, &c, "wait_for"),
        edge(&c, &d, "forward"),
        edge(&d, &a, "spawned"),
        edge(&d, &c, "spawned"),
    ] {
        assert!(
            edges.contains(&expected),
            "{expected:?} not drawn in {edges:?}"
        );
    }
    let nodes: usize = br
        .eval(
            "return document.querySelectorAll('svg.graph g.node').length;",
            vec![],
        )
        .await?;
    assert_eq!(nodes, 5);
    let status: String = br
        .eval(
            "return document.querySelector(`svg.graph g.node[data-task-id=\"${arguments[0]}\"]`).dataset.status;",
            vec![json!(a)],
        )
        .await?;
    assert_eq!(status, "resolved");
    br.screenshot("process").await?;

    // A node opens its task page with the result.
    br.click(&format!("svg.graph g.node[data-task-id=\"{a}\"]"))
        .await?;
    let result = br.text("#task-result").await?;
    assert!(result.contains("apples"), "{result}");
    br.screenshot("task").await?;
    t.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_process_is_aborted_from_its_page_after_a_confirmation() -> anyhow::Result<()> {
    let t = Setup::new().await?;
    let pid = t.rest.start("doomed.Decider#1", "go").await?;
    t.open(&format!("process/{pid}")).await?;
    t.browser.click("#abort").await?;
    t.browser.find("#confirm").await?;
    assert_eq!(
        t.rest.state(&pid).await?,
        "running",
        "nothing before the confirmation"
    );
    t.browser.click("#confirm-yes").await?;
    t.browser
        .wait_until(
            "the aborted state on the page",
            "document.querySelector('.props .badge.aborted') !== null",
        )
        .await?;
    assert_eq!(t.rest.state(&pid).await?, "aborted");
    assert!(
        t.rest.poll("doomed.Decider#1").await?.is_empty(),
        "its queued start task is gone"
    );
    t.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_main_view_renders_and_survives_a_reload() -> anyhow::Result<()> {
    let t = Setup::new().await?;
    for n in 0..3 {
        t.rest
            .start(&format!("shop{n}.Checkout#1"), "start")
            .await?;
    }
    // Some traffic for the activity columns and the sparklines.
    t.rest.start("shop0.Checkout#1", "start").await?;
    for task in t.rest.poll("shop0.Checkout#1").await? {
        t.rest
            .release(&task, json!({"value": 1}), json!([]))
            .await?;
    }
    for view in ["queues", "monitoring"] {
        t.open(view).await?;
        t.browser.screenshot(view).await?;
    }

    // Schedules: create one from the form, run it now, pause it.
    t.open("schedules").await?;
    let b = &t.browser;
    b.type_into("#schedule-form [name=name]", "hourly-report")
        .await?;
    b.click("#schedule-form [name=when] option[value=interval]")
        .await?;
    b.type_into("#schedule-form [name=spec]", "3600000").await?;
    b.type_into("#schedule-form [name=actor_id]", "report.Hourly#1")
        .await?;
    b.type_into("#schedule-form [name=method]", "run").await?;
    b.click("#schedule-submit").await?;
    b.click("button[data-action=run][data-name=hourly-report]")
        .await?;
    b.wait_until(
        "the run-now answer",
        "(document.querySelector('#schedule-message')?.textContent || '').includes('started process')",
    )
    .await?;
    b.click("button[data-action=pause][data-name=hourly-report]")
        .await?;
    b.find("button[data-action=resume][data-name=hourly-report]")
        .await?;
    let schedules = t.rest.get("/api/v1/schedules").await?;
    assert_eq!(schedules["items"][0]["paused"], true, "{schedules}");
    assert_eq!(schedules["items"][0]["fired"], 1, "{schedules}");
    let started = t.rest.get("/api/v1/processes?actor=report.").await?;
    assert_eq!(
        started["total"], 1,
        "run now started one process: {started}"
    );
    b.screenshot("schedules").await?;
    // Queues: the prefix filter lives in the URL and survives a reload.
    t.open("queues?prefix=shop1").await?;
    t.browser
        .eval::<Value>("location.reload(); return null;", vec![])
        .await?;
    t.browser
        .wait_until(
            "the filtered queue list after a reload",
            "document.getElementById('main').dataset.loaded === 'queues' \
             && document.querySelectorAll('#queues-table tbody tr').length === 1",
        )
        .await?;
    let rows = t.browser.text("#queues-table tbody").await?;
    assert!(rows.contains("shop1.Checkout#1"), "{rows}");
    let actor = "shop1.Checkout#1";
    t.browser
        .click("#queues-table tbody a[href^=\"#/queue/\"]")
        .await?;
    t.browser
        .find("main table tbody a[href^=\"#/task/\"]")
        .await?;
    let queue = t
        .rest
        .get(&format!(
            "/api/v1/queues/{}/tasks",
            actor.replace('#', "%23")
        ))
        .await?;
    assert_eq!(queue["total"], 1);
    t.finish().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_on_a_protected_broker_asks_for_the_operator_token() -> anyhow::Result<()> {
    let broker = Broker::start_with(|cfg| {
        cfg.auth.operator_token = Some("let-me-in".into());
    })
    .await?;
    let b = Browser::launch().await?;
    b.goto(&format!("http://{}/console#/processes", broker.addr()))
        .await?;
    b.wait_until(
        "the sign-in form",
        "!document.getElementById('login').hidden",
    )
    .await?;
    b.type_into("#login-token", "guess").await?;
    b.click("#login-form button").await?;
    b.wait_until(
        "the refusal",
        "document.getElementById('login-error').textContent.includes('refused')",
    )
    .await?;
    b.type_into("#login-token", "let-me-in").await?;
    b.click("#login-form button").await?;
    b.find("#processes-table").await?;
    let hidden: bool = b
        .eval("return document.getElementById('login').hidden;", vec![])
        .await?;
    assert!(hidden, "signed in, the form is gone");
    b.click("#sign-out").await?;
    b.wait_until(
        "the sign-in form after signing out",
        "!document.getElementById('login').hidden && !sessionStorage.getItem('suslik.token')",
    )
    .await?;
    b.close().await?;
    broker.stop().await
}

fn uuid() -> String {
    suslik_broker::model::TaskId::random().to_string()
}
