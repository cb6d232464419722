/**
 * The journal sink when journald refuses or cannot keep up: records go to the
 * fallback with one warning, a burst beyond maxPending is dropped and counted,
 * a stalled journald blocks neither logging nor disposal. journald here is a
 * DatagramListener on a socket in a temporary directory (helpers/datagram_listener.ts).
 *
 * Needs: --allow-read and --allow-write (a temporary directory), --allow-net
 * (its Unix socket).
 */

import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { getJournalSink } from "../lib/log/journal_sink.ts";
import { DatagramListener } from "./helpers/datagram_listener.ts";

function testRecord(message: string): LogRecord {
  return {
    category: ["wgsync", "test"],
    level: "info",
    message: [message],
    rawMessage: message,
    timestamp: Date.now(),
    properties: {},
  };
}

Deno.test("records journald does not take go to the fallback, with one warning, until it takes them again", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/journal.socket`;
  let listener = new DatagramListener(path);
  const fallback: LogRecord[] = [];
  const sink = getJournalSink({
    identifier: "wgsync-test",
    socket: path,
    fallback: (record) => fallback.push(record),
  });
  const record = (message: string): LogRecord => ({
    category: ["wgsync", "test"],
    level: "info",
    message: [message],
    rawMessage: message,
    timestamp: Date.now(),
    properties: {},
  });
  try {
    sink(record("one"));
    await sink.drain();
    await listener.waitForCount(1);
    assert.deepEqual(
      listener.messages.map((m) => /MESSAGE=(.*)/.exec(m)?.[1]),
      ["one"],
    );
    await listener.close();
    await Deno.remove(path);
    sink(record("two"));
    sink(record("three"));
    await sink.drain();
    assert.equal(fallback.length, 3);
    assert.equal(fallback[0].level, "warning");
    assert.match(
      String(fallback[0].message[0]),
      /^Cannot send log records to journald at ".*journal\.socket": .*No such file/,
    );
    assert.deepEqual(fallback.slice(1).map((r) => r.message[0]), [
      "two",
      "three",
    ]);
    listener = new DatagramListener(path);
    sink(record("four"));
    await sink.drain();
    await listener.waitForCount(1);
    assert.deepEqual(
      listener.messages.map((m) => /MESSAGE=(.*)/.exec(m)?.[1]),
      ["four"],
    );
    assert.equal(
      fallback.length,
      3,
      "no more fallback once journald takes records",
    );
  } finally {
    await sink[Symbol.asyncDispose]();
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a burst beyond maxPending is dropped, counted and the count logged to journald", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/journal.socket`;
  const listener = new DatagramListener(path);
  const fallback: LogRecord[] = [];
  const sink = getJournalSink({
    identifier: "wgsync-test",
    socket: path,
    fallback: (record) => fallback.push(record),
    maxPending: 5,
  });
  try {
    for (let i = 0; i < 20; i++) sink(testRecord(`r${i}`));
    await sink.drain();
    const messages = (await listener.waitForCount(7)).map((m) =>
      /MESSAGE=(.*)/.exec(m)![1]
    );
    const notes = messages.filter((m) => m.includes("dropped"));
    assert.equal(notes.length, 1, JSON.stringify(messages));
    const dropped = Number(
      /^(\d+) log records were dropped as 5 were already waiting/.exec(
        notes[0],
      )![1],
    );
    const kept = messages.filter((m) => !m.includes("dropped"));
    assert.equal(kept.length + dropped, 20);
    assert.deepEqual(
      kept,
      kept.toSorted((a, b) => Number(a.slice(1)) - Number(b.slice(1))),
    );
    assert.equal(kept[0], "r0");
    assert.equal(fallback.length, 0);
  } finally {
    await sink[Symbol.asyncDispose]();
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stalled journald neither blocks logging nor disposal; waiting records go to the fallback", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/journal.socket`;
  // A bound socket nobody reads: once its queue is full, a send waits until
  // the socket is read or closed.
  const stalled = Deno.listenDatagram({ transport: "unixpacket", path });
  const fallback: LogRecord[] = [];
  const sink = getJournalSink({
    identifier: "wgsync-test",
    socket: path,
    fallback: (record) => fallback.push(record),
    maxPending: 100,
  });
  try {
    for (let i = 0; i < 2000; i++) sink(testRecord(`r${i}`));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const disposed = await Promise.race([
      sink[Symbol.asyncDispose]().then(() => true),
      new Promise<false>((resolve) =>
        timer = setTimeout(() => resolve(false), 15_000)
      ),
    ]);
    clearTimeout(timer);
    assert.ok(disposed, "dispose finished despite the stalled socket");
    const waiting = fallback.length;
    assert.ok(
      waiting > 50,
      `the waiting records went to the fallback: ${waiting}`,
    );

    const received: string[] = [];
    for (;;) {
      let timeout: ReturnType<typeof setTimeout> | undefined;
      const next = await Promise.race([
        stalled.receive(),
        new Promise<undefined>((resolve) =>
          timeout = setTimeout(() => resolve(undefined), 200)
        ),
      ]);
      clearTimeout(timeout);
      if (next === undefined) break;
      received.push(/MESSAGE=(.*)/.exec(new TextDecoder().decode(next[0]))![1]);
    }
    // Reading let the one send that was stuck in the kernel complete.
    await sink.drain();
    const diverted = fallback.map((r) => String(r.message[0]));
    assert.equal(diverted.length, waiting, "nothing diverted after dispose");
    assert.ok(received.length > 0, "records were sent before the stall");
    assert.ok(
      received.length < 50,
      `the socket stalled: ${received.length} received`,
    );
    // The first record and the 100 queued after it; the rest was dropped.
    const notes = received.filter((m) => m.includes("dropped"));
    assert.deepEqual(notes, [
      "1899 log records were dropped as 100 were already waiting to be sent to journald",
    ]);
    const kept = Array.from({ length: 101 }, (_, i) => `r${i}`);
    const sent = received.filter((m) => !m.includes("dropped"));
    assert.deepEqual(
      [...sent, ...diverted].toSorted(),
      kept.toSorted(),
      "every kept record was either sent or diverted, none both",
    );
  } finally {
    stalled.close();
    await Deno.remove(dir, { recursive: true });
  }
});
