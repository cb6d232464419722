/**
 * The LDAP Consumer's wiring: the store, the people search (uid lookup) and
 * then the workgroup search feeding the {@linkcode WorkgroupApplier}, the
 * outbox pump to the channel (or to standard output), the mass-deletion
 * guard's refusals, and systemd's readiness, status, timeout extension and
 * watchdog.
 *
 * `READY=1` is sent once the first workgroup refresh is complete and every
 * channel connection is up. A refused mass deletion is logged at critical,
 * shown in `STATUS=`, and the consumer then waits (the outbox is still
 * delivered, the directory is not read) until it is stopped; started again
 * with `acceptMassDelete` the deletion goes through once.
 *
 * @module
 */

import { getLogger } from "../log/mod.ts";
import { ChannelClient } from "../channel/mod.ts";
import { WorkgroupApplier } from "./apply.ts";
import type { GuardVerdict } from "./guard.ts";
import { MemberDirectory } from "./member.ts";
import { PeopleApplier } from "./people.ts";
import { OutboxPump } from "./pump.ts";
import { openStore, type Store } from "./store.ts";
import {
  type LdapError,
  SyncClient,
  type SyncRefreshEndMessage,
} from "../ldap/mod.ts";
import type { Notifier } from "../systemd/mod.ts";
import {
  channelAddress,
  type ChannelSettings,
  type LdapSettings,
  peopleSearch,
  storeIdentity,
  storePath,
  syncClientOptions,
  workgroupSearch,
} from "./settings.ts";
import { statusLine } from "./status.ts";
import { StdoutSink } from "./stdout_sink.ts";
import { abortPromise, sleep, waitAtMost } from "../async.ts";

/** Options of {@linkcode runConsumer}. */
export interface ConsumerOptions {
  /** The `[ldap]` section. */
  ldap: LdapSettings;
  /** The `[channel]` section; required unless `stdout` is set. */
  channel?: ChannelSettings;
  /** Where readiness and status go. */
  notifier: Notifier;
  /** Aborted to stop: the search is cancelled, the pump stopped, the store closed. */
  signal: AbortSignal;
  /** Let one refresh above the mass-deletion threshold through (`--accept-mass-delete`). Default false. */
  acceptMassDelete?: boolean;
  /** Print each event as a JSON line instead of sending it (`--stdout`). Default false. */
  stdout?: boolean;
  /** Where `stdout` mode writes. Default `Deno.stdout`. */
  writer?: { write(bytes: Uint8Array): Promise<number> };
}

