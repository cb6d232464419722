/**
 * The one session of the wgsync-web browser suite (`tests/web_site_browser.ts`
 * starts it): the stack, the roles it runs, the browser contexts and what the
 * steps share; plus the suite's constants.
 *
 * @module
 */

import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { BrowserContext, Page } from "playwright-core";
import { requestMembers } from "../../lib/control/mod.ts";
import type { EventProcess } from "../helpers/event_role.ts";
import type { Journald } from "../helpers/journald.ts";
import type { RoleProcess } from "../helpers/ldap_role.ts";
import type { StackInfo } from "../helpers/stack.ts";
import type { WebRole } from "../helpers/web_role.ts";

/** The admin the browser's admin context says it is. */
export const ADMIN = "local-admin";
/** How long a directory change may take through the pipeline (a loaded machine). */
export const PIPELINE_MS = 90_000;
/** A workgroup name that is markup. */
export const HOSTILE = "research-computing:<script>alert(1)</script>";

/** The `[web]` section of the stack's wgsync.toml, as the suite reads it. */
export interface WebConfig {
  listen: string;
  roles: { name: string; url: string }[];
  stems_table: string;
  ldap_control_socket: string;
}

/** Waits until wgsync-ldap's control socket lists `workgroup`'s members. */
export async function untilListed(
  socket: string,
  workgroup: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await requestMembers(socket, workgroup).catch(() => {});
    if (answer !== undefined) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for "${workgroup}" on wgsync-ldap's control socket`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** What the steps of the suite share. */
export interface WebSiteSession {
  stack: StackInfo;
  web: WebConfig;
  /** The site's `http://host:port`. */
  base: string;
  /** Where screenshots go. */
  artifacts: string;
  dynamo: DynamoDBClient;
  sqs: SQSClient;
  journald: Journald;
  event: EventProcess;
  ldap: RoleProcess;
  remctl: RoleProcess;
  role: WebRole;
  /** A browser context sending the admin header. */
  admin: BrowserContext;
  /** A browser context without it. */
  reader: BrowserContext;
  /** Every dialog a page opened (none is expected). */
  dialogs: string[];
  /** Opens `path` of the site in a new page of `context`. */
  open(context: BrowserContext, path: string): Promise<Page>;
  /** Where an event stopped on its way to the backend. */
  diagnose(id: string): () => Promise<string>;
}
