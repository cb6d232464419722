/**
 * A role for tests of the entry point itself: with `--mode hang` it ignores
 * SIGTERM and never finishes; with `--mode fail` it throws an error with a cause.
 *
 * @module
 */
import { runRole } from "../../lib/role/mod.ts";

if (import.meta.main) {
  Deno.exit(
    await runRole({
      name: "stubborn",
      summary: "A test role.",
      sections: [],
      flags: { mode: { type: "string", description: "hang or fail" } },
      async main({ flags, notifier }) {
        await notifier.ready("started");
        if (flags.mode === "fail") {
          throw new Error("Cannot continue as the widget broke", {
            cause: new Error("widget is on fire"),
          });
        }
        await new Promise(() => {});
      },
    }),
  );
}
