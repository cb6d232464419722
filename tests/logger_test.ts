/**
 * The one logger factory (lib/log getLogger): role categories apart from
 * library categories, and no module under lib/ reaching past it to LogTape's.
 */
import assert from "node:assert/strict";
import { getLogger } from "../lib/log/mod.ts";

Deno.test("a role's logger is ['wgsync', role]; a library's is ['wgsync', 'lib', ...]", () => {
  assert.deepEqual(getLogger("ldap").category, ["wgsync", "ldap"]);
  assert.deepEqual(getLogger(["lib", "ldap"]).category, [
    "wgsync",
    "lib",
    "ldap",
  ]);
  assert.deepEqual(getLogger(["lib", "channel", "server"]).category, [
    "wgsync",
    "lib",
    "channel",
    "server",
  ]);
});

Deno.test("no module under lib/ outside lib/log/ takes a logger from LogTape directly", () => {
  const offenders: string[] = [];
  const walk = (dir: URL, path: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const child = `${path}/${entry.name}`;
      if (entry.isDirectory && child !== "lib/log") {
        walk(new URL(`${entry.name}/`, dir), child);
      } else if (entry.isFile && entry.name.endsWith(".ts")) {
        const text = Deno.readTextFileSync(new URL(entry.name, dir));
        if (
          /import\s*\{[^}]*\bgetLogger\b[^}]*\}\s*from\s*"@logtape\/logtape"/
            .test(text)
        ) {
          offenders.push(child);
        }
      }
    }
  };
  walk(new URL("../lib/", import.meta.url), "lib");
  assert.deepEqual(offenders, []);
});
