/**
 * wgsync-web end to end in a real Chromium (playwright-core, /usr/bin/chromium)
 * against the real stack (moto: stems table, FIFO topic, the site's own queue
 * subscribed with raw delivery, target queues with dead-letter queues; slapd
 * via wgsync-ldap's store; remctld via wgsync-remctl, which runs what the
 * site redrives), with the site's log read back from a real journald (the
 * role runs in journald's mount namespace).
 *
 * Events come through the whole pipeline: slapd → wgsync-ldap → wgsync-event
 * → SNS → the site's queue and wgsync-remctl's; the browser
 * stands where the reverse proxy is (it connects from 127.0.0.1, a trusted
 * proxy in the stack's config, and sends the admin header itself).
 *
 * Screenshots of every page are written to a temporary directory whose path
 * is printed.
 *
 * The steps are in `web_site_browser/`, run in order on one session (the
 * roles, the browser); the last one stops wgsync-remctl.
 *
 * Run by `web_site_test.ts` in a child `deno test --allow-all`:
 * playwright-core reads `/proc/sys/fs/binfmt_misc/WSLInterop` when it loads,
 * which Deno grants only with --allow-all (the stack runs that way too). The
 * role under test still runs with exactly its own permissions.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { type Browser, chromium, type Page } from "playwright-core";
import { parse } from "smol-toml";
import { Journald } from "./helpers/journald.ts";
import { RoleProcess } from "./helpers/ldap_role.ts";
import { EventProcess } from "./helpers/event_role.ts";
import { getStack } from "./helpers/stack.ts";
import { WebRole } from "./helpers/web_role.ts";
import { awsConfig, CHROMIUM_FLAGS } from "./helpers/web_site.ts";
import { liveSteps } from "./web_site_browser/live.ts";
import { remctlActionSteps } from "./web_site_browser/remctl_actions.ts";
import {
  ADMIN,
  untilListed,
  type WebConfig,
  type WebSiteSession,
} from "./web_site_browser/session.ts";
import { siteSteps } from "./web_site_browser/site.ts";
import { stemsSteps } from "./web_site_browser/stems.ts";
import { workgroupSteps } from "./web_site_browser/workgroups.ts";

Deno.test({
  name:
    "wgsync-web in Chromium shows live data, changes only for admins, and logs who changed what",
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const stack = await getStack();
  const web = (parse(await Deno.readTextFile(stack.config)) as unknown as {
    web: WebConfig;
  }).web;
  const base = `http://${web.listen}`;
  const artifacts = await Deno.makeTempDir({
    prefix: "wgsync-web-screenshots-",
  });
  console.error(`web: screenshots in ${artifacts}`);
  const dynamo = new DynamoDBClient(awsConfig(stack));
  const sqs = new SQSClient(awsConfig(stack));
  await using journald = await Journald.start();
  const event = EventProcess.start({
    dir: stack.dir,
    config: stack.config,
    keyFile: `${stack.dir}/secrets/channel.key`,
    socket: `${stack.dir}/run/event.sock`,
    metricsPort: 0,
  }, stack);
  await event.waitReady(60_000);
  const ldap = RoleProcess.start(stack, {
    dir: stack.dir,
    config: stack.config,
  });
  await ldap.waitForLog(/Ready: /, 60_000);
  const remctl = RoleProcess.start(stack, {
    dir: stack.dir,
    config: stack.config,
  }, { role: "remctl" });
  await remctl.waitForLog(/Ready: /, 60_000);
  const role = await WebRole.start(journald, {
    config: stack.config,
    stackDir: stack.dir,
  });
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: CHROMIUM_FLAGS,
    });
    const admin = await browser.newContext({
      extraHTTPHeaders: { "X-Remote-User": ADMIN },
    });
    const reader = await browser.newContext();
    const dialogs: string[] = [];
    const open = async (context: typeof admin, path: string): Promise<Page> => {
      const page = await context.newPage();
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        dialog.dismiss();
      });
      await page.goto(`${base}${path}`);
      return page;
    };
    /** Where an event stopped on its way to the backend. */
    const diagnose = (id: string) => async () => {
      const live = await (await fetch(`${base}/events`)).text();
      return `id ${id}; on the site's live list: ${
        live.includes(id)
      }; remctl log: ${remctl.stderr.slice(-3000)}`;
    };
    await untilListed(web.ldap_control_socket, "uit:helpdesk", 60_000);

    const session: WebSiteSession = {
      stack,
      web,
      base,
      artifacts,
      dynamo,
      sqs,
      journald,
      event,
      ldap,
      remctl,
      role,
      admin,
      reader,
      dialogs,
      open,
      diagnose,
    };
    await siteSteps(t, session);
    await liveSteps(t, session);
    await stemsSteps(t, session);
    await workgroupSteps(t, session);
    await remctlActionSteps(t, session);

    await t.step(
      "overview: a role that stops answering turns 'down since' without a reload",
      async () => {
        const page = await open(reader, "/");
        const state = page.locator(
          'tr[data-role="remctl"] [data-cell="state"]',
        );
        await state.filter({ hasText: "up, healthy" }).waitFor();
        await page.evaluate(() =>
          (globalThis as { marker?: number }).marker = 2
        );
        assert.equal(await remctl.stop(), 0, remctl.stderr);
        await state.filter({ hasText: /^down since \S+Z/ }).waitFor();
        assert.equal(
          await page.evaluate(() => (globalThis as { marker?: number }).marker),
          2,
        );
        await page.screenshot({
          path: `${artifacts}/overview-role-down.png`,
          fullPage: true,
        });
        await page.close();
      },
    );
  } finally {
    await browser?.close();
    const code = await role.stop();
    const ldapCode = await ldap.stop();
    const eventCode = await event.stop();
    const remctlCode = await remctl.stop();
    dynamo.destroy();
    sqs.destroy();
    await t.step("SIGTERM stops the site cleanly", () => {
      assert.equal(code, 0, role.stderr);
      assert.equal(remctlCode, 0, remctl.stderr);
      assert.equal(ldapCode, 0, ldap.stderr);
      assert.equal(eventCode, 0, event.stderr);
      assert.ok(role.notify.messages.some((m) => m.includes("STOPPING=1")));
      assert.ok(
        role.notify.messages.some((m) =>
          /^STATUS=serving http:\/\/\S+; \d+\/4 roles up/m.test(m)
        ),
        role.notify.messages.join("\n"),
      );
    });
  }
});
