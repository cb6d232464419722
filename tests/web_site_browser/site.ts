/**
 * The site as a whole in the wgsync-web browser suite: security headers and no
 * inline script, uPlot from its npm package, the overview with each role's
 * state and a chart, every role's /metrics.
 *
 * @module
 */

import assert from "node:assert/strict";
// @ts-types="../../lib/wgsync_web/prometheus_types.d.ts"
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { fileURLToPath } from "node:url";
import { type WebSiteSession } from "./session.ts";

/** Runs these steps of the suite on its one session. */
export async function siteSteps(
  t: Deno.TestContext,
  session: WebSiteSession,
): Promise<void> {
  const { web, base, artifacts, reader, open } = session;
  await t.step(
    "every answer carries the security headers; no inline script",
    async () => {
      const response = await fetch(`${base}/`);
      await response.body?.cancel();
      const csp = response.headers.get("content-security-policy") ?? "";
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      assert.equal(response.headers.get("referrer-policy"), "same-origin");
      const page = await open(reader, "/");
      assert.equal(await page.locator("script:not([src])").count(), 0);
      await page.close();
    },
  );

  await t.step(
    "uPlot is served from the npm package's own file",
    async () => {
      const served = await (await fetch(`${base}/static/uPlot.iife.min.js`))
        .text();
      const own = await Deno.readTextFile(
        fileURLToPath(import.meta.resolve("uplot/dist/uPlot.iife.min.js")),
      );
      assert.equal(served, own);
    },
  );

  await t.step(
    "overview: each role's state as its /healthz answers, and a chart",
    async () => {
      const page = await open(reader, "/");
      for (const { name, url } of web.roles) {
        const answers = await fetch(`${url}/healthz`).then(async (r) => {
          await r.body?.cancel();
          return r.status === 200;
        }).catch(() => false);
        const state = page.locator(
          `tr[data-role="${name}"] [data-cell="state"]`,
        );
        await state.filter({
          hasText: answers ? "up, healthy" : "down since",
        })
          .waitFor();
      }
      await page.locator('figure[data-figure="events_per_minute"] .uplot')
        .waitFor();
      await page.screenshot({
        path: `${artifacts}/overview.png`,
        fullPage: true,
      });
      await page.close();
    },
  );

  await t.step(
    "every role's /metrics parses with the Prometheus text-format parser",
    async () => {
      let answered = 0;
      for (const { name, url } of web.roles) {
        const response = await fetch(`${url}/metrics`).catch(() => undefined);
        if (response === undefined) {
          console.error(
            `web: role ${name} is not running here; its /metrics not checked`,
          );
          continue;
        }
        answered++;
        const families = parsePrometheusTextFormat(await response.text()) as {
          name: string;
          metrics: { labels?: Record<string, string> }[];
        }[];
        const info = families.find((f) => f.name === "wgsync_role_info");
        assert.deepEqual(info?.metrics.map((m) => m.labels), [{
          role: name,
        }]);
      }
      assert.ok(answered >= 1, "at least wgsync-web's own /metrics answered");
    },
  );
}
