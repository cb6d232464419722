/**
 * lib/metrics over real HTTP: a registry served on a loopback port, scraped
 * with fetch and parsed with an independent Prometheus text parser.
 */
import assert from "node:assert/strict";
import { Counter } from "prom-client";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import {
  createRegistry,
  type Health,
  parseListen,
  serveMetrics,
} from "../lib/metrics/mod.ts";
import { loadConfig } from "../lib/config/mod.ts";

interface ParsedFamily {
  name: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

async function withServer(
  health: () => Health,
  fn: (
    base: string,
    registry: Awaited<ReturnType<typeof createRegistry>>,
  ) => Promise<void>,
): Promise<void> {
  const registry = await createRegistry({ role: "test" });
  const controller = new AbortController();
  const server = serveMetrics(registry, {
    listen: "127.0.0.1:0",
    health,
    signal: controller.signal,
  });
  assert.ok(server);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, registry);
  } finally {
    controller.abort();
    await server.finished;
  }
}

Deno.test("/metrics is Prometheus text holding a counter the role incremented and the process metrics", async () => {
  await withServer(() => ({ ok: true }), async (base, registry) => {
    const events = new Counter({
      name: "wgsync_test_events_total",
      help: "Events sent, by type.",
      labelNames: ["type"],
      registers: [registry],
    });
    events.inc({ type: "member.added" }, 3);
    events.inc({ type: "workgroup.created" });
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), registry.contentType);
    const families = parsePrometheusTextFormat(
      await response.text(),
    ) as ParsedFamily[];
    const byName = new Map(families.map((family) => [family.name, family]));
    assert.deepEqual(byName.get("wgsync_test_events_total"), {
      name: "wgsync_test_events_total",
      help: "Events sent, by type.",
      type: "COUNTER",
      metrics: [
        { value: "3", labels: { type: "member.added" } },
        { value: "1", labels: { type: "workgroup.created" } },
      ],
    });
    assert.deepEqual(byName.get("wgsync_role_info")?.metrics, [
      { value: "1", labels: { role: "test" } },
    ]);
    assert.equal(
      byName.get("wgsync_process_cpu_seconds_total")?.type,
      "COUNTER",
    );
    // Read from Deno, not /proc/self (which Deno opens only with --allow-all).
    const rss = Number(
      byName.get("wgsync_process_resident_memory_bytes")?.metrics[0].value,
    );
    assert.ok(rss > 1024 * 1024, `resident memory is ${rss} bytes`);
    assert.deepEqual(
      ["wgsync_process_open_fds", "wgsync_process_virtual_memory_bytes"]
        .filter((name) => byName.has(name)),
      [],
    );
  });
});

Deno.test("/healthz answers 200 while healthy and 503 once health flips, with the detail", async () => {
  let health: Health = { ok: true, detail: { outboxDepth: 0 } };
  await withServer(() => health, async (base) => {
    const healthy = await fetch(`${base}/healthz`);
    assert.equal(healthy.status, 200);
    assert.deepEqual(await healthy.json(), {
      ok: true,
      detail: { outboxDepth: 0 },
    });
    health = { ok: false, detail: { channel: "disconnected" } };
    const unhealthy = await fetch(`${base}/healthz`);
    assert.equal(unhealthy.status, 503);
    assert.deepEqual(await unhealthy.json(), {
      ok: false,
      detail: { channel: "disconnected" },
    });
  });
});

Deno.test("/healthz answers 503 naming the error when the health check throws", async () => {
  await withServer(() => {
    throw new Error("store is locked");
  }, async (base) => {
    const response = await fetch(`${base}/healthz`);
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), {
      ok: false,
      detail: { error: "Error: store is locked" },
    });
  });
});

Deno.test("other paths answer 404 and other methods 405", async () => {
  await withServer(() => ({ ok: true }), async (base) => {
    const missing = await fetch(`${base}/`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const post = await fetch(`${base}/metrics`, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET");
    await post.body?.cancel();
    const del = await fetch(`${base}/healthz`, { method: "DELETE" });
    assert.equal(del.status, 405);
    await del.body?.cancel();
  });
});

Deno.test("no listener without an address", async () => {
  assert.equal(
    serveMetrics(await createRegistry({ role: "test" }), {}),
    undefined,
  );
});

Deno.test("a registry given as a function is made at the first /metrics, once", async () => {
  let made = 0;
  const controller = new AbortController();
  const server = serveMetrics(() => {
    made++;
    return createRegistry({ role: "lazy" });
  }, { listen: "127.0.0.1:0", signal: controller.signal });
  assert.ok(server);
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const health = await fetch(`${base}/healthz`);
    await health.body?.cancel();
    assert.equal(made, 0);
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${base}/metrics`);
      assert.match(
        await response.text(),
        /^wgsync_role_info\{role="lazy"\} 1$/m,
      );
    }
    assert.equal(made, 1);
  } finally {
    controller.abort();
    await server.finished;
  }
});

Deno.test("a non-loopback or malformed address is refused naming it, unless allowed", async () => {
  const registry = await createRegistry({ role: "test" });
  assert.throws(() => serveMetrics(registry, { listen: "0.0.0.0:9101" }), {
    name: "RangeError",
    message:
      'Cannot listen for metrics as the address is not loopback: value is "0.0.0.0:9101"',
  });
  assert.throws(() => serveMetrics(registry, { listen: "10.1.2.3:9101" }), {
    name: "RangeError",
    message:
      'Cannot listen for metrics as the address is not loopback: value is "10.1.2.3:9101"',
  });
  assert.throws(() => serveMetrics(registry, { listen: "localhost" }), {
    name: "RangeError",
    message:
      'Cannot listen for metrics as the address is not "host:port": value is "localhost"',
  });
  assert.deepEqual(parseListen("[::1]:9101"), { hostname: "::1", port: 9101 });
  assert.deepEqual(parseListen("127.3.4.5:1"), {
    hostname: "127.3.4.5",
    port: 1,
  });
  assert.deepEqual(
    parseListen("0.0.0.0:9101", { allowNonLoopback: true }),
    { hostname: "0.0.0.0", port: 9101 },
  );
});

Deno.test("metrics_listen in a role section must be a loopback host:port", () => {
  const dir = Deno.makeTempDirSync({ prefix: "wgsync-metrics-" });
  try {
    const path = `${dir}/wgsync.toml`;
    const config = (listen: string) =>
      Deno.writeTextFileSync(
        path,
        `[web]\nmetrics_listen = "${listen}"\n`,
      );
    config("127.0.0.1:9104");
    assert.equal(
      loadConfig(path, { sections: ["web"] }).web?.metrics_listen,
      "127.0.0.1:9104",
    );
    config("192.0.2.1:9104");
    assert.throws(() => loadConfig(path, { sections: ["web"] }), {
      name: "ConfigError",
      message:
        /web\.metrics_listen.*not loopback: value is "192\.0\.2\.1:9104"/,
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a role name outside [a-z][a-z0-9_]* is refused naming it", async () => {
  await assert.rejects(() => createRegistry({ role: "Event-Generator" }), {
    name: "RangeError",
    message:
      'Cannot create a metrics registry as the role name is not [a-z][a-z0-9_]*: value is "Event-Generator"',
  });
});
