/**
 * The `[web]` section: wgsync-web, the operators' site.
 *
 * @module
 */
import { z } from "zod";
import { hostPort } from "./values.ts";

/** wgsync-web, the operators' site. */
export const webSchema = z.strictObject({
  listen: hostPort.default("127.0.0.1:8080"),
});
