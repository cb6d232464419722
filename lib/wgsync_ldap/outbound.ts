/**
 * Where the consumer's outbox goes: the channel to wgsync-event, or standard
 * output as JSON lines with `--stdout`.
 *
 * @module
 */

import { ChannelClient } from "../channel/mod.ts";
import type { EventSink } from "./pump.ts";
import type { ConsumerOptions } from "./run.ts";
import { channelAddress } from "./settings.ts";
import { StdoutSink } from "./stdout_sink.ts";

/** The sink of {@linkcode openOutbound}, and the channel client when it is one. */
export interface Outbound {
  /** Where the outbox pump submits events. */
  sink: EventSink;
  /** The channel client; undefined in `--stdout` mode. */
  channel?: ChannelClient;
}

/**
 * Opens the outbox's way out for `options` (`stdout` or `channel`);
 * `onAck` is told the id of each event acknowledged.
 */
export async function openOutbound(
  options: ConsumerOptions,
  onAck: (id: string) => void,
): Promise<Outbound> {
  if (options.stdout) {
    return { sink: new StdoutSink({ writer: options.writer, onAck }) };
  }
  const channel = options.channel!;
  const client = await ChannelClient.open({
    address: channelAddress(channel),
    keyFile: channel.auth_key_file,
    connections: channel.connections,
    window: channel.window,
    maxFrameBytes: channel.max_frame_bytes,
    onAck,
  });
  return { sink: client, channel: client };
}
