/**
 * One connection of {@linkcode libremctlParallel} (tasks/bench/remctl_ffi.ts):
 * told the target, the command and how many to run, it opens a libremctl
 * connection, runs one command to warm it, says so, waits for "go", runs its
 * share and sends back each command's latency.
 *
 * @module
 */

import {
  LibremctlConnection,
  type LibremctlTarget,
  type WorkerReport,
} from "./remctl_ffi.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};

let connection: LibremctlConnection | undefined;
let job: { argv: string[]; n: number } | undefined;

scope.onmessage = (event: MessageEvent) => {
  if (event.data !== "go") {
    const { target, argv, n } = event.data as {
      target: LibremctlTarget;
      argv: string[];
      n: number;
    };
    connection = new LibremctlConnection(target);
    connection.run(argv);
    job = { argv, n };
    scope.postMessage("ready");
    return;
  }
  const latencies: number[] = [];
  for (let i = 0; i < job!.n; i++) {
    const t = performance.now();
    connection!.run(job!.argv);
    latencies.push(performance.now() - t);
  }
  connection!.close();
  scope.postMessage({ latencies } satisfies WorkerReport);
};
