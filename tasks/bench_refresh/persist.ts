/**
 * The persist phase of `deno task bench:refresh`: ldapmodify → slapd → sync
 * client (refreshAndPersist) → applier → outbox → pump → channel → an
 * acknowledging ChannelServer, as member changes per second beside
 * ldapmodify's own rate.
 *
 * @module
 */

import { SyncClient } from "../../lib/ldap/mod.ts";
import {
  openStore,
  OutboxPump,
  WorkgroupApplier,
} from "../../lib/wgsync_ldap/mod.ts";
import { ChannelClient, ChannelServer } from "../../lib/channel/mod.ts";
import { adminArgs } from "../stack/ldap_admin.ts";
import type { StackInfo } from "../stack/types.ts";
import { FILTER, run, STORE_ATTRIBUTES, target } from "./common.ts";

function groupDn(stack: StackInfo, g: number): string {
  const stems = stack.data.stems;
  return `cn=${stems[g % stems.length]}:group-${
    String(g).padStart(6, "0")
  },${stack.ldap.workgroupBase}`;
}

/**
 * Persist-phase throughput: ldapmodify → slapd → sync client (persist) →
 * applier → outbox → pump → channel → ChannelServer acknowledgement.
 */
export async function persistPhase(
  stack: StackInfo,
  changes: number,
  writers: number,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-bench-persist-" });
  const keyFile = `${dir}/auth.key`;
  const key = crypto.getRandomValues(new Uint8Array(32));
  await Deno.writeTextFile(
    keyFile,
    Array.from(key, (b) => b.toString(16).padStart(2, "0")).join(""),
    { mode: 0o600 },
  );
  const t = target(stack, false);
  const { store } = openStore(`${dir}/store.sqlite`, {
    identity: { base: t.base, filter: FILTER, bench: "persist" },
  });
  const applier = new WorkgroupApplier(store);
  const memberEvents = new Set<string>();
  let memberAcked = 0;
  let lastAck = 0;
  const server = await ChannelServer.listen({
    address: { transport: "unix", path: `${dir}/channel.sock` },
    keyFile,
    handler: (event) => {
      if ((event.body as { type?: string }).type === "member.added") {
        memberEvents.add(event.id);
      }
      return Promise.resolve();
    },
  });
  // deno-lint-ignore prefer-const
  let pump: OutboxPump;
  const channel = await ChannelClient.open({
    address: { transport: "unix", path: `${dir}/channel.sock` },
    keyFile,
    connections: 4,
    onAck: (id) => {
      pump.ack(id);
      if (memberEvents.delete(id)) {
        memberAcked++;
        lastAck = performance.now();
      }
    },
  });
  pump = new OutboxPump(store, channel);
  const abort = new AbortController();
  const pumping = pump.run(abort.signal);
  const client = new SyncClient({
    url: t.url,
    bind: t.bind,
    baseDN: t.base,
    scope: "one",
    filter: FILTER,
    attributes: STORE_ATTRIBUTES,
    mode: "refreshAndPersist",
    cookie: () => applier.cookie,
    reconnect: { maxAttempts: 3 },
  });
  const refreshed = Promise.withResolvers<number>();
  const started = performance.now();
  const syncing = (async () => {
    for await (const message of client.sync()) {
      if (message.kind === "start") {
        applier.endSearch();
        applier.beginSearch();
        continue;
      }
      const result = applier.apply(message);
      if (result.kind === "applied" && result.refreshDone) {
        refreshed.resolve(performance.now() - started);
      }
    }
  })();
  syncing.catch((error) => refreshed.reject(error));
  try {
    const refreshMs = await refreshed.promise;
    const drainStart = performance.now();
    while (store.outboxDepth() > 0) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const drainMs = performance.now() - drainStart;
    // Each writer modifies its own workgroups: one member added per modify.
    const groups = stack.data.workgroups;
    const ldifs: string[] = [];
    for (let w = 0; w < writers; w++) {
      const lines: string[] = [];
      for (let c = w; c < changes; c += writers) {
        lines.push(
          `dn: ${groupDn(stack, c % groups)}`,
          "changetype: modify",
          "add: member",
          `member: uid=bench-${c},${stack.ldap.peopleBase}`,
          "",
        );
      }
      const file = `${dir}/writer-${w}.ldif`;
      await Deno.writeTextFile(file, lines.join("\n"));
      ldifs.push(file);
    }
    const t0 = performance.now();
    const modifyMs = await Promise.all(ldifs.map(async (file) => {
      await run("ldapmodify", [...adminArgs(stack), "-f", file]);
      return performance.now() - t0;
    }));
    const ldapmodifyMs = Math.max(...modifyMs);
    const deadline = performance.now() + 120_000;
    while (memberAcked < changes && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
    }
    if (memberAcked < changes) {
      throw new Error(
        `only ${memberAcked} of ${changes} member.added events were acknowledged within 120 s`,
      );
    }
    const ackedMs = lastAck - t0;
    const rate = (n: number, ms: number) =>
      Math.round(n / (ms / 1000)).toLocaleString("en-US");
    console.log(
      `\npersist phase: ${changes} member additions by ${writers} ldapmodify processes, ${groups} workgroups, Unix-socket channel (4 connections) to an acknowledging ChannelServer`,
    );
    console.log(
      `  ldapmodify alone (slapd accepting the changes)   ${
        ldapmodifyMs.toFixed(0)
      } ms  ${rate(changes, ldapmodifyMs)} changes/s`,
    );
    console.log(
      `  ldapmodify → acknowledged member.added event     ${
        ackedMs.toFixed(0)
      } ms  ${rate(changes, ackedMs)} changes/s (goal >= 2,000/s)`,
    );
    console.log(
      `  (set-up: the refreshAndPersist refresh into the store took ${
        refreshMs.toFixed(0)
      } ms; its ${groups} workgroup.created events acknowledged in ${
        drainMs.toFixed(0)
      } ms, ${rate(groups, drainMs)} events/s)`,
    );
  } finally {
    abort.abort();
    await client.close();
    await syncing.catch(() => {});
    await pumping.catch(() => {});
    await channel.close();
    await server.close();
    applier.endSearch();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}
