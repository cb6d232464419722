/**
 * One end of the channel as its own process, for tests that kill a peer or
 * watch a process survive: `server SOCKET KEYFILE` serves until killed;
 * `client SOCKET KEYFILE EVENTS` streams EVENTS events, keeps an outbox of
 * the unacknowledged ones (deleted on acknowledgement, as wgsync-ldap's
 * outbox is), prints `acked N` every 500 acknowledgements and a JSON summary
 * at the end, then exits 0.
 *
 * The parent reads stdout line by line ({@linkcode ChannelProcess}).
 *
 * @module
 */

import { ChannelClient, ChannelServer } from "../../lib/channel/mod.ts";

/** The summary the client process prints last. */
export interface ClientSummary {
  submitted: number;
  acked: number;
  /** Outbox ids never acknowledged. */
  pending: string[];
  /** Acknowledgements for ids not in the outbox (acked twice, or never sent). */
  unexpected: string[];
}

/** A child process of this module, with its stdout as lines. */
export class ChannelProcess {
  #child: Deno.ChildProcess;
  #lines: string[] = [];
  #waiters: (() => void)[] = [];
  #reading: Promise<void>;

  /** Starts `role` with `args` (stderr inherited so its logs show in the test output). */
  constructor(role: "server" | "client", args: string[]) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--no-prompt",
        "--allow-read",
        "--allow-write=/tmp",
        "--allow-net",
        import.meta.filename!,
        role,
        ...args,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    let rest = "";
    for await (
      const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      this.#lines.push(...parts);
      for (const wake of this.#waiters.splice(0)) wake();
    }
    if (rest !== "") this.#lines.push(rest);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** The lines printed so far. */
  get lines(): readonly string[] {
    return this.#lines;
  }

  /** Waits for a line matching `pattern` (or the end of stdout). */
  async waitLine(pattern: RegExp): Promise<string | undefined> {
    while (true) {
      const line = this.#lines.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      const ended = await Promise.race([
        new Promise<boolean>((resolve) =>
          this.#waiters.push(() => resolve(false))
        ),
        this.#reading.then(() => true),
      ]);
      if (ended) return this.#lines.find((l) => pattern.test(l));
    }
  }

  /** Sends `signal` to the process. */
  kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** Waits for the exit; all of stdout has been read by then. */
  async status(): Promise<Deno.CommandStatus> {
    const status = await this.#child.status;
    await this.#reading;
    return status;
  }
}

async function server(path: string, keyFile: string): Promise<void> {
  await ChannelServer.listen({
    address: { transport: "unix", path },
    keyFile,
    handler: () => Promise.resolve(),
  });
  console.log("listening");
  await new Promise(() => {});
}

async function client(
  path: string,
  keyFile: string,
  events: number,
): Promise<void> {
  const outbox = new Set<string>();
  const unexpected: string[] = [];
  let acked = 0;
  const channel = await ChannelClient.open({
    address: { transport: "unix", path },
    keyFile,
    connections: 4,
    window: 64,
    reconnect: { minDelay: 20, maxDelay: 200 },
    onAck: (id) => {
      if (!outbox.delete(id)) unexpected.push(id);
      if (++acked % 500 === 0) console.log(`acked ${acked}`);
    },
  });
  // About 2 KB an event: writes are in progress most of the time.
  const pad = "m".repeat(2000);
  for (let i = 0; i < events; i++) {
    const id = `s:g${i % 50}#${i}`;
    outbox.add(id);
    await channel.submit({
      id,
      workgroup: `s:g${i % 50}`,
      body: JSON.stringify({ v: 1, seq: i, pad }),
    });
  }
  await channel.drained();
  await channel.close();
  const summary: ClientSummary = {
    submitted: events,
    acked,
    pending: [...outbox],
    unexpected,
  };
  console.log(JSON.stringify(summary));
}

if (import.meta.main) {
  const [role, path, keyFile, events] = Deno.args;
  if (role === "server") await server(path, keyFile);
  else if (role === "client") await client(path, keyFile, Number(events));
  else throw new Error(`expected "server" or "client", got "${role}"`);
}
