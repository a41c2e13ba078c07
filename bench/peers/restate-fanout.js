// The fan-out/fan-in workload of suslik-bench as a Restate service (the peers'
// restate-service.js, kept here so that bench/peers/restate.sh is self-contained).
//
// Per process, five invocations, as Suslik's five tasks (decider + 3 steps + sum):
//   fan/run(n)          -> calls worker/step(n), step(n+1), step(n+2) in parallel,
//                          then worker/sum([..]) and returns its result
//   worker/step(x)      -> x + 1
//   worker/sum(xs)      -> xs[0] + xs[1] + xs[2]
// Restate journals every call and result in its log (Bifrost) before it is acted on.
//
// usage: PORT=9080 node restate-fanout.js   (then register http://127.0.0.1:PORT)

// Node 20 lacks Promise.withResolvers, which the SDK uses.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new Promise((a, b) => { resolve = a; reject = b; });
    return { promise, resolve, reject };
  };
}
const restate = require("@restatedev/restate-sdk");

const worker = restate.service({
  name: "worker",
  handlers: {
    step: async (ctx, x) => x + 1,
    sum: async (ctx, xs) => xs.reduce((a, b) => a + b, 0),
  },
});

const fan = restate.service({
  name: "fan",
  handlers: {
    run: async (ctx, n) => {
      const w = ctx.serviceClient(worker);
      const parts = await restate.RestatePromise.all([w.step(n), w.step(n + 1), w.step(n + 2)]);
      return await w.sum(parts);
    },
  },
});

restate.serve({ services: [worker, fan], port: Number(process.env.PORT || 9080) });
