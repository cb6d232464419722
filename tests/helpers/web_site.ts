/**
 * Helpers of the wgsync-web browser suite (`tests/web_site_browser.ts`): AWS
 * clients' settings for the stack, schema v1 events, directory changes, the
 * demo remctl backend's calls, and HTTP requests from a chosen local address
 * (the site's "trusted proxy" check looks at the peer address).
 *
 * @module
 */
import http from "node:http";
import { type DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import type { WorkgroupEvent } from "../../lib/events/mod.ts";
import { ldapUtil } from "./ldap_admin.ts";
import type { StackInfo } from "./stack.ts";

/** The Chromium flags of ENVIRONMENT.md. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function awsConfig(stack: StackInfo) {
  return {
    endpoint: stack.aws.endpoint,
    region: stack.aws.region,
    credentials: {
      accessKeyId: stack.aws.accessKeyId,
      secretAccessKey: stack.aws.secretAccessKey,
    },
  };
}

/** A schema v1 event with a random id. */
export function eventBody(
  event: { type: string; workgroup: string; uid?: string },
): WorkgroupEvent {
  const id = crypto.randomUUID().replaceAll("-", "").padEnd(64, "0");
  return {
    v: 1,
    id,
    type: event.type as WorkgroupEvent["type"],
    workgroup: event.workgroup,
    stem: event.workgroup.slice(0, event.workgroup.indexOf(":")),
    ...(event.uid
      ? {
        member: {
          dn: `uid=${event.uid},ou=people,dc=example,dc=edu`,
          id: event.uid,
          uid: event.uid,
        },
      }
      : {}),
    ...(event.type === "workgroup.created" ? { members: [] } : {}),
    csn: "20261201000000.000000Z#000000#000#000000",
    seq: 1,
    observedAt: new Date().toISOString(),
  };
}

/** Adds a member to a workgroup in slapd, as the directory's admin. */
export async function addMember(
  stack: StackInfo,
  workgroup: string,
  uid: string,
): Promise<void> {
  await ldapUtil(
    stack,
    "ldapmodify",
    `dn: cn=${workgroup},${stack.ldap.workgroupBase}\nchangetype: modify\nadd: member\nmember: uid=${uid},${stack.ldap.peopleBase}\n`,
  );
}

/** Waits for the demo backend's call whose argv `matches`. */
export async function waitForCall(
  stack: StackInfo,
  matches: (argv: string[]) => boolean,
  diagnose: () => string | Promise<string> = () => "",
): Promise<{ argv: string[]; stdin: string }> {
  let found: { argv: string[]; stdin: string } | undefined;
  for (let i = 0; i < 600 && found === undefined; i++) {
    const text = await Deno.readTextFile(stack.remctl.callsFile).catch(() =>
      ""
    );
    found = text.split("\n").filter((line) => line !== "")
      .map((line) => JSON.parse(line) as { argv: string[]; stdin: string })
      .find((call) => matches(call.argv));
    if (found === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  if (found === undefined) {
    throw new Error(
      `Timed out waiting for the remctl backend's call: ${await diagnose()}`,
    );
  }
  return found;
}

/** A POST from Deno (not the browser), from `localAddress` when given. */
export function post(
  url: string,
  form: Record<string, string>,
  options: { headers?: Record<string, string>; localAddress?: string } = {},
): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const body = new URLSearchParams(form).toString();
  return request(target, "POST", body, options);
}

export function request(
  target: URL,
  method: string,
  body: string,
  options: { headers?: Record<string, string>; localAddress?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.hostname,
      port: target.port,
      path: target.pathname + target.search,
      method,
      localAddress: options.localAddress,
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...options.headers,
      },
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => text += chunk);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

export async function stemEnabled(
  dynamo: DynamoDBClient,
  table: string,
  stem: string,
): Promise<boolean | undefined> {
  const item = await dynamo.send(
    new GetItemCommand({ TableName: table, Key: { stem: { S: stem } } }),
  );
  return item.Item?.enabled?.BOOL;
}
