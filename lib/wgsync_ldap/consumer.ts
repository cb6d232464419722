/**
 * The LDAP Consumer's wiring: the store, the people search (uid lookup) and
 * then the workgroup search feeding the {@linkcode WorkgroupApplier}, the
 * outbox pump to the channel (or to standard output), the mass-deletion
 * guard's refusals, and systemd's readiness and status
 * ({@linkcode Supervision}).
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
import type { ChannelClient } from "../channel/mod.ts";
import { type LdapError, SyncClient } from "../ldap/mod.ts";
import { MemberDirectory } from "./member.ts";
import { PeopleApplier } from "./people.ts";
import { reportRefresh, reportRefusal } from "./refresh_report.ts";
import { OutboxPump } from "./pump.ts";
import { openOutbound } from "./outbound.ts";
import {
  peopleSearch,
  syncClientOptions,
  workgroupSearch,
} from "./settings.ts";
import type { Store } from "./store/mod.ts";
import { Supervision } from "./supervision.ts";
import { ControlServer, Resync } from "./control.ts";
import { Listing } from "./listing.ts";
import { runSyncLoop } from "./sync_loop.ts";
import { LdapMetrics } from "./metrics.ts";
import { serveMetrics } from "../metrics/mod.ts";
import { abortPromise, waitAtMost, yieldToEventLoop } from "../async.ts";
import { followWithRetry, StoreProblems } from "./store_retry.ts";
import type { ConsumerOptions } from "./run.ts";
import { type Applied, WorkgroupApplier } from "./workgroups.ts";

/**
 * The longest stretch of sync messages handled without giving timers and
 * signal handlers a turn: a refresh read from a full socket buffer resolves
 * only microtasks, which would starve SIGTERM, STATUS=, the watchdog and the
 * keep-alive until it is done.
 */
const BREATHE_MS = 20;
/**
 * The pump is held while the workgroup refresh is applying entries (see
 * OutboxPump's `hold`), unless no sync message came for this long: a refresh
 * that stalls (the server slow or gone until a reconnect) does not keep the
 * outbox from being delivered.
 */
const HOLD_STALL_MS = 1_000;
/** How long a stop waits for acknowledgements of events already sent. */
const DRAIN_MS = 2_000;

const log = getLogger("ldap");

