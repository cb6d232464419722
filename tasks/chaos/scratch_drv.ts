import { up, down } from "/work/wt/proof/tasks/stack/mod.ts";
import { ChaosDriver, seededRandom } from "/work/wt/proof/tasks/chaos/driver.ts";
const dir = "/tmp/proof-scratch/stack";
const info = await up(dir, { log: () => {} });
try {
  const d = new ChaosDriver(info, { random: seededRandom(1), bulkMembers: 1500 });
  await d.prepare();
  const t0 = performance.now();
  console.log(await d.run(500, { bulk: 1, pauseMs: 0 }));
  console.log("ms", performance.now() - t0);
} finally { await down(dir); }
