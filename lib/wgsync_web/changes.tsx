/** @jsxImportSource hono/jsx */
/**
 * Everything that changes state: POST only, only for an admin (see
 * `access.ts`), only with the admin's CSRF token, never cross-site; anything
 * else is refused with 403 and logged. Every change is logged to the journal
 * with who made it and the old and new values as structured fields
 * (`WGSYNC_USER`, `WGSYNC_STEM`, `WGSYNC_FIELD`, `WGSYNC_OLD_VALUE`,
 * `WGSYNC_NEW_VALUE`, `WGSYNC_WORKGROUP`, …).
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { describeError } from "../role/mod.ts";
import { pageContext, type SiteEnv, type SiteParts } from "./site.ts";
import { requestSnapshot } from "../control/mod.ts";
import { ResultPage } from "./layout.tsx";

/** Form fields as hono parses them (repeated names give arrays). */
type Form = Record<string, string | File | (string | File)[]>;

/** A single text field of a form, "" when missing. */
function field(form: Form, name: string): string {
  const value = form[name];
  return typeof value === "string" ? value : "";
}

/** Every value of a repeated text field. */
function fields(form: Form, name: string): string[] {
  const value = form[name];
  const values = Array.isArray(value)
    ? value
    : value === undefined
    ? []
    : [value];
  return values.filter((v): v is string => typeof v === "string");
}

