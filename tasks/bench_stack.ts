/**
 * Timings of the local stack: `up` with the sample data (several runs), and
 * `up` with a generated directory (default 20,000 workgroups × 20 members),
 * beside an anchor measured in the same run: plain `slapadd -q -w` of the
 * same LDIF from a file into the same (emptied) database.
 *
 *   deno run --frozen --cached-only --allow-all tasks/bench_stack.ts [--runs 3] [--groups 20000 --members 20 --people 1000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { planData } from "./stack/data.ts";
import { down, up } from "./stack/mod.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    groups: { type: "string", default: "20000" },
    members: { type: "string", default: "20" },
    people: { type: "string", default: "1000" },
  },
});
const runs = Number(values.runs);
const sizes = {
  groups: Number(values.groups),
  members: Number(values.members),
  people: Number(values.people),
};
const quiet = () => {};
const root = await Deno.makeTempDir({ prefix: "wgsync-bench-stack-" });

try {
  const totals: number[] = [];
  for (let run = 0; run < runs; run++) {
    const dir = `${root}/sample-${run}`;
    const t0 = performance.now();
    const info = await up(dir, { log: quiet });
    const wall = performance.now() - t0;
    totals.push(wall);
    const { slapadd, moto, "aws-provision": provision } = info.timings;
    console.log(
      `sample up #${run + 1}: ${
        wall.toFixed(0)
      } ms (slapadd ${slapadd} ms, moto start ${moto} ms, aws provisioning ${provision} ms)`,
    );
    await down(dir);
  }
  totals.sort((a, b) => a - b);
  console.log(
    `sample up median: ${
      totals[Math.floor(totals.length / 2)].toFixed(0)
    } ms (goal < 3000 ms)`,
  );

  const dir = `${root}/generated`;
  const t0 = performance.now();
  const info = await up(dir, { ...sizes, log: quiet });
  const wall = performance.now() - t0;
  await down(dir);
  console.log(
    `generated up (${sizes.groups} workgroups × ${sizes.members} members, ${sizes.people} people): ${
      wall.toFixed(0)
    } ms; streamed generate+slapadd ${info.timings.slapadd} ms (goal < 10000 ms)`,
  );

  // Anchor: slapadd alone, from a file, into the same config with an empty database.
  const ldif = `${root}/anchor.ldif`;
  const file = await Deno.open(ldif, { write: true, create: true });
  const encoder = new TextEncoder();
  for (const chunk of planData(sizes).chunks()) {
    await file.write(encoder.encode(chunk));
  }
  file.close();
  for (const name of ["data.mdb", "lock.mdb"]) {
    await Deno.remove(`${info.ldap.dataDir}/${name}`).catch(() => {});
  }
  const a0 = performance.now();
  const anchor = await new Deno.Command("slapadd", {
    args: ["-q", "-w", "-n1", "-F", info.ldap.slapdConfigDir, "-l", ldif],
    env: info.ldap.env,
    stdout: "null",
    stderr: "piped",
  }).output();
  const anchorMs = performance.now() - a0;
  if (!anchor.success) {
    throw new Error(new TextDecoder().decode(anchor.stderr));
  }
  const entries = sizes.groups + sizes.people + 5;
  console.log(
    `anchor: slapadd -q -w of the same LDIF from a file: ${
      anchorMs.toFixed(0)
    } ms (${Math.round(entries / (anchorMs / 1000))} entries/s)`,
  );
} finally {
  await Deno.remove(root, { recursive: true });
}
