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
 * Run by `web_site_test.ts` in a child `deno test --allow-all`:
 * playwright-core reads `/proc/sys/fs/binfmt_misc/WSLInterop` when it loads,
 * which Deno grants only with --allow-all (the stack runs that way too). The
 * role under test still runs with exactly its own permissions.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import {
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
// @ts-types="../lib/wgsync_web/prometheus_types.d.ts"
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { type Browser, chromium, type Page } from "playwright-core";
import { parse } from "smol-toml";
import { requestMembers } from "../lib/control/mod.ts";
import { fieldText, Journald } from "./helpers/journald.ts";
import { groupLdif, ldapUtil } from "./helpers/ldap_admin.ts";
import { directoryMemberships, RoleProcess } from "./helpers/ldap_role.ts";
import { EventProcess } from "./helpers/event_role.ts";
import { getStack } from "./helpers/stack.ts";
import { WebRole } from "./helpers/web_role.ts";
import {
  addMember,
  awsConfig,
  CHROMIUM_FLAGS,
  eventBody,
  post,
  request,
  stemEnabled,
  waitForCall,
} from "./helpers/web_site.ts";

const ADMIN = "local-admin";
/** How long a directory change may take through the pipeline (a loaded machine). */
const PIPELINE_MS = 90_000;
const HOSTILE = "research-computing:<script>alert(1)</script>";

interface WebConfig {
  listen: string;
  roles: { name: string; url: string }[];
  stems_table: string;
  ldap_control_socket: string;
}

/** Waits until wgsync-ldap's control socket lists `workgroup`'s members. */
async function untilListed(
  socket: string,
  workgroup: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await requestMembers(socket, workgroup).catch(() => {});
    if (answer !== undefined) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for "${workgroup}" on wgsync-ldap's control socket`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

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

    await t.step(
      "a new event appears on the live page without a reload",
      async () => {
        const page = await open(reader, "/events");
        await page.evaluate(() =>
          (globalThis as { marker?: number }).marker = 1
        );
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

    await t.step(
      "dead letters: reason and receive count shown; a redriven one is run by wgsync-remctl; delete selected",
      async () => {
        const target = stack.aws.queues.find((q) => q.target === "research")!;
        const send = (
          group: string,
          body: string,
          reason?: string,
        ) =>
          sqs.send(
            new SendMessageCommand({
              QueueUrl: target.dlqUrl,
              MessageBody: body,
              MessageGroupId: group,
              MessageDeduplicationId: crypto.randomUUID(),
              MessageAttributes: {
                workgroup: { DataType: "String", StringValue: group },
                ...(reason === undefined ? {} : {
                  "wgsync-poison-reason": {
                    DataType: "String",
                    StringValue: reason,
                  },
                }),
              },
            }),
          );
        // As SQS leaves a message whose command failed maxReceiveCount times.
        const event = eventBody({
          type: "member.added",
          workgroup: "research-computing:oak-storage",
          uid: "redriven-member",
        });
        const redriven = await send(event.workgroup, JSON.stringify(event));
        // As wgsync-remctl dead-letters a poison message at once.
        const doomed = await send(
          "research-computing:gpu",
          "not an event",
          "Cannot read the event as its body is not JSON",
        );
        const page = await open(admin, "/dead-letters");
        const row = page.locator(`tr[data-message="${redriven.MessageId}"]`);
        assert.match(
          await row.innerText(),
          /research-computing:oak-storage\s+member\.added\s+none recorded: moved by SQS after failed runs.*\s+1\s/,
        );
        assert.match(
          await page.locator(`tr[data-message="${doomed.MessageId}"]`)
            .innerText(),
          /research-computing:gpu\s+Cannot read the event as its body is not JSON\s+1\s/,
        );
        await page.screenshot({
          path: `${artifacts}/dead-letters.png`,
          fullPage: true,
        });
        await row.locator("input[type=checkbox]").check();
        await page.getByRole("button", { name: "Redrive selected" }).click();
        await page.locator(".result").filter({
          hasText: "Redrove 1 dead letter",
        }).waitFor();
        // A redriven message lands behind newer events: a fresh snapshot follows.
        const snapshotLine = await page.locator(".result p").nth(1).innerText();
        const snapshotId =
          /^Snapshot of research-computing:oak-storage queued \(([0-9a-f]{64})\)\.$/
            .exec(snapshotLine)?.[1];
        assert.ok(snapshotId, snapshotLine);
        await waitForCall(
          stack,
          (argv) => argv.includes(snapshotId),
          diagnose(snapshotId),
        );
        const calls = await waitForCall(
          stack,
          (argv) => argv.includes(event.id),
          diagnose(event.id),
        );
        assert.deepEqual(calls.argv.slice(1, 5), [
          "member.added",
          "research-computing:oak-storage",
          "research-computing",
          "redriven-member",
        ]);
        await page.goto(`${base}/dead-letters`);
        await page.locator(
          `tr[data-message="${doomed.MessageId}"] input[type=checkbox]`,
        ).check();
        await page.getByRole("button", { name: "Delete selected" }).click();
        await page.locator(".result").filter({ hasText: "Deleted 1 of 1" })
          .waitFor();
        const left = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: target.dlqUrl,
            MaxNumberOfMessages: 10,
            VisibilityTimeout: 0,
            WaitTimeSeconds: 0,
          }),
        );
        assert.equal(
          (left.Messages ?? []).filter((m) => m.MessageId === doomed.MessageId)
            .length,
          0,
        );
        // "Redrive all": StartMessageMoveTask where the service has it; moto
        // answers HTTP 500, so the site moves the messages one by one.
        const all = [
          eventBody({
            type: "member.added",
            workgroup: "research-computing:farmshare",
            uid: "redrive-all-1",
          }),
          eventBody({
            type: "member.added",
            workgroup: "research-computing:farmshare",
            uid: "redrive-all-2",
          }),
        ];
        for (const body of all) {
          await send(body.workgroup, JSON.stringify(body));
        }
        await page.goto(`${base}/dead-letters`);
        await page.getByRole("button", { name: "Redrive all" }).first().click();
        await page.locator(".result").filter({
          hasText: /Redrove [2-9]\d* dead letter/,
        })
          .waitFor();
        for (const body of all) {
          await waitForCall(
            stack,
            (argv) => argv.includes(body.id),
            diagnose(body.id),
          );
        }
        await page.close();
      },
    );
    await t.step(
      "resync: the button makes wgsync-ldap send a snapshot that reaches the remctl backend",
      async () => {
        const workgroup = "uit:helpdesk";
        const page = await open(
          admin,
          `/workgroup?${new URLSearchParams({ name: workgroup })}`,
        );
        await page.locator("#resync").click();
        const line = await page.locator(".result p").first().innerText();
        const id = /^Snapshot of uit:helpdesk queued \(([0-9a-f]{64})\)\.$/
          .exec(line)?.[1];
        assert.ok(id, line);
        await page.screenshot({
          path: `${artifacts}/resync.png`,
          fullPage: true,
        });
        const call = await waitForCall(
          stack,
          (argv) => argv.includes(id),
          diagnose(id),
        );
        assert.deepEqual(call.argv.slice(1, 3), [
          "workgroup.snapshot",
          workgroup,
        ]);
        const members = (await directoryMemberships(
          stack,
          stack.ldap.workgroupBase,
        )).get(workgroup);
        // remctld's stdin=last hands {members} to the backend on stdin.
        assert.deepEqual(
          new Set(
            (JSON.parse(call.stdin) as { dn: string }[]).map((m) =>
              m.dn.toLowerCase()
            ),
          ),
          members,
        );
        await page.close();
      },
    );

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
