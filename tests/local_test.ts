/**
 * The README's first command, `deno task local`, end to end: the stack comes
 * up, the roles that exist start, a directory change comes out as its event,
 * and everything stops again.
 */
import assert from "node:assert/strict";

Deno.test("deno task local --once carries a directory change to an event and stops", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgsync-local-" });
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--frozen",
        "--cached-only",
        "--allow-all",
        new URL("../tasks/local.ts", import.meta.url).pathname,
        "--once",
        "--dir",
        `${dir}/stack`,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `${stdout}\n${stderr}`);
    assert.match(stdout, /wgsync-event: started/);
    assert.match(stdout, /wgsync-ldap: started\n/);
    // Events as they landed on the topic, with the queues they route to.
    assert.match(
      stdout,
      /event: workgroup\.created uit:helpdesk \d+ members → SNS → wgsync-remctl-uit\.fifo/,
    );
    assert.match(
      stdout,
      /a directory change came out as its member\.added event/,
    );
    // wgsync-remctl ran the demo command for the change: its call landed.
    assert.match(stdout, /wgsync-remctl: started/);
    assert.match(
      stdout,
      /remctl call: "demo" "member\.added" "uit:helpdesk" "uit" "" "local-check" "uid=local-check,/,
    );
    assert.match(stdout, /and reached the demo remctl backend/);
    assert.match(stdout, /Stopped the local stack/);
    const processes = JSON.parse(
      await Deno.readTextFile(`${dir}/stack/processes.json`),
    ) as { pid: number; startTime: number }[];
    assert.ok(processes.length > 0);
    for (const { pid, startTime } of processes) {
      // The same process only if its start time (field 22) matches; zombies count as gone.
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const alive = stat !== "" && fields[0] !== "Z" &&
        Number(fields[19]) === startTime;
      assert.ok(!alive, `process ${pid} of the local stack is still running`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