/** Raised when the consumer cannot run. */
export class ConsumerError extends Error {
  /** Constructs a ConsumerError. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConsumerError";
  }
}

/**
 * While the first refresh makes progress, EXTEND_TIMEOUT_USEC is sent this
 * often (and when the people refresh completes), each time granting this
 * much more time. A refresh that makes no progress (the server unreachable)
 * gets no extension: the unit's start timeout applies.
 */
const KEEP_ALIVE_MS = 5_000;
const KEEP_ALIVE_EXTEND_USEC = 30_000_000;
/**
 * The longest stretch of sync messages handled without giving timers and
 * signal handlers a turn: a refresh read from a full socket buffer resolves
 * only microtasks, which would starve SIGTERM, STATUS=, the watchdog and the
 * keep-alive until it is done.
 */
const BREATHE_MS = 20;
/** How long a stop waits for acknowledgements of events already sent. */
const DRAIN_MS = 2_000;

const log = getLogger("ldap");

/**
 * Runs the consumer until `signal` aborts (then resolves after a clean
 * stop), or rejects on an error it cannot recover from (a store that cannot
 * be written, a missing permission, an unusable auth key).
 */
export async function runConsumer(options: ConsumerOptions): Promise<void> {
  if (!options.stdout && options.channel === undefined) {
    throw new ConsumerError(
      "Cannot run the LDAP consumer as the configuration has no [channel] section: add one, or use --stdout",
    );
  }
  const path = storePath(options.ldap);
  try {
    await Deno.mkdir(options.ldap.data_dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new ConsumerError(
      `Cannot create the data directory: path is "${options.ldap.data_dir}"`,
      { cause: error },
    );
  }
  const { store, rebuilt } = openStore(path, {
    identity: storeIdentity(options.ldap),
  });
  if (rebuilt !== undefined) {
    log.warn(
      "Rebuilding the store {path} from a full refresh as {reason}; a snapshot of every workgroup follows",
      { path, reason: rebuilt },
    );
  }
  const consumer = new Consumer(store, options);
  await consumer.run();
}

/**
 * The end of a refresh that started without a cookie (the first start, after
 * refreshRequired, or after a refresh that broke off) as a present phase: the
 * server sent the whole content, so every stored workgroup (or person) it did
 * not send is gone. slapd ends such a refresh with refreshDelete and no
 * deletions, which would otherwise keep an entry deleted meanwhile (e.g.
 * while the search base was renamed away) in the store: a workgroup
 * snapshotted as if it existed, a person's uid still resolved. Workgroup
 * deletions found this way still go through the mass-deletion guard.
 */
function asFullTransferEnd(
  message: SyncRefreshEndMessage,
): SyncRefreshEndMessage {
  if (message.phase === "present" && !message.refreshDeletes) return message;
  return { ...message, phase: "present", refreshDeletes: false };
}

class Consumer {
  #options: ConsumerOptions;
  #store: Store;
  #directory = new MemberDirectory();
  #people: PeopleApplier | undefined;
  #workgroups: WorkgroupApplier;
  #pump: OutboxPump | undefined;
  #channel: ChannelClient | undefined;
  #clients: SyncClient[] = [];
  #loops: Promise<void>[] = [];
  #failed = Promise.withResolvers<never>();
  #failure: unknown;
  #state = "starting: first refresh of the directory";
  #ldapProblem: string | undefined;
  #ready = false;
  #lastChange: number | undefined;
  /** Events written by the current workgroup refresh so far. */
  #refreshEvents = 0;
  /** How the provider ended the current refresh: "present" (entries still there) or "delete" (deletions listed). */
  #refreshPhase = "delete";
  #timers: ReturnType<typeof setInterval>[] = [];
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  /** Sync messages applied so far (both searches): the keep-alive's measure of progress. */
  #progress = 0;
  #breathed = performance.now();

  constructor(store: Store, options: ConsumerOptions) {
    this.#options = options;
    this.#store = store;
    const ldap = options.ldap;
    if (ldap.people !== undefined) {
      this.#people = new PeopleApplier(store, this.#directory, {
        uidAttribute: ldap.people.uid_attribute,
        idAttribute: ldap.people.id_attribute,
      });
    }
    this.#workgroups = new WorkgroupApplier(store, {
      nameAttribute: ldap.workgroups.name_attribute,
      memberAttribute: ldap.workgroups.member_attribute,
      members: this.#directory,
      guard: {
        maxShare: ldap.mass_delete_threshold,
        acceptMassDelete: options.acceptMassDelete ?? false,
      },
    });
    this.#failed.promise.catch(() => {});
  }

  async run(): Promise<void> {
    const { signal, channel } = this.#options;
    const pumpStop = new AbortController();
    let pumped: Promise<void> | undefined;
    try {
      const onAck = (id: string) => this.#pump?.ack(id);
      if (this.#options.stdout) {
        this.#pump = new OutboxPump(
          this.#store,
          new StdoutSink({ writer: this.#options.writer, onAck }),
        );
      } else {
        this.#channel = await ChannelClient.open({
          address: channelAddress(channel!),
          keyFile: channel!.auth_key_file,
          connections: channel!.connections,
          window: channel!.window,
          maxFrameBytes: channel!.max_frame_bytes,
          onAck,
        });
        this.#pump = new OutboxPump(this.#store, this.#channel);
      }
      const stopped = abortPromise(signal);
      this.#startTimers();
      pumped = this.#pump.run(pumpStop.signal).catch((error) =>
        this.#fail(error)
      );
      if (this.#people !== undefined) {
        const peopleReady = Promise.withResolvers<void>();
        this.#track(this.#runPeople(this.#people, peopleReady.resolve));
        await Promise.race([
          peopleReady.promise,
          stopped,
          this.#failed.promise,
        ]);
      }
      if (!signal.aborted) this.#track(this.#runWorkgroups());
      await Promise.race([stopped, this.#failed.promise]);
    } finally {
      await this.#shutdown(pumpStop, pumped);
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Lets timers and signal handlers run when the loop has kept the thread for {@linkcode BREATHE_MS}. */
  async #breathe(): Promise<void> {
    if (performance.now() - this.#breathed < BREATHE_MS) return;
    await sleep(0);
    this.#breathed = performance.now();
  }

  #track(loop: Promise<void>): void {
    this.#loops.push(loop.catch((error) => this.#fail(error)));
  }

  #fail(error: unknown): void {
    if (this.#failure !== undefined || this.#options.signal.aborted) return;
    this.#failure = error;
    this.#failed.reject(error);
  }

  #client(
    search: ReturnType<typeof workgroupSearch>,
    cookie: () => Uint8Array | undefined,
  ): SyncClient {
    const client = new SyncClient(syncClientOptions(this.#options.ldap, {
      ...search,
      cookie,
      onRetry: (error: LdapError, retry) => {
        this.#ldapProblem = `LDAP unavailable (${error.message}), retry ${
          Math.round(retry.delay / 1000)
        } s`;
        this.#reportStatus();
      },
    }));
    this.#clients.push(client);
    return client;
  }

  async #runPeople(
    people: PeopleApplier,
    ready: () => void,
  ): Promise<void> {
    const search = peopleSearch(this.#options.ldap)!;
    const client = this.#client(search, () => people.cookie);
    let begun = false;
    let done = false;
    let fullTransfer = false;
    try {
      for await (let message of client.sync()) {
        await this.#breathe();
        if (message.kind === "start") {
          if (begun) people.endSearch();
          people.beginSearch();
          begun = true;
          fullTransfer = message.resumeCookie === undefined;
          this.#ldapProblem = undefined;
          continue;
        }
        if (message.kind === "refreshEnd" && people.refreshing) {
          if (fullTransfer) message = asFullTransferEnd(message);
          fullTransfer = false;
        }
        const result = people.apply(message);
        this.#progress++;
        if (result.kind === "applied" && result.refreshDone && !done) {
          done = true;
          if (this.#keepAlive !== undefined) {
            void this.#options.notifier.extendTimeout(KEEP_ALIVE_EXTEND_USEC);
          }
          log.info("People refresh complete: {people} people", {
            people: this.#store.personCount(),
          });
          ready();
        }
      }
    } finally {
      if (begun) people.endSearch();
      await client.close();
    }
  }

  async #runWorkgroups(): Promise<void> {
    const applier = this.#workgroups;
    const client = this.#client(
      workgroupSearch(this.#options.ldap),
      () => applier.cookie,
    );
    let begun = false;
    let fullTransfer = false;
    try {
      for await (let message of client.sync()) {
        await this.#breathe();
        if (message.kind === "start") {
          if (begun) applier.endSearch();
          applier.beginSearch();
          begun = true;
          fullTransfer = message.resumeCookie === undefined;
          this.#refreshEvents = 0;
          this.#ldapProblem = undefined;
          continue;
        }
        if (message.kind === "refreshEnd" && applier.refreshing) {
          if (fullTransfer) message = asFullTransferEnd(message);
          fullTransfer = false;
          this.#refreshPhase = message.phase;
        }
        const result = applier.apply(message);
        this.#progress++;
        if (result.kind === "massDelete") {
          this.#refuse(result.verdict);
          return; // Leaving the loop cancels the search.
        }
        if (result.kind === "refreshRequired") {
          if (this.#ready) {
            this.#state = "running: full reload required by the provider";
          }
          continue;
        }
        if (result.refreshDone) {
          await this.#refreshDone({
            ...result,
            events: this.#refreshEvents + result.events,
          });
        } else if (applier.refreshing) {
          this.#refreshEvents += result.events;
        } else if (result.events > 0) {
          this.#lastChange = Date.now();
        }
      }
    } finally {
      if (begun) applier.endSearch();
      await client.close();
    }
  }

  async #refreshDone(
    result: { events: number; deleted: number; snapshots: number } & {
      verdict?: GuardVerdict;
    },
  ): Promise<void> {
    if (result.events > 0) this.#lastChange = Date.now();
    if (result.verdict?.accepted) {
      log.warn(
        "Applied a refresh deleting {deletions} of {workgroups} workgroups, above the threshold, as --accept-mass-delete allowed it once",
        {
          deletions: result.verdict.deletions,
          workgroups: result.verdict.workgroups,
        },
      );
    }
    log.info(
      "Workgroup refresh complete ({phase} phase): {workgroups} workgroups, {deleted} deleted, {snapshots} snapshots, {events} events",
      {
        phase: this.#refreshPhase,
        workgroups: this.#store.workgroupCount(),
        deleted: result.deleted,
        snapshots: result.snapshots,
        events: result.events,
      },
    );
    if (this.#ready) {
      this.#state = "running";
      return;
    }
    // The refresh is done: waiting for the channel gets no extension.
    this.#stopKeepAlive();
    if (this.#channel !== undefined && this.#channel.connected === 0) {
      this.#state = "first refresh done; waiting for the channel";
      this.#reportStatus();
    }
    await Promise.race([
      this.#channel?.waitConnected(),
      abortPromise(this.#options.signal),
    ]);
    if (this.#options.signal.aborted) return;
    this.#ready = true;
    this.#state = "running";
    log.info("Ready: {status}", { status: this.#statusText() });
    await this.#options.notifier.ready(this.#statusText());
  }

  #refuse(verdict: GuardVerdict): void {
    const percent = (share: number) => (share * 100).toFixed(1);
    log.fatal(
      "Refusing a refresh that would delete {deletions} of {workgroups} workgroups ({share} %, above the threshold of {maxShare} %): nothing was deleted and the cookie was kept. Check the directory; to apply the deletion, restart once with --accept-mass-delete",
      {
        deletions: verdict.deletions,
        workgroups: verdict.workgroups,
        share: percent(verdict.share),
        maxShare: percent(verdict.maxShare),
      },
    );
    this.#stopKeepAlive();
    this.#state =
      `REFUSED a mass deletion of ${verdict.deletions} of ${verdict.workgroups} workgroups (${
        percent(verdict.share)
      } % > ${
        percent(verdict.maxShare)
      } %); waiting: restart with --accept-mass-delete to apply it`;
    this.#reportStatus();
  }

  #statusText(): string {
    const channel = this.#channel;
    const state = this.#ldapProblem === undefined
      ? this.#state
      : `${this.#state} (${this.#ldapProblem})`;
    return statusLine({
      state,
      workgroups: this.#store.closed ? 0 : this.#store.workgroupCount(),
      outbox: this.#store.closed ? 0 : this.#store.outboxDepth(),
      lastChange: this.#lastChange,
      channel: channel === undefined
        ? undefined
        : { up: channel.connected, of: this.#options.channel!.connections },
    });
  }

  #reportStatus(): void {
    if (this.#store.closed || this.#options.signal.aborted) return;
    void this.#options.notifier.status(this.#statusText());
  }

  #startTimers(): void {
    const { notifier, ldap } = this.#options;
    this.#reportStatus();
    const status = setInterval(
      () => this.#reportStatus(),
      ldap.status_interval_seconds * 1000,
    );
    Deno.unrefTimer(status);
    this.#timers.push(status);
    let seen = 0;
    this.#keepAlive = setInterval(() => {
      if (this.#progress === seen) return;
      seen = this.#progress;
      void notifier.extendTimeout(KEEP_ALIVE_EXTEND_USEC);
    }, KEEP_ALIVE_MS);
    Deno.unrefTimer(this.#keepAlive);
    notifier.startWatchdog({ healthy: () => this.#failure === undefined });
  }

  #stopKeepAlive(): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }

  async #shutdown(
    pumpStop: AbortController,
    pumped: Promise<void> | undefined,
  ): Promise<void> {
    this.#stopKeepAlive();
    for (const timer of this.#timers) clearInterval(timer);
    await Promise.allSettled(this.#clients.map((client) => client.close()));
    await Promise.allSettled(this.#loops);
    pumpStop.abort();
    await pumped;
    const channel = this.#channel;
    if (channel !== undefined && channel.inFlight > 0) {
      // Events already sent may still be acknowledged: fewer re-sends later.
      await waitAtMost(channel.drained(), DRAIN_MS);
    }
    this.#pump?.flush();
    await channel?.close();
    const outbox = this.#store.outboxDepth();
    this.#store.close();
    log.info(
      "Stopped; {outbox} events remain in the outbox for the next start",
      {
        outbox,
      },
    );
  }
}
