/**
 * The workgroup pages in the wgsync-web browser suite: members as the
 * directory has them, and a workgroup named <script>… rendered as text
 * everywhere.
 *
 * @module
 */

import assert from "node:assert/strict";
import { groupLdif, ldapUtil } from "../helpers/ldap_admin.ts";
import { directoryMemberships } from "../helpers/ldap_role.ts";
import {
  HOSTILE,
  PIPELINE_MS,
  untilListed,
  type WebSiteSession,
} from "./session.ts";

/** Runs these steps of the suite on its one session. */
export async function workgroupSteps(
  t: Deno.TestContext,
  session: WebSiteSession,
): Promise<void> {
  const { stack, web, artifacts, event, reader, dialogs, open, diagnose } =
    session;
  await t.step(
    "workgroup page: members from wgsync-ldap's store as the directory has them",
    async () => {
      const page = await open(reader, "/workgroup?name=uit:helpdesk");
      const shown = await page.locator("#members tbody tr td:nth-child(2)")
        .allInnerTexts();
      const memberships = await directoryMemberships(
        stack,
        stack.ldap.workgroupBase,
      );
      assert.deepEqual(
        new Set(shown.map((dn) => dn.toLowerCase())),
        memberships.get("uit:helpdesk"),
      );
      await page.screenshot({
        path: `${artifacts}/workgroup.png`,
        fullPage: true,
      });
      await page.close();
    },
  );

  await t.step(
    "a workgroup named <script>… renders as text everywhere",
    async () => {
      const dn =
        `cn=research-computing:\\3Cscript\\3Ealert(1)\\3C/script\\3E,${stack.ldap.workgroupBase}`;
      await ldapUtil(
        stack,
        "ldapadd",
        groupLdif(dn, HOSTILE, [`uid=alice,${stack.ldap.peopleBase}`]),
      );
      await untilListed(web.ldap_control_socket, HOSTILE, 30_000);
      const list = await open(reader, "/workgroups?q=script");
      await list.getByRole("link", { name: HOSTILE }).click();
      await list.locator("h1").filter({ hasText: HOSTILE }).waitFor();
      assert.equal(
        await list.locator("h1").innerText(),
        `Workgroup ${HOSTILE}`,
      );
      // Its workgroup.created, through wgsync-event, on the workgroup page.
      await list.locator("#events tbody tr").filter({
        hasText: "workgroup.created",
      }).waitFor({ timeout: PIPELINE_MS }).catch(async (error) => {
        throw new Error(
          `${error.message}; ${await diagnose(
            "workgroup.created",
          )()}; event log: ${event.stderr.slice(-2000)}`,
        );
      });
      const events = await open(reader, "/events?type=workgroup.created");
      assert.ok(
        (await events.locator("#events tbody tr a").allInnerTexts())
          .includes(HOSTILE),
      );
      assert.equal(await events.locator("script:not([src])").count(), 0);
      assert.deepEqual(dialogs, []);
      await list.screenshot({
        path: `${artifacts}/hostile-workgroup.png`,
        fullPage: true,
      });
      await list.close();
      await events.close();
    },
  );
}
