/**
 * The overview's data: every few seconds each configured role's `/healthz`
 * and `/metrics` are fetched, the key figures computed ({@linkcode FIGURES})
 * and kept in memory for the chart (the last hour by default). A role that
 * does not answer is down, since the first scrape it missed.
 *
 * @module
 */
import { sleep } from "../async.ts";
import { getLogger } from "../log/mod.ts";
import { describeError } from "../role/mod.ts";
import { FIGURES, type Totals } from "./figures.ts";
import { familyTotals, parseMetrics } from "./prometheus.ts";

/** A role the overview watches. */
export interface ScrapeTarget {
  name: string;
  /** Base URL of the role's metrics listener. */
  url: string;
}

/** What the overview knows about one role. */
export interface RoleState {
  name: string;
  url: string;
  /** Whether the last scrape of `/metrics` got an answer. */
  up: boolean;
  /** `/healthz` answered 200 (true) or not (false); undefined while down. */
  healthy?: boolean;
  /** The `/healthz` JSON's `detail`, when it had one. */
  detail?: Record<string, unknown>;
  /** When `up` last changed (or the first scrape), ms since the epoch. */
  since: number;
  /** When the last scrape finished, ms since the epoch. */
  checkedAt?: number;
  /** Why the last scrape failed. */
  error?: string;
  /** The key figures by {@linkcode FIGURES} key (absent: not exported). */
  figures: Record<string, number | undefined>;
}

/** One scrape round's figures, for the chart. */
export interface SeriesPoint {
  /** ms since the epoch. */
  t: number;
  /** role → figure key → value (null: down or not exported). */
  values: Record<string, Record<string, number | null>>;
}

/** Options for {@linkcode Scraper}. */
export interface ScraperOptions {
  /** @default {5000} */
  intervalMs?: number;
  /** How long history is kept. @default {3_600_000} */
  historyMs?: number;
  /** Per request. @default {min(intervalMs, 4000)} */
  timeoutMs?: number;
}

/** The rate figures look back this far. */
const RATE_WINDOW_MS = 60_000;

const logger = getLogger("web");

/** Scrapes the roles and keeps their history. */
export class Scraper {
  #targets: readonly ScrapeTarget[];
  #intervalMs: number;
  #historyMs: number;
  #timeoutMs: number;
  #states = new Map<string, RoleState>();
  #totals = new Map<string, Totals[]>();
  #series: SeriesPoint[] = [];
  #listeners = new Set<(states: RoleState[]) => void>();

  /** Watches `targets`; call {@linkcode Scraper.run} to start. */
  constructor(targets: readonly ScrapeTarget[], options: ScraperOptions = {}) {
    this.#targets = targets;
    this.#intervalMs = options.intervalMs ?? 5000;
    this.#historyMs = options.historyMs ?? 3_600_000;
    this.#timeoutMs = options.timeoutMs ?? Math.min(this.#intervalMs, 4000);
    if (!(this.#intervalMs > 0) || !(this.#historyMs > 0)) {
      throw new RangeError(
        `Cannot scrape as the interval or history is not positive: intervalMs is ${this.#intervalMs}, historyMs is ${this.#historyMs}`,
      );
    }
  }

  /** Scrapes every role once, now. */
  async scrapeOnce(): Promise<void> {
    const t = Date.now();
    await Promise.all(this.#targets.map((target) => this.#scrape(target, t)));
    const point: SeriesPoint = { t, values: {} };
    for (const state of this.#states.values()) {
      point.values[state.name] = Object.fromEntries(
        FIGURES.map((
          f,
        ) => [f.key, state.up ? state.figures[f.key] ?? null : null]),
      );
    }
    this.#series.push(point);
    while (this.#series.length > 0 && this.#series[0].t < t - this.#historyMs) {
      this.#series.shift();
    }
    const states = this.states();
    for (const listener of this.#listeners) listener(states);
  }

  /** Scrapes every interval until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.scrapeOnce();
      await sleep(this.#intervalMs, { signal });
    }
  }

  /** Every role's current state, in configuration order. */
  states(): RoleState[] {
    return this.#targets.flatMap((target) => {
      const state = this.#states.get(target.name);
      return state === undefined ? [] : [structuredClone(state)];
    });
  }

  /** The kept history. */
  series(): readonly SeriesPoint[] {
    return this.#series;
  }

  /** Calls `listener` after every scrape round; returns the unsubscriber. */
  subscribe(listener: (states: RoleState[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #scrape(target: ScrapeTarget, t: number): Promise<void> {
    const base = target.url.replace(/\/+$/, "");
    const previous = this.#states.get(target.name);
    const state: RoleState = {
      name: target.name,
      url: target.url,
      up: false,
      since: previous?.since ?? t,
      figures: {},
    };
    try {
      const metrics = await this.#get(`${base}/metrics`);
      if (metrics.status !== 200) {
        throw new Error(`/metrics answered HTTP ${metrics.status}`);
      }
      const families = parseMetrics(metrics.body, `${base}/metrics`);
      const health = await this.#get(`${base}/healthz`);
      state.up = true;
      state.healthy = health.status === 200;
      state.detail = healthDetail(health.body);
      const now: Totals = { t, families: familyTotals(families) };
      const history = this.#totals.get(target.name) ?? [];
      history.push(now);
      while (history.length > 1 && history[1].t <= t - RATE_WINDOW_MS) {
        history.shift();
      }
      this.#totals.set(target.name, history);
      const then = history.length > 1 ? history[0] : undefined;
      for (const figure of FIGURES) {
        const value = figure.compute(now, then);
        if (value !== undefined) state.figures[figure.key] = value;
      }
    } catch (error) {
      state.error = describeError(error);
      this.#totals.delete(target.name);
    }
    if (previous !== undefined && previous.up !== state.up) {
      state.since = t;
      if (state.up) {
        logger.info("Role {role} answers again at {url}", {
          role: target.name,
          url: target.url,
        });
      } else {
        logger.warning("Role {role} does not answer at {url}: {error}", {
          role: target.name,
          url: target.url,
          error: state.error,
        });
      }
    }
    state.checkedAt = Date.now();
    this.#states.set(target.name, state);
  }

  async #get(url: string): Promise<{ status: number; body: string }> {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(this.#timeoutMs),
      redirect: "error",
    });
    return { status: response.status, body: await response.text() };
  }
}

function healthDetail(body: string): Record<string, unknown> | undefined {
  try {
    const report = JSON.parse(body);
    const detail = report?.detail;
    return detail !== null && typeof detail === "object" &&
        !Array.isArray(detail)
      ? detail
      : undefined;
  } catch {
    return undefined;
  }
}
