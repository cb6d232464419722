/**
 * The live events page in the wgsync-web browser suite: a new event appears
 * without a reload, and the list filters by stem.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { addMember } from "../helpers/web_site.ts";
import { PIPELINE_MS, type WebSiteSession } from "./session.ts";

/** Runs these steps of the suite on its one session. */
export async function liveSteps(
  t: Deno.TestContext,
  session: WebSiteSession,
): Promise<void> {
  const { stack, artifacts, reader, open } = session;
  await t.step(
    "a new event appears on the live page without a reload",
    async () => {
      const page = await open(reader, "/events");
      await page.evaluate(() => (globalThis as { marker?: number }).marker = 1);
      await page.locator('body[data-live="open"]').waitFor();
      // A real directory change, through wgsync-ldap, wgsync-event and SNS.
      await addMember(stack, "uit:network-ops", "u002999");
      const row = page.locator("#events tbody tr").filter({
        hasText: /member\.added\s*uit:network-ops\s*u002999/,
      });
      await row.waitFor({ timeout: PIPELINE_MS });
      assert.equal(
        await page.evaluate(() => (globalThis as { marker?: number }).marker),
        1,
      );
      await page.screenshot({
        path: `${artifacts}/events.png`,
        fullPage: true,
      });
      await page.close();
    },
  );

  await t.step("the live list filters by stem", async () => {
    const all = await open(reader, "/events");
    const filtered = await open(reader, "/events?stem=research-computing");
    for (const page of [all, filtered]) {
      await page.locator('body[data-live="open"]').waitFor();
    }
    await addMember(stack, "uit:identity", "u002998");
    await addMember(stack, "research-computing:admins", "u002998");
    const other = /member\.added\s*uit:identity\s*u002998/;
    const wanted = /member\.added\s*research-computing:admins\s*u002998/;
    // hasText matches the row's textContent: cells without separators.
    const rows = (page: Page, text: RegExp) =>
      page.locator("#events tbody tr").filter({ hasText: text });
    await rows(all, other).waitFor({ timeout: PIPELINE_MS });
    await rows(all, wanted).waitFor({ timeout: PIPELINE_MS });
    await rows(filtered, wanted).waitFor({ timeout: PIPELINE_MS });
    assert.equal(await rows(filtered, other).count(), 0);
    await all.close();
    await filtered.close();
  });
}
