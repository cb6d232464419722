// One source for the channel's defaults: the [channel] section of
// wgsync.toml and the library's options take the same constants.

import assert from "node:assert/strict";
import * as channel from "../lib/channel/mod.ts";
import { channelSchema } from "../lib/config/sections/channel.ts";

Deno.test("the [channel] section's defaults are the library's defaults", () => {
  const section = channelSchema.parse({
    socket: "/run/wgsync/event.sock",
    auth_key_file: "/etc/wgsync/channel.key",
  });
  const library = channel as unknown as Record<string, number | undefined>;
  assert.deepEqual(
    {
      connections: section.connections,
      window: section.window,
      max_frame_bytes: section.max_frame_bytes,
      max_event_bytes: (section as { max_event_bytes?: number })
        .max_event_bytes,
    },
    {
      connections: library.DEFAULT_CONNECTIONS,
      window: library.DEFAULT_WINDOW,
      max_frame_bytes: library.DEFAULT_MAX_FRAME_BYTES,
      max_event_bytes: library.DEFAULT_MAX_EVENT_BYTES,
    },
  );
});