/** The consumer over an open store: see {@linkcode runConsumer} in run.ts. */
export class Consumer {
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
  #supervision: Supervision;
  #storeProblems: StoreProblems;
  #metrics: LdapMetrics;
  #control: ControlServer | undefined;
  #ready = false;
  /** When the current workgroup search started (its refresh's duration). */
  #searchStarted = 0;
  /** Events written by the current workgroup refresh so far. */
  #refreshEvents = 0;
  /** How the provider ended the current refresh: "present" (entries still there) or "delete" (deletions listed). */
  #refreshPhase = "delete";
  #breathed = performance.now();
  /** When the last sync message (either search) arrived. */
  #lastMessage = 0;

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
      onEvent: (type) => this.#metrics.event(type),
    });
    this.#metrics = new LdapMetrics({
      outboxDepth: () => store.closed ? undefined : store.outboxDepth(),
      cookie: () => store.closed ? undefined : this.#workgroups.cookie,
    });
    this.#supervision = new Supervision({
      notifier: options.notifier,
      statusIntervalMs: ldap.status_interval_seconds * 1000,
      source: {
        active: () => !store.closed && !options.signal.aborted,
        workgroups: () => store.workgroupCount(),
        outbox: () => store.outboxDepth(),
        channel: () =>
          this.#channel === undefined ? undefined : {
            up: this.#channel.connected,
            of: options.channel!.connections,
          },
        healthy: () => this.#failure === undefined,
      },
    });
    this.#storeProblems = new StoreProblems({
      path: store.path,
      metrics: this.#metrics,
      supervision: this.#supervision,
    });
    this.#failed.promise.catch(() => {});
  }

  async run(): Promise<void> {
    const { signal } = this.#options;
    const pumpStop = new AbortController();
    let pumped: Promise<void> | undefined;
    try {
      const onAck = (id: string) => {
        this.#metrics.acknowledged();
        this.#pump?.ack(id);
      };
      const outbound = await openOutbound(this.#options, onAck);
      this.#channel = outbound.channel;
      this.#pump = new OutboxPump(this.#store, outbound.sink, {
        hold: this.#holdPump,
      });
      const control = this.#options.ldap.control_socket;
      if (control !== undefined) {
        const busy = () => this.#workgroups.refreshing;
        this.#control = await ControlServer.listen(control, {
          resync: new Resync(this.#store, this.#directory, busy),
          listing: new Listing(this.#store, this.#directory, busy),
        });
      }
      const stopped = abortPromise(signal);
      serveMetrics(this.#metrics.registry, {
        listen: this.#options.ldap.metrics_listen,
        signal,
        health: () => this.#health(),
      });
      this.#supervision.start();
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

  /** True while the workgroup refresh is applying entries and not stalled. */
  #holdPump = (): boolean =>
    this.#workgroups.refreshing &&
    performance.now() - this.#lastMessage < HOLD_STALL_MS;

  /** What `/healthz` reports: healthy once ready, without a failure or a store problem. */
  #health(): { ok: boolean; detail: Record<string, unknown> } {
    const supervision = this.#supervision;
    return {
      ok: this.#ready && this.#failure === undefined &&
        supervision.storeProblem === undefined,
      detail: {
        status: supervision.text(),
        ready: this.#ready,
        outbox: this.#store.closed ? null : this.#store.outboxDepth(),
      },
    };
  }

  /** Lets timers and signal handlers run when the loop has kept the thread for {@linkcode BREATHE_MS}. */
  #breathe = async (): Promise<void> => {
    this.#supervision.progress++;
    const now = this.#lastMessage = performance.now();
    if (now - this.#breathed < BREATHE_MS) return;
    await yieldToEventLoop();
    this.#breathed = performance.now();
  };

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
        this.#supervision.problem =
          `LDAP unavailable (${error.message}), retry ${
            Math.round(retry.delay / 1000)
          } s`;
        this.#supervision.report();
      },
    }));
    this.#clients.push(client);
    return client;
  }

  /** A search's loop, run again after a store failure that may pass (see {@linkcode followWithRetry}). */
  #follow(
    applier: { recover(): void },
    loop: () => Promise<void>,
  ): Promise<void> {
    return followWithRetry(loop, {
      signal: this.#options.signal,
      recover: () => applier.recover(),
      onProblem: (problem, seconds) =>
        this.#storeProblems.failed(problem, seconds),
    });
  }

  #runPeople(people: PeopleApplier, ready: () => void): Promise<void> {
    let done = false;
    let searches = 0;
    return this.#follow(people, () =>
      runSyncLoop({
        client: this.#client(
          peopleSearch(this.#options.ldap)!,
          () => people.cookie,
        ),
        applier: people,
        breathe: this.#breathe,
        onSearch: () => {
          if (searches++ > 0) this.#metrics.reconnected("people");
          this.#supervision.problem = undefined;
        },
        onResult: (result) => {
          this.#storeProblems.applied();
          if (result.kind !== "applied" || !result.refreshDone || done) return;
          done = true;
          this.#supervision.extend();
          log.info("People refresh complete: {people} people", {
            people: this.#store.personCount(),
          });
          ready();
        },
      }));
  }

  #runWorkgroups(): Promise<void> {
    const applier = this.#workgroups;
    let searches = 0;
    return this.#follow(applier, () =>
      runSyncLoop({
        client: this.#client(
          workgroupSearch(this.#options.ldap),
          () => applier.cookie,
        ),
        applier,
        breathe: this.#breathe,
        onSearch: () => {
          if (searches++ > 0) this.#metrics.reconnected("workgroups");
          this.#searchStarted = performance.now();
          this.#refreshEvents = 0;
          this.#supervision.problem = undefined;
        },
        onRefreshEnd: (message) => this.#refreshPhase = message.phase,
        onResult: async (result) => {
          this.#storeProblems.applied();
          if (result.kind === "massDelete") {
            reportRefusal(result.verdict, {
              metrics: this.#metrics,
              supervision: this.#supervision,
            });
            return true; // Leaving the loop cancels the search.
          }
          if (result.kind === "refreshRequired") {
            if (this.#ready) {
              this.#supervision.state =
                "running: full reload required by the provider";
            }
            return;
          }
          if (result.refreshDone) {
            await this.#refreshDone({
              ...result,
              events: this.#refreshEvents + result.events,
            });
          } else if (applier.refreshing) {
            this.#refreshEvents += result.events;
          } else if (result.events > 0) {
            this.#supervision.lastChange = Date.now();
            this.#metrics.changed();
          }
        },
      }));
  }

  async #refreshDone(result: Applied): Promise<void> {
    const supervision = this.#supervision;
    reportRefresh(result, {
      metrics: this.#metrics,
      supervision,
      duration: performance.now() - this.#searchStarted,
      phase: this.#refreshPhase,
      workgroups: this.#store.workgroupCount(),
    });
    if (this.#ready) {
      supervision.state = "running";
      return;
    }
    // The refresh is done: waiting for the channel gets no extension.
    supervision.stopKeepAlive();
    if (this.#channel !== undefined && this.#channel.connected === 0) {
      supervision.set("first refresh done; waiting for the channel");
    }
    await Promise.race([
      this.#channel?.waitConnected(),
      abortPromise(this.#options.signal),
    ]);
    if (this.#options.signal.aborted) return;
    this.#ready = true;
    supervision.state = "running";
    log.info("Ready: {status}", { status: supervision.text() });
    await this.#options.notifier.ready(supervision.text());
  }

  async #shutdown(
    pumpStop: AbortController,
    pumped: Promise<void> | undefined,
  ): Promise<void> {
    this.#supervision.stop();
    await this.#control?.close();
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
    try {
      this.#store.close();
    } catch (error) {
      log.error(
        "The store {path} was closed without its last batch ({error}); those changes come again from the cookie at the next start",
        { path: this.#store.path, error: (error as Error).message },
      );
    }
    log.info(
      "Stopped; {outbox} events remain in the outbox for the next start",
      {
        outbox,
      },
    );
  }
}
