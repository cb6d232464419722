/**
 * The stems page in the wgsync-web browser suite: an admin disables a stem
 * (DynamoDB changes, the journal records who), a reader sees no controls, and
 * forged or token-less POSTs are refused.
 *
 * @module
 */

import assert from "node:assert/strict";
import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import { fieldText } from "../helpers/journald.ts";
import { post, request, stemEnabled } from "../helpers/web_site.ts";
import { ADMIN, type WebSiteSession } from "./session.ts";

/** Runs these steps of the suite on its one session. */
export async function stemsSteps(
  t: Deno.TestContext,
  session: WebSiteSession,
): Promise<void> {
  const { web, base, artifacts, dynamo, journald, admin, reader, open } =
    session;
  await t.step(
    "stems: an admin disables a stem; DynamoDB changes and the journal records who",
    async () => {
      const stem = "web-test-stem";
      await dynamo.send(
        new PutItemCommand({
          TableName: web.stems_table,
          Item: {
            stem: { S: stem },
            enabled: { BOOL: true },
            discoveredAt: { S: "2026-12-01T00:00:00.000Z" },
            discoveredFrom: { S: `${stem}:first` },
          },
        }),
      );
      const page = await open(admin, `/stems?q=${stem}`);
      const row = page.locator(`tr[data-stem="${stem}"]`);
      assert.match(
        await row.innerText(),
        /web-test-stem\s+2026-12-01T00:00:00.000Z\s+web-test-stem:first\s+yes/,
      );
      await page.screenshot({
        path: `${artifacts}/stems.png`,
        fullPage: true,
      });
      await row.locator("button.toggle").click();
      await page.locator(".result").waitFor();
      assert.equal(await stemEnabled(dynamo, web.stems_table, stem), false);
      let entry;
      for (let i = 0; i < 50 && entry === undefined; i++) {
        const entries = await journald.entries([
          "SYSLOG_IDENTIFIER=wgsync-web",
        ]);
        entry = entries.find((e) => fieldText(e, "WGSYNC_STEM") === stem);
        if (entry === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(entry, "a journal entry for the change");
      assert.deepEqual(
        [
          "WGSYNC_USER",
          "WGSYNC_FIELD",
          "WGSYNC_OLD_VALUE",
          "WGSYNC_NEW_VALUE",
        ]
          .map((name) => fieldText(entry!, name)),
        [ADMIN, "enabled", "true", "false"],
      );
      await page.close();
    },
  );

  await t.step(
    "a reader sees no controls; forged and token-less POSTs are refused",
    async () => {
      const stem = "web-test-stem";
      for (
        const path of [
          "/stems",
          "/dead-letters",
          "/workgroup?name=uit:helpdesk",
        ]
      ) {
        const page = await open(reader, path);
        assert.equal(await page.locator("#reader").innerText(), "read-only");
        assert.equal(
          await page.locator('form[method="post"]').count(),
          0,
          path,
        );
        assert.equal(
          await page.locator("button, input[type=checkbox]").filter({
            hasNotText: "Search",
          }).filter({ hasNotText: "Filter" }).count(),
          0,
          path,
        );
        await page.close();
      }
      const adminPage = await open(admin, "/stems");
      const token = await adminPage.locator('input[name="_csrf"]').first()
        .getAttribute("value");
      await adminPage.close();
      assert.ok(token);
      const change = { stem, enabled: "true" };
      const refused = [
        await post(`${base}/stems/enabled`, { ...change, _csrf: token }),
        await post(`${base}/stems/enabled`, change, {
          headers: { "X-Remote-User": ADMIN },
        }),
        await post(`${base}/stems/enabled`, {
          ...change,
          _csrf: "x".repeat(token.length),
        }, { headers: { "X-Remote-User": ADMIN } }),
        await post(`${base}/stems/enabled`, { ...change, _csrf: token }, {
          headers: { "X-Remote-User": "mallory" },
        }),
        await post(`${base}/stems/enabled`, { ...change, _csrf: token }, {
          headers: { "X-Remote-User": ADMIN },
          localAddress: "127.0.0.2",
        }),
      ];
      assert.deepEqual(refused.map((r) => r.status), [
        403,
        403,
        403,
        403,
        403,
      ]);
      assert.equal(await stemEnabled(dynamo, web.stems_table, stem), false);
      const fromElsewhere = await request(
        new URL(`${base}/stems`),
        "GET",
        "",
        {
          headers: { "X-Remote-User": ADMIN },
          localAddress: "127.0.0.2",
        },
      );
      assert.match(fromElsewhere.body, /id="reader">read-only</);
      const accepted = await post(`${base}/stems/enabled`, {
        ...change,
        _csrf: token,
      }, { headers: { "X-Remote-User": ADMIN } });
      assert.equal(accepted.status, 200);
      assert.equal(await stemEnabled(dynamo, web.stems_table, stem), true);
    },
  );
}
