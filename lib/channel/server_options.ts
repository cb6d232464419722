/**
 * The channel server's contract: what a handler is given, the server's
 * options with their defaults (resolved and checked in one place,
 * {@linkcode resolveServerOptions}) and its counters.
 *
 * @module
 */

import { type ChannelAddress, validateAddress } from "./address.ts";
import {
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_MAX_FRAME_BYTES,
  MIN_FRAME_BYTES,
} from "./defaults.ts";
import { optionChecks } from "../options.ts";

/** An event received from the consumer. */
export interface IncomingEvent {
  id: string;
  workgroup: string;
  /** The event (schema v1), parsed. */
  body: unknown;
}

/** Where an event came from. */
export interface EventContext {
  /** The server's number for the connection (1, 2, …). */
  connection: number;
  /** The connection as named in log lines. */
  peer: string;
}

/** Handles one event; the event is acknowledged once the promise resolves. A rejection closes the connection so the client re-sends. */
export type EventHandler = (
  event: IncomingEvent,
  context: EventContext,
) => Promise<void>;

/** Options of {@linkcode ChannelServer.listen}. */
export interface ChannelServerOptions {
  address: ChannelAddress;
  /** The shared auth key file (mode 0600 or tighter). */
  keyFile: string;
  handler: EventHandler;
  /**
   * The largest frame accepted from an authenticated client (a guard
   * against garbage; larger events arrive in several frames). At least
   * {@linkcode MIN_FRAME_BYTES}.
   * @default {DEFAULT_MAX_FRAME_BYTES} (1 MiB)
   */
  maxFrameBytes?: number;
  /**
   * The largest event accepted, reassembled from its frames; refused from
   * its length, before it is buffered.
   * @default {DEFAULT_MAX_EVENT_BYTES} (64 MiB)
   */
  maxEventBytes?: number;
  /** The largest frame accepted before authentication. Default 4096. */
  maxHandshakeFrameBytes?: number;
  /** Time allowed for the handshake, in ms. Default 5000. */
  handshakeTimeoutMs?: number;
  /** Events handled at once per connection before reading pauses. Default 1024. */
  maxInFlight?: number;
  /**
   * The key whose events are handed over and acknowledged in arrival order
   * (e.g. the FIFO message group the handler publishes the event in).
   * @default {(event) => event.workgroup}
   */
  orderKey?: (event: IncomingEvent) => string;
  /**
   * Events of one order key handed to the handler and not yet acknowledged
   * (across all connections). With more than 1 the handler is called for a
   * key's next event before the previous one resolved, still in arrival
   * order, and must keep that order itself; acknowledgements stay in order
   * either way.
   * @default {1}
   */
  perKeyInFlight?: number;
  /** Mode of the Unix socket file. Default 0o660. */
  socketMode?: number;
}

/** Counters of a {@linkcode ChannelServer}. */
export interface ChannelServerStats {
  accepted: number;
  authenticated: number;
  refused: number;
  closedOnError: number;
  acked: number;
  open: number;
}

/** {@linkcode ChannelServerOptions} with every default applied, checked. */
export type ResolvedServerOptions = Required<ChannelServerOptions>;

const check = optionChecks("start the channel server");

/** Applies the defaults and checks every option; a bad one is a RangeError naming it. */
export function resolveServerOptions(
  options: ChannelServerOptions,
): ResolvedServerOptions {
  return {
    address: validateAddress(options.address),
    keyFile: options.keyFile,
    handler: options.handler,
    maxFrameBytes: check.numberInRange(
      "maxFrameBytes",
      options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      { min: MIN_FRAME_BYTES, integer: true },
    ),
    maxEventBytes: check.numberInRange(
      "maxEventBytes",
      options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
      { min: MIN_FRAME_BYTES, integer: true },
    ),
    maxHandshakeFrameBytes: check.positiveInteger(
      "maxHandshakeFrameBytes",
      options.maxHandshakeFrameBytes ?? 4096,
    ),
    handshakeTimeoutMs: check.positiveInteger(
      "handshakeTimeoutMs",
      options.handshakeTimeoutMs ?? 5000,
    ),
    maxInFlight: check.positiveInteger(
      "maxInFlight",
      options.maxInFlight ?? 1024,
    ),
    orderKey: options.orderKey ?? ((event) => event.workgroup),
    perKeyInFlight: check.positiveInteger(
      "perKeyInFlight",
      options.perKeyInFlight ?? 1,
    ),
    socketMode: options.socketMode ?? 0o660,
  };
}
