/**
 * Keeping secrets out of logs: structured properties whose names look secret
 * are replaced by `[redacted]`, at any depth, and so is their value wherever
 * it is interpolated into the message.
 *
 * A name looks secret when one of its words (split at camelCase, `_`, `-`,
 * `.` and spaces) is password, passwd, passphrase, secret(s), token(s),
 * credential(s), creds, authorization, plaintext or psk, when the whole name
 * is `pass`, `pwd` or `auth`, or when its LAST word is `key` or `keys`
 * (`key`, `apiKey`, `privateKey`, `dataKey`). A name whose last word says it
 * names, locates or measures the secret rather than holds it stays readable:
 * path, file, dir, arn, id(s), name, ref, length, size, count, expiry,
 * expires, version, type, kind — so `passwordFile`, `secretArn`, `keyId`,
 * `kmsKeyId`, `tokenExpiry` are logged; `keytab` (a path) is not a secret
 * word at all.
 *
 * This cannot see a secret written into the message text itself, as in
 * ``logger.info`bind with ${password}` `` or an error message that quotes a
 * secret: never put secret values into messages or error texts.
 *
 * @module
 */

/** What a redacted value is replaced with. */
export const REDACTED = "[redacted]";

const SECRET_WORDS = new Set([
  "password",
  "passwd",
  "passphrase",
  "secret",
  "secrets",
  "token",
  "tokens",
  "credential",
  "credentials",
  "creds",
  "authorization",
  "plaintext",
  "psk",
]);
const SECRET_NAMES = new Set(["pass", "pwd", "auth"]);
const SECRET_LAST_WORDS = new Set(["key", "keys"]);
const DESCRIBING_LAST_WORDS = new Set([
  "path",
  "file",
  "dir",
  "arn",
  "id",
  "ids",
  "name",
  "ref",
  "length",
  "size",
  "count",
  "expiry",
  "expires",
  "version",
  "type",
  "kind",
]);
const MAX_DEPTH = 8;

/** Whether a property called `name` must not be logged (see the module docs). */
export function isSecretName(name: string): boolean {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== "");
  if (words.length === 0) return false;
  if (SECRET_NAMES.has(words.join(""))) return true;
  const last = words[words.length - 1];
  if (SECRET_LAST_WORDS.has(last)) return true;
  if (DESCRIBING_LAST_WORDS.has(last)) return false;
  return words.some((word) => SECRET_WORDS.has(word));
}

/** Properties with secrets replaced, and the secret texts that were found. */
export interface Redacted {
  /** A copy of the properties; the originals are left untouched. */
  properties: Record<string, unknown>;
  /** Every secret found, as text, to blank out of the message too. */
  secrets: Set<string>;
}

/**
 * Copies `properties`, replacing every value under a secret-looking name (in
 * nested plain objects and arrays too) by {@linkcode REDACTED}.
 */
export function redactProperties(
  properties: Record<string, unknown>,
): Redacted {
  const secrets = new Set<string>();
  const seen = new WeakSet<object>();
  const redacted = redactObject(properties, secrets, seen, 0);
  return { properties: redacted as Record<string, unknown>, secrets };
}

/** `value` with secrets under secret-looking names replaced, as a copy. */
export function redactValue(value: unknown, secrets: Set<string>): unknown {
  return redactAny(value, secrets, new WeakSet(), 0);
}

function redactAny(
  value: unknown,
  secrets: Set<string>,
  seen: WeakSet<object>,
  depth: number,
): unknown {
  if (value === null || typeof value !== "object") return value;
  if (!isPlain(value)) return value;
  if (seen.has(value) || depth >= MAX_DEPTH) return value;
  return redactObject(value, secrets, seen, depth);
}

function redactObject(
  value: object,
  secrets: Set<string>,
  seen: WeakSet<object>,
  depth: number,
): unknown {
  seen.add(value);
  if (Array.isArray(value)) {
    return value.map((item) => redactAny(item, secrets, seen, depth + 1));
  }
  const copy: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value)) {
    if (isSecretName(name)) {
      collectSecrets(item, secrets, 0);
      copy[name] = REDACTED;
    } else {
      copy[name] = redactAny(item, secrets, seen, depth + 1);
    }
  }
  return copy;
}

function collectSecrets(value: unknown, secrets: Set<string>, depth: number) {
  if (depth > MAX_DEPTH || value === null || value === undefined) return;
  if (typeof value === "object") {
    if (!isPlain(value)) return;
    for (const item of Object.values(value)) {
      collectSecrets(item, secrets, depth + 1);
    }
  } else if (String(value) !== "") {
    secrets.add(String(value));
  }
}

function isPlain(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
