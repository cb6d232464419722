/**
 * wgsync-remctl's metrics: runs by target and result, dead letters by
 * reason, command latency, queue age at receipt, messages per receive,
 * paused targets and messages in flight.
 *
 * @module
 */

import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { METRIC_PREFIX } from "../metrics/mod.ts";

/** The metrics one target updates (its `target` label bound). */
export interface TargetMetrics {
  /** Label `result`: ok, exit_nonzero, refused, poison, skipped, target_<kind>. */
  runs: { inc(labels: { result: string }): void };
  latency: { observe(seconds: number): void };
  /** Label `reason`: poison, or failed (the command failed `command_attempts` times). */
  deadLettered: { inc(labels: { reason: string }): void };
  queueAge: { observe(seconds: number): void };
  /** Messages one ReceiveMessage call brought (those that brought any). */
  received: { observe(messages: number): void };
}

/** The role's metrics on `registry`; `targets` reports paused and in flight per target when scraped. */
export function remctlMetrics(
  registry: Registry,
  targets: () => { name: string; paused: boolean; inFlight: number }[],
): (target: string) => TargetMetrics {
  const runs = new Counter({
    name: `${METRIC_PREFIX}remctl_runs_total`,
    help:
      "Messages handled, by target and result (ok, exit_nonzero, refused, poison, skipped, target_<failure kind>).",
    labelNames: ["target", "result"],
    registers: [registry],
  });
  const deadLettered = new Counter({
    name: `${METRIC_PREFIX}remctl_dead_lettered_total`,
    help:
      "Messages wgsync-remctl sent to the dead-letter queue, by target and reason (poison, failed: the command failed command_attempts times).",
    labelNames: ["target", "reason"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: `${METRIC_PREFIX}remctl_command_seconds`,
    help: "Time from sending a remctl command to its exit status.",
    labelNames: ["target"],
    buckets: [
      0.002,
      0.005,
      0.01,
      0.025,
      0.05,
      0.1,
      0.25,
      0.5,
      1,
      2.5,
      5,
      10,
      30,
    ],
    registers: [registry],
  });
  const queueAge = new Histogram({
    name: `${METRIC_PREFIX}remctl_queue_age_seconds`,
    help: "Age of a message (since it was sent to SQS) when received.",
    labelNames: ["target"],
    buckets: [0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600],
    registers: [registry],
  });
  const received = new Histogram({
    name: `${METRIC_PREFIX}remctl_received_messages`,
    help:
      "Messages one ReceiveMessage call brought (up to 10; calls that brought none are not counted).",
    labelNames: ["target"],
    buckets: [1, 2, 5, 9, 10],
    registers: [registry],
  });
  new Gauge({
    name: `${METRIC_PREFIX}remctl_target_paused`,
    help: "1 while a target is paused because its remctl server fails.",
    labelNames: ["target"],
    registers: [registry],
    collect() {
      for (const target of targets()) {
        this.set({ target: target.name }, target.paused ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}remctl_in_flight`,
    help:
      "Messages held per target: running, or waiting behind the one before them in their group.",
    labelNames: ["target"],
    registers: [registry],
    collect() {
      for (const target of targets()) {
        this.set({ target: target.name }, target.inFlight);
      }
    },
  });
  return (target) => ({
    runs: { inc: ({ result }) => runs.inc({ target, result }) },
    latency: { observe: (seconds) => latency.observe({ target }, seconds) },
    deadLettered: {
      inc: ({ reason }) => deadLettered.inc({ target, reason }),
    },
    queueAge: { observe: (seconds) => queueAge.observe({ target }, seconds) },
    received: {
      observe: (messages) => received.observe({ target }, messages),
    },
  });
}
