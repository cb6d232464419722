/**
 * Micro-benchmark of the GSSAPI security layer: gss_wrap/gss_unwrap through
 * FFI on about 1 KB tokens, for the integrity and confidentiality layers,
 * beside anchors measured in the same run (node:crypto doing the same kind
 * of work natively: AES-256-CBC + HMAC-SHA1, and HMAC-SHA1 alone), plus the
 * cost of a whole SASL GSSAPI bind.
 *
 * Unwrap is measured on real tokens from slapd: the bind offers a small
 * maxReceiveSize so that slapd cuts its search results (the workgroups, whose
 * member lists are long) into ~1 KB tokens; the mean size is printed.
 *
 *   deno run --frozen --cached-only --allow-all tasks/bench_gssapi.ts [--stack DIR]
 *     [--searches 20] [--token-size 1100] [--wraps 20000] [--binds 50]
 *
 * Without --stack it starts a local stack in a temporary directory and stops it.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { BerReader, PresenceFilter, SearchRequest } from "ldapts";
import { saslGssapiBind, type SaslSession } from "../lib/gssapi/mod.ts";
import { LdapTestConnection } from "../tests/helpers/ldap_bind.ts";
import { down, readStackInfo, type StackInfo, up } from "./stack/mod.ts";

const { values } = parseArgs({
  options: {
    stack: { type: "string" },
    searches: { type: "string", default: "20" },
    "token-size": { type: "string", default: "1100" },
    wraps: { type: "string", default: "20000" },
    binds: { type: "string", default: "50" },
  },
});

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot run the benchmark as --${name} is not a positive integer: got "${text}"`,
    );
  }
  return value;
}

const searches = positive("searches", values.searches);
const tokenSize = positive("token-size", values["token-size"]);
const wraps = positive("wraps", values.wraps);
const binds = positive("binds", values.binds);

interface Figure {
  name: string;
  ops: number;
  bytes: number;
  ms: number;
}

function line({ name, ops, bytes, ms }: Figure): string {
  const us = (ms * 1000) / ops;
  const mbs = bytes / 1e6 / (ms / 1000);
  const mean = Math.round(bytes / ops);
  return `${name.padEnd(44)} ${String(ops).padStart(7)} ops  ${
    String(mean).padStart(5)
  } B/op  ${us.toFixed(2).padStart(8)} µs/op  ${
    mbs.toFixed(1).padStart(7)
  } MB/s`;
}

async function bind(stack: StackInfo, layer: "integrity" | "confidentiality") {
  const conn = await LdapTestConnection.connect(stack.ldap.port);
  const session = await saslGssapiBind(conn.saslBindStep, {
    ccache: stack.ccaches.ldapClient,
    service: "ldap",
    host: stack.ldap.saslHost,
    layers: [layer],
    maxReceiveSize: tokenSize,
  });
  return { conn, session };
}

/** Searches the whole directory `searches` times; times every unwrap. */
async function measureUnwrap(
  stack: StackInfo,
  layer: "integrity" | "confidentiality",
): Promise<Figure> {
  const { conn, session } = await bind(stack, layer);
  const figure: Figure = {
    name: `gss_unwrap ${layer} (slapd tokens)`,
    ops: 0,
    bytes: 0,
    ms: 0,
  };
  const timed: SaslSession = {
    ...session,
    unwrap(token) {
      const t0 = performance.now();
      const data = session.unwrap(token);
      figure.ms += performance.now() - t0;
      figure.ops++;
      figure.bytes += data.byteLength;
      return data;
    },
  };
  conn.useSession(timed);
  try {
    for (let i = 0; i < searches; i++) {
      const request = new SearchRequest({
        messageId: 1000 + i,
        baseDN: stack.ldap.workgroupBase,
        scope: "sub",
        filter: new PresenceFilter({ attribute: "objectClass" }),
        attributes: [],
      });
      await conn.sendPdu(new Uint8Array(request.write()));
      for (;;) {
        const reader = new BerReader(Buffer.from(await conn.readPdu()));
        reader.readSequence(0x30);
        reader.readInt();
        if (reader.peek() === 0x65) break;
      }
    }
  } finally {
    session.close();
    conn.close();
  }
  return figure;
}

/** Wraps 1 KB of random data `wraps` times (the tokens are not sent). */
async function measureWrap(
  stack: StackInfo,
  layer: "integrity" | "confidentiality",
): Promise<Figure> {
  const { conn, session } = await bind(stack, layer);
  try {
    const data = crypto.getRandomValues(new Uint8Array(1024));
    for (let i = 0; i < 1000; i++) session.wrap(data);
    const t0 = performance.now();
    for (let i = 0; i < wraps; i++) session.wrap(data);
    return {
      name: `gss_wrap ${layer} (1 KB)`,
      ops: wraps,
      bytes: wraps * 1024,
      ms: performance.now() - t0,
    };
  } finally {
    session.close();
    conn.close();
  }
}

function anchorCipher(): Figure {
  const key = randomBytes(32);
  const macKey = randomBytes(20);
  const data = randomBytes(1024);
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const cipher = createCipheriv("aes-256-cbc", key, randomBytes(16));
      cipher.update(data);
      cipher.final();
      createHmac("sha1", macKey).update(data).digest();
    }
  };
  run(1000);
  const t0 = performance.now();
  run(wraps);
  return {
    name: "anchor: node:crypto AES-256-CBC + HMAC-SHA1",
    ops: wraps,
    bytes: wraps * 1024,
    ms: performance.now() - t0,
  };
}

function anchorMac(): Figure {
  const macKey = randomBytes(20);
  const data = randomBytes(1024);
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      createHmac("sha1", macKey).update(data).digest();
    }
  };
  run(1000);
  const t0 = performance.now();
  run(wraps);
  return {
    name: "anchor: node:crypto HMAC-SHA1",
    ops: wraps,
    bytes: wraps * 1024,
    ms: performance.now() - t0,
  };
}

async function measureBinds(stack: StackInfo): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < binds; i++) {
    const t0 = performance.now();
    const { conn, session } = await bind(stack, "confidentiality");
    times.push(performance.now() - t0);
    session.close();
    conn.close();
  }
  return times.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  let dir = values.stack;
  const owned = dir === undefined;
  dir ??= await Deno.makeTempDir({ prefix: "wgsync-bench-gssapi-" });
  try {
    const stack = owned
      ? await up(dir, { log: () => {} })
      : await readStackInfo(dir);
    Deno.env.set("KRB5_CONFIG", stack.krb5Config);
    console.log(
      `GSSAPI wrap/unwrap, token size limit ${tokenSize} bytes, ${searches} searches, ${wraps} wraps`,
    );
    const figures: Figure[] = [];
    for (const layer of ["integrity", "confidentiality"] as const) {
      figures.push(await measureUnwrap(stack, layer));
      figures.push(await measureWrap(stack, layer));
    }
    figures.push(anchorMac(), anchorCipher());
    for (const figure of figures) console.log(line(figure));
    const bindTimes = await measureBinds(stack);
    const median = bindTimes[Math.floor(bindTimes.length / 2)];
    console.log(
      `SASL GSSAPI bind (confidentiality), ${binds} binds: median ${
        median.toFixed(2)
      } ms, min ${bindTimes[0].toFixed(2)} ms, max ${
        bindTimes[bindTimes.length - 1].toFixed(2)
      } ms`,
    );
  } finally {
    if (owned) {
      await down(dir);
      await Deno.remove(dir, { recursive: true });
    }
  }
}

await main();
