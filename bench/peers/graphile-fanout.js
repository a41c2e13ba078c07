// The fan-out/fan-in workload of suslik-bench on graphile-worker (a Postgres job queue).
//
// Per process, five jobs, as in Suslik (decider + 3 steps + sum):
//   start(n)      -> adds step(n), step(n+1), step(n+2)          (the "decider")
//   step(x)       -> stores x+1; the last of the three adds sum  (fan-in counter row)
//   sum()         -> adds the three stored values, stores the result, NOTIFY done
// Each job's effects and the job completion commit in Postgres (fsync on, synchronous
// commit on). Fan-in is a row per process whose counter the steps decrement in the same
// transaction that stores their value and, for the last one, adds the sum job.
//
// Closed loop: CONCURRENCY processes in flight, a new one starts when one finishes, until
// N have finished. Latency: from just before the start job is added until the NOTIFY of
// its sum arrives. Prints one JSON line (the fields of restate-load.js's).
//
// usage: node graphile-fanout.js N CONCURRENCY WORKER_CONCURRENCY   (env DATABASE_URL)

const { run, Logger } = require("graphile-worker");
const { Pool, Client } = require("pg");

const N = parseInt(process.argv[2] || "2000", 10);
const C = parseInt(process.argv[3] || "50", 10);
const WORKERS = parseInt(process.argv[4] || "16", 10);
const url = process.env.DATABASE_URL;

async function main() {
  const pool = new Pool({ connectionString: url, max: WORKERS + 4 });
  pool.on("error", (e) => console.error("pool:", e.message));
  pool.on("connect", (c) => c.on("error", (e) => console.error("pg client:", e.message)));
  await pool.query(`
    CREATE TABLE IF NOT EXISTS fan_proc (
      pid bigint PRIMARY KEY, n bigint NOT NULL, remaining int NOT NULL, result bigint);
    CREATE TABLE IF NOT EXISTS fan_step (
      pid bigint NOT NULL, x bigint NOT NULL, value bigint NOT NULL, PRIMARY KEY (pid, x));
    TRUNCATE fan_proc, fan_step;`);

  const taskList = {
    // The decider: records the process and fans out three steps, in one transaction.
    start: async ({ pid, n }, helpers) => {
      await helpers.withPgClient(async (c) => {
        await c.query("BEGIN");
        await c.query("INSERT INTO fan_proc (pid, n, remaining) VALUES ($1, $2, 3) ON CONFLICT DO NOTHING", [pid, n]);
        for (let x = n; x < n + 3; x++) {
          await c.query("SELECT graphile_worker.add_job('step', json_build_object('pid', $1::bigint, 'x', $2::bigint))", [pid, x]);
        }
        await c.query("COMMIT");
      });
    },
    // A step: stores x+1; the last step of a process adds the sum job.
    step: async ({ pid, x }, helpers) => {
      await helpers.withPgClient(async (c) => {
        await c.query("BEGIN");
        const ins = await c.query("INSERT INTO fan_step (pid, x, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [pid, x, x + 1]);
        if (ins.rowCount === 1) {
          const r = await c.query("UPDATE fan_proc SET remaining = remaining - 1 WHERE pid = $1 RETURNING remaining", [pid]);
          if (r.rows[0].remaining === 0) {
            await c.query("SELECT graphile_worker.add_job('sum', json_build_object('pid', $1::bigint))", [pid]);
          }
        }
        await c.query("COMMIT");
      });
    },
    // The sum over the three step values; the process ends here.
    sum: async ({ pid }, helpers) => {
      await helpers.withPgClient(async (c) => {
        await c.query("BEGIN");
        const r = await c.query("SELECT sum(value)::bigint AS s FROM fan_step WHERE pid = $1", [pid]);
        await c.query("UPDATE fan_proc SET result = $2 WHERE pid = $1", [pid, r.rows[0].s]);
        await c.query("SELECT pg_notify('fan_done', $1::text)", [String(pid)]);
        await c.query("COMMIT");
      });
    },
  };

  const runner = await run({
    pgPool: pool,
    concurrency: WORKERS,
    noHandleSignals: true,
    pollInterval: 1000,
    taskList,
    logger: new Logger(() => () => {}),
  });

  const listener = new Client({ connectionString: url });
  await listener.connect();
  const waiting = new Map();
  listener.on("notification", (m) => {
    const done = waiting.get(m.payload);
    if (done) {
      waiting.delete(m.payload);
      done();
    }
  });
  await listener.query("LISTEN fan_done");

  const latencies = [];
  let next = 0;
  const t0 = process.hrtime.bigint();
  async function client() {
    while (next < N) {
      const n = next++;
      const pid = n + 1;
      const began = process.hrtime.bigint();
      const finished = new Promise((resolve) => waiting.set(String(pid), resolve));
      await runner.addJob("start", { pid, n });
      await finished;
      latencies.push(Number(process.hrtime.bigint() - began) / 1e6);
    }
  }
  await Promise.all(Array.from({ length: C }, client));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;

  // Check every result: (n+1)+(n+2)+(n+3).
  const bad = await pool.query("SELECT count(*)::int AS bad FROM fan_proc WHERE result IS DISTINCT FROM 3*n+6");
  latencies.sort((a, b) => a - b);
  // Nearest rank, as suslik-bench and restate-load.js: the ceil(q*n)-th smallest sample.
  const q = (p) => latencies[Math.min(latencies.length, Math.max(1, Math.ceil(p * latencies.length))) - 1];
  // The same fields as restate-load.js (finished, errors), plus worker_concurrency.
  console.log(JSON.stringify({
    engine: "graphile-worker",
    processes: N, finished: N - bad.rows[0].bad, concurrency: C, worker_concurrency: WORKERS,
    secs: +secs.toFixed(3),
    processes_per_s: +(N / secs).toFixed(1), tasks_per_s: +((5 * N) / secs).toFixed(1),
    p50_ms: +q(0.5).toFixed(1), p99_ms: +q(0.99).toFixed(1), wrong_results: bad.rows[0].bad,
    errors: bad.rows[0].bad,
  }));
  // Stay connected and idle while the caller measures the server's memory and idle CPU
  // (IDLE_SECS, plus two seconds for the readings at either end).
  console.log(JSON.stringify({ idle: "start" }));
  await new Promise((r) => setTimeout(r, (+process.env.IDLE_SECS || 0) * 1000 + 2000));
  await runner.stop();
  await listener.end();
  await pool.end();
  process.exit(bad.rows[0].bad === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
