/**
 * libremctl 3.18 through FFI for `bench:remctl`: a kept-open connection
 * running commands synchronously ({@linkcode LibremctlConnection}), the
 * alternative wgsync-remctl's client was chosen against; and the same on
 * several connections at once, one worker thread each
 * ({@linkcode libremctlParallel}, tasks/bench/remctl_ffi_worker.ts) — what
 * remctld sustains with libremctl as the client: the ceiling of any client
 * on this machine where the server is the bound (a command with output keeps
 * each libremctl call waiting about 40 ms, so there it is not).
 *
 * @module
 */

/** Where and as whom to connect (a stack's remctld and client cache). */
export interface LibremctlTarget {
  host: string;
  port: number;
  service: string;
  ccache: string;
}

const encoder = new TextEncoder();
const cs = (text: string) => encoder.encode(`${text}\0`);

/** One kept-open libremctl connection; calls block the thread. */
export class LibremctlConnection {
  #lib;
  #r: Deno.PointerValue;
  #vector: BigUint64Array | undefined;
  #strings: Uint8Array[] = [];

  /** Opens the connection; throws naming libremctl's error. */
  constructor(target: LibremctlTarget) {
    this.#lib = Deno.dlopen("libremctl.so.1", {
      remctl_new: { parameters: [], result: "pointer" },
      remctl_set_ccache: { parameters: ["pointer", "buffer"], result: "i32" },
      remctl_open: {
        parameters: ["pointer", "buffer", "u16", "buffer"],
        result: "i32",
      },
      remctl_command: { parameters: ["pointer", "buffer"], result: "i32" },
      remctl_output: { parameters: ["pointer"], result: "pointer" },
      remctl_error: { parameters: ["pointer"], result: "pointer" },
      remctl_close: { parameters: ["pointer"], result: "void" },
    });
    this.#r = this.#lib.symbols.remctl_new();
    this.#lib.symbols.remctl_set_ccache(this.#r, cs(`FILE:${target.ccache}`));
    if (
      !this.#lib.symbols.remctl_open(
        this.#r,
        cs(target.host),
        target.port,
        cs(target.service),
      )
    ) {
      const error = this.#fail("open");
      this.close();
      throw error;
    }
  }

  /** Runs `argv` and reads its output to the end; throws on a remote error. */
  run(argv: string[]): void {
    if (this.#vector === undefined) {
      // The strings must stay alive as long as the vector points at them.
      this.#strings = argv.map(cs);
      this.#vector = new BigUint64Array(this.#strings.length + 1);
      this.#strings.forEach((s, i) =>
        this.#vector![i] = BigInt(
          Deno.UnsafePointer.value(Deno.UnsafePointer.of(s)),
        )
      );
    }
    const symbols = this.#lib.symbols;
    if (!symbols.remctl_command(this.#r, this.#vector)) {
      throw this.#fail("command");
    }
    for (;;) {
      const output = symbols.remctl_output(this.#r);
      if (output === null) throw this.#fail("output");
      const type = new Deno.UnsafePointerView(output).getInt32(0);
      if (type === 1 || type === 3) return; // status, done
      if (type === 2) throw this.#fail("remote error");
    }
  }

  /** Closes the connection and the library. */
  close(): void {
    this.#lib.symbols.remctl_close(this.#r);
    this.#lib.close();
  }

  #fail(what: string): Error {
    const text = this.#lib.symbols.remctl_error(this.#r);
    return new Error(
      `libremctl ${what}: ${
        text === null
          ? "no error text"
          : Deno.UnsafePointerView.getCString(text)
      }`,
    );
  }
}

/** What a worker sends back: each command's latency, ms. */
export interface WorkerReport {
  latencies: number[];
}

/**
 * Runs `n` commands spread over `connections` kept-open libremctl
 * connections, one worker thread each, all opened before the clock starts.
 * Resolves with every command's latency and the elapsed time, ms.
 */
export async function libremctlParallel(
  target: LibremctlTarget,
  argv: string[],
  options: { n: number; connections: number },
): Promise<{ latencies: number[]; elapsedMs: number }> {
  const { n, connections } = options;
  const workers = Array.from(
    { length: connections },
    () =>
      new Worker(new URL("./remctl_ffi_worker.ts", import.meta.url), {
        type: "module",
      }),
  );
  try {
    const next = (worker: Worker) =>
      new Promise<unknown>((resolve, reject) => {
        worker.onmessage = (event) => resolve(event.data);
        worker.onerror = (event) => {
          event.preventDefault();
          reject(new Error(`a libremctl worker failed: ${event.message}`));
        };
      });
    const ready = workers.map(next);
    workers.forEach((worker, i) =>
      worker.postMessage({
        target,
        argv,
        n: Math.floor(n / connections) + (i < n % connections ? 1 : 0),
      })
    );
    await Promise.all(ready);
    const done = workers.map(next);
    const started = performance.now();
    for (const worker of workers) worker.postMessage("go");
    const reports = await Promise.all(done) as WorkerReport[];
    return {
      latencies: reports.flatMap((report) => report.latencies),
      elapsedMs: performance.now() - started,
    };
  } finally {
    for (const worker of workers) worker.terminate();
  }
}