/** Adds the POST guard and the change routes to `app`. */
export function registerChanges(app: Hono<SiteEnv>, parts: SiteParts): void {
  const { logger } = parts;
  const forms = new WeakMap<Request, Form>();

  const refuse = (c: Context<SiteEnv>, reason: string) => {
    const viewer = c.get("viewer");
    logger.warning("Refused {method} {path} from {address}: {reason}", {
      method: c.req.method,
      path: c.req.path,
      address: viewer.address,
      claimedUser: viewer.claimed ?? viewer.admin ?? "",
      reason,
    });
    return c.html(
      <ResultPage
        context={pageContext(c, parts)}
        title="Refused"
        lines={[`Refused: ${reason}.`]}
        back="/"
        failed
      />,
      403,
    );
  };

  app.use("*", async (c, next) => {
    const method = c.req.method;
    if (method === "GET" || method === "HEAD") return await next();
    if (method !== "POST") {
      return c.text("method not allowed\n", 405, { Allow: "GET, POST" });
    }
    const viewer = c.get("viewer");
    if (viewer.admin === undefined) {
      return refuse(
        c,
        viewer.claimed === undefined
          ? "changes are for admins only"
          : "the user is not an admin here, or was not named by a trusted proxy",
      );
    }
    if (c.req.header("sec-fetch-site") === "cross-site") {
      return refuse(c, "a cross-site request");
    }
    let form: Form;
    try {
      form = await c.req.parseBody({ all: true });
    } catch {
      return refuse(c, "the form could not be read");
    }
    if (!parts.access.checkCsrf(viewer.admin, form._csrf)) {
      return refuse(c, "the CSRF token is missing or wrong");
    }
    forms.set(c.req.raw, form);
    await next();
  });

  const done = (
    c: Context<SiteEnv>,
    title: string,
    lines: string[],
    back: string,
    failed = false,
  ) =>
    c.html(
      <ResultPage
        context={pageContext(c, parts)}
        title={title}
        lines={lines}
        back={back}
        failed={failed}
      />,
      failed ? 400 : 200,
    );

  app.post("/stems/enabled", async (c) => {
    const form = forms.get(c.req.raw)!;
    const user = c.get("viewer").admin!;
    const stem = field(form, "stem");
    const enabled = field(form, "enabled");
    if (parts.stems === undefined) {
      return done(
        c,
        "Stems",
        ["No stems table is configured."],
        "/stems",
        true,
      );
    }
    if (enabled !== "true" && enabled !== "false") {
      return done(
        c,
        "Stems",
        [
          `Cannot change stem "${stem}": enabled must be "true" or "false", got "${enabled}".`,
        ],
        "/stems",
        true,
      );
    }
    try {
      const change = await parts.stems.setEnabled(stem, enabled === "true");
      logger.info(
        "{user} set {field} of stem {stem} from {oldValue} to {newValue}",
        { user, address: c.get("viewer").address, ...change },
      );
      return done(c, "Stem changed", [
        `Stem ${stem}: enabled ${change.oldValue} → ${change.newValue}.`,
      ], "/stems");
    } catch (error) {
      return done(c, "Stems", [describeError(error)], "/stems", true);
    }
  });

  app.post("/stems/topic", async (c) => {
    const form = forms.get(c.req.raw)!;
    const user = c.get("viewer").admin!;
    const stem = field(form, "stem");
    if (parts.stems === undefined) {
      return done(
        c,
        "Stems",
        ["No stems table is configured."],
        "/stems",
        true,
      );
    }
    try {
      const change = await parts.stems.setTopic(stem, field(form, "topicArn"));
      logger.info(
        "{user} set {field} of stem {stem} from {oldValue} to {newValue}",
        { user, address: c.get("viewer").address, ...change },
      );
      return done(c, "Stem changed", [
        `Stem ${stem}: topic "${change.oldValue || "default"}" → "${
          change.newValue || "default"
        }".`,
      ], "/stems");
    } catch (error) {
      return done(c, "Stems", [describeError(error)], "/stems", true);
    }
  });

  const snapshot = async (user: string, workgroup: string, why: string) => {
    if (parts.controlSocket === undefined) {
      return `No snapshot of ${workgroup}: no wgsync-ldap control socket is configured.`;
    }
    try {
      const answer = await requestSnapshot(parts.controlSocket, workgroup);
      logger.info("{user} asked for a snapshot of {workgroup} ({reason})", {
        user,
        workgroup,
        reason: why,
        answer,
      });
      return `Snapshot of ${workgroup} queued (${answer || "ok"}).`;
    } catch (error) {
      logger.error("Cannot get a snapshot of {workgroup} for {user}: {error}", {
        user,
        workgroup,
        error: describeError(error),
      });
      return `No snapshot of ${workgroup}: ${describeError(error)}`;
    }
  };

  app.post("/workgroup/snapshot", async (c) => {
    const form = forms.get(c.req.raw)!;
    const name = field(form, "name");
    const back = `/workgroup?${new URLSearchParams({ name })}`;
    const line = await snapshot(c.get("viewer").admin!, name, "resync");
    return done(c, "Resync", [line], back, !line.startsWith("Snapshot"));
  });

  app.post("/dead-letters/action", async (c) => {
    const form = forms.get(c.req.raw)!;
    const user = c.get("viewer").admin!;
    const target = field(form, "target");
    const action = field(form, "action");
    const selected = fields(form, "message");
    const deadLetters = parts.deadLetters;
    if (deadLetters === undefined || !deadLetters.names.includes(target)) {
      return done(
        c,
        "Dead letters",
        [
          `Cannot act on dead letters: no target "${target}" is configured.`,
        ],
        "/dead-letters",
        true,
      );
    }
    try {
      if (action === "delete") {
        const deleted = await deadLetters.delete(target, selected);
        logger.info("{user} deleted {count} dead letter(s) of {target}", {
          user,
          target,
          count: deleted.length,
          messageIds: deleted.join(","),
        });
        return done(c, "Dead letters", [
          `Deleted ${deleted.length} of ${selected.length} selected dead letter(s) of ${target}.`,
        ], "/dead-letters");
      }
      if (action !== "redrive" && action !== "redrive-all") {
        return done(
          c,
          "Dead letters",
          [
            `Cannot act on dead letters: unknown action "${action}".`,
          ],
          "/dead-letters",
          true,
        );
      }
      const result = await deadLetters.redrive(
        target,
        action === "redrive-all" ? "all" : selected,
      );
      logger.info("{user} redrove {count} dead letter(s) of {target}", {
        user,
        target,
        count: result.moved.length,
        messageIds: result.moved.join(","),
        moveTask: result.moveTask ?? "",
      });
      const lines = [
        result.moveTask === undefined
          ? `Redrove ${result.moved.length} dead letter(s) of ${target} to its queue.`
          : `Started moving all dead letters of ${target} back (task ${result.moveTask}).`,
      ];
      for (const workgroup of result.workgroups) {
        lines.push(await snapshot(user, workgroup, `redrive on ${target}`));
      }
      return done(c, "Dead letters", lines, "/dead-letters");
    } catch (error) {
      return done(
        c,
        "Dead letters",
        [describeError(error)],
        "/dead-letters",
        true,
      );
    }
  });
}
