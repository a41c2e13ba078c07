// Closed-loop load for the Restate peer of suslik-bench: N processes (invocations of
// fan/run through Restate's HTTP ingress), C in flight; a new one starts when one
// finishes. Every result is checked against (n+1)+(n+2)+(n+3); an HTTP error, a timeout
// or a wrong result counts as an error. Latency runs from just before the request is
// sent until its response (the process's result) has been read.
//
// Prints one JSON line with the same fields as graphile-fanout.js (percentiles by nearest
// rank, as suslik-bench). Exit status 1 if any process failed.
//
// usage: node restate-load.js N C INGRESS_URL   (e.g. http://127.0.0.1:8080)

const N = parseInt(process.argv[2] || "2000", 10);
const C = parseInt(process.argv[3] || "50", 10);
const base = (process.argv[4] || "http://127.0.0.1:8080").replace(/\/$/, "");
const TIMEOUT_MS = 60_000;

const expected = (n) => (n + 1) + (n + 2) + (n + 3);
let next = 0;
let httpErrors = 0;
let wrong = 0;
let firstError = null;
const latencies = [];

async function one(n) {
  const began = performance.now();
  try {
    const r = await fetch(`${base}/fan/run`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(n),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await r.text();
    if (!r.ok) {
      httpErrors++;
      firstError ??= `HTTP ${r.status}: ${text.slice(0, 200)}`;
      return;
    }
    if (JSON.parse(text) !== expected(n)) {
      wrong++;
      firstError ??= `fan/run(${n}) returned ${text.slice(0, 100)}`;
      return;
    }
    latencies.push(performance.now() - began);
  } catch (e) {
    httpErrors++;
    firstError ??= `fan/run(${n}): ${e.message}`;
  }
}

async function lane() {
  while (next < N) {
    await one(next++);
  }
}

(async () => {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: C }, lane));
  const secs = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  // Nearest rank: the ceil(q*n)-th smallest sample.
  const q = (p) => latencies.length === 0 ? 0
    : latencies[Math.min(latencies.length, Math.max(1, Math.ceil(p * latencies.length))) - 1];
  const finished = latencies.length;
  if (firstError) console.error(`restate-load: first error: ${firstError}`);
  console.log(JSON.stringify({
    engine: "restate",
    processes: N, finished, concurrency: C, secs: +secs.toFixed(3),
    processes_per_s: +(finished / secs).toFixed(1), tasks_per_s: +((5 * finished) / secs).toFixed(1),
    p50_ms: +q(0.5).toFixed(1), p99_ms: +q(0.99).toFixed(1),
    wrong_results: wrong, errors: httpErrors + wrong,
  }));
  process.exit(httpErrors + wrong === 0 ? 0 : 1);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
