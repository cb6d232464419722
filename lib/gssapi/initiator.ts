/**
 * The initiator (client) side of a Kerberos GSSAPI security context.
 *
 * @module
 */

import {
  acquireInitiatorCredential,
  type InitiatorCredential,
  resolveCcache,
} from "./credential.ts";
import { GssError, statusText } from "./error.ts";
import {
  GSS_C_CONF_FLAG,
  GSS_C_INTEG_FLAG,
  GSS_C_MUTUAL_FLAG,
  GSS_C_REPLAY_FLAG,
  GSS_C_SEQUENCE_FLAG,
  GSS_S_COMPLETE,
  GSS_S_CONTINUE_NEEDED,
  type Gssapi,
  gssapi,
  handle,
  inputBuffer,
  isGssError,
  keepAlive,
  outputBuffer,
  takeBuffer,
} from "./ffi.ts";
import { importName, releaseName } from "./name.ts";

/** Options of {@linkcode GssInitiator}. */
export interface GssInitiatorOptions {
  /**
   * The ticket cache: `"FILE:/path"`, any other krb5 cache name, or an
   * absolute path (taken as `FILE:`). Default: the `KRB5CCNAME` variable.
   */
  ccache?: string;
  /**
   * The client principal the cache must hold, e.g. `consumer@EXAMPLE.TEST`;
   * a cache of another principal is refused. Default: the cache's principal.
   */
  principal?: string;
  /** Ask the acceptor to authenticate itself too (mutual authentication). Default: true. */
  mutual?: boolean;
  /**
   * How the target is named: `"hostbased"` (`service@host`) or
   * `"principal"`, a Kerberos principal such as `host/example.org` or
   * `host/example.org@REALM` (remctl names its servers this way).
   * @default {"hostbased"}
   */
  targetNameType?: "hostbased" | "principal";
}

/** Options of {@linkcode GssInitiator.prototype.wrap}. */
export interface GssWrapOptions {
  /** Encrypt the data (confidentiality) rather than only sign it. Default: true. */
  confidential?: boolean;
}

/** The result of {@linkcode GssInitiator.prototype.unwrap}. */
export interface GssUnwrapResult {
  /** The data the peer wrapped. */
  data: Uint8Array;
  /** Whether the peer encrypted it. */
  confidential: boolean;
}

const TARGET_PATTERN = /^[^@\s]+@[^@\s]+$/;

/**
 * Establishes a Kerberos security context with a host-based service as the
 * client principal of a ticket cache, then protects messages with it.
 *
 * The credential is acquired in the constructor, so a missing, empty or
 * expired cache throws a {@linkcode GssError} right away.
 *
 * @example
 * ```ts
 * const gss = new GssInitiator("ldap@localhost", { ccache: "FILE:/run/x/ccache" });
 * let token = gss.step();
 * // send token, read the server's reply into `reply`, call gss.step(reply) until established
 * gss.close();
 * ```
 */
export class GssInitiator {
  #api: Gssapi;
  #target: string;
  #ccache: string;
  #flags: number;
  #credential: InitiatorCredential;
  #name = new BigUint64Array(1);
  #context = new BigUint64Array(1);
  #returnedFlags = 0;
  // Reused by wrap/unwrap (GSS calls are synchronous): fewer allocations per message.
  #minor = new Uint32Array(1);
  #confState = new Int32Array(1);
  #inputDesc = new BigUint64Array(2);
  #outputDesc = outputBuffer();
  #unwrapInput = new Uint8Array(4096);
  #established = false;
  #failed = false;
  #closed = false;

  /**
   * Acquires the credential and imports the target name.
   * @param targetService host-based service name, `service@host` (e.g. `ldap@localhost`),
   *   or a principal name with `targetNameType: "principal"`
   */
  constructor(targetService: string, options: GssInitiatorOptions = {}) {
    const byPrincipal = options.targetNameType === "principal";
    if (
      byPrincipal
        ? targetService.trim() === ""
        : !TARGET_PATTERN.test(targetService)
    ) {
      throw new GssError(
        `Cannot create a GSSAPI initiator as the target service is not of the form "service@host": got "${targetService}"`,
        { major: 0, minor: 0 },
      );
    }
    this.#target = targetService;
    this.#ccache = resolveCcache(targetService, options.ccache);
    const mutual = options.mutual ?? true;
    this.#flags = GSS_C_REPLAY_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_INTEG_FLAG |
      GSS_C_CONF_FLAG |
      (mutual ? GSS_C_MUTUAL_FLAG : 0);
    this.#api = gssapi();
    this.#credential = acquireInitiatorCredential(this.#api, {
      target: targetService,
      ccache: this.#ccache,
      principal: options.principal,
    });
    try {
      importName(this.#api, targetService, {
        nameType: byPrincipal
          ? this.#api.ntKrb5Principal
          : this.#api.ntHostbasedService,
        holder: this.#name,
        purpose: `Cannot establish a GSSAPI context with "${targetService}"`,
      });
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** The client principal of the ticket cache, e.g. `consumer@EXAMPLE.TEST`. */
  get clientPrincipal(): string {
    return this.#credential.principal;
  }

  /** The ticket cache in use, e.g. `FILE:/run/wgsync/ccache`. */
  get ccache(): string {
    return this.#ccache;
  }

  /** The target service, as given to the constructor. */
  get targetService(): string {
    return this.#target;
  }

  /** True once the context is fully established. */
  get established(): boolean {
    return this.#established;
  }

  /** True when the established context can encrypt (`GSS_C_CONF_FLAG` was returned). */
  get confidentialityAvailable(): boolean {
    return (this.#returnedFlags & GSS_C_CONF_FLAG) !== 0;
  }

  /** True when the established context can sign (`GSS_C_INTEG_FLAG` was returned). */
  get integrityAvailable(): boolean {
    return (this.#returnedFlags & GSS_C_INTEG_FLAG) !== 0;
  }

  #who(): string {
    return `"${this.#target}" (client "${this.#credential.principal}", ccache "${this.#ccache}")`;
  }

  #check(action: string): void {
    if (this.#closed) {
      throw new GssError(
        `Cannot ${action} as the GSSAPI context with ${this.#who()} is closed`,
        {
          major: 0,
          minor: 0,
        },
      );
    }
    if (this.#failed) {
      throw new GssError(
        `Cannot ${action} as establishing the GSSAPI context with ${this.#who()} failed earlier`,
        { major: 0, minor: 0 },
      );
    }
  }

  /**
   * Runs one step of `gss_init_sec_context`. Call it first without a token,
   * then with each token the acceptor sends, until {@linkcode established}.
   * @returns the token to send to the acceptor, or undefined when this step
   *   produced none (the final step of mutual authentication)
   */
  step(inputToken?: Uint8Array): Uint8Array | undefined {
    this.#check("take a GSSAPI step");
    if (this.#established) {
      throw new GssError(
        `Cannot take a GSSAPI step as the context with ${this.#who()} is already established`,
        { major: 0, minor: 0 },
      );
    }
    const input = inputToken ?? new Uint8Array(0);
    const minor = new Uint32Array(1);
    const output = outputBuffer();
    const retFlags = new Uint32Array(1);
    const major = this.#api.fn.gss_init_sec_context(
      minor,
      handle(this.#credential.holder),
      this.#context,
      handle(this.#name),
      this.#api.mechKrb5,
      this.#flags,
      0,
      null,
      inputToken === undefined ? null : inputBuffer(input),
      null,
      output,
      retFlags,
      null,
    );
    keepAlive(input);
    const token = takeBuffer(this.#api, output);
    if (isGssError(major)) {
      this.#failed = true;
      throw new GssError(
        `Cannot establish a GSSAPI context with ${this.#who()}: ${
          statusText(this.#api, major, minor[0])
        }`,
        { major, minor: minor[0] },
      );
    }
    if ((major & GSS_S_CONTINUE_NEEDED) === 0) {
      this.#returnedFlags = retFlags[0];
      if (
        (this.#flags & GSS_C_MUTUAL_FLAG) !== 0 &&
        (retFlags[0] & GSS_C_MUTUAL_FLAG) === 0
      ) {
        this.#failed = true;
        throw new GssError(
          `Cannot establish a GSSAPI context with ${this.#who()} as the service did not authenticate itself (no mutual authentication)`,
          { major, minor: minor[0] },
        );
      }
      this.#established = true;
    }
    return token.byteLength === 0 ? undefined : token;
  }

  /**
   * Protects `data` with `gss_wrap`: encrypted and signed when
   * `confidential` (default), otherwise only signed.
   */
  wrap(data: Uint8Array, options: GssWrapOptions = {}): Uint8Array {
    this.#checkEstablished("wrap a message");
    const confidential = options.confidential ?? true;
    const minor = this.#minor;
    const confState = this.#confState;
    const major = this.#api.fn.gss_wrap(
      minor,
      handle(this.#context),
      confidential ? 1 : 0,
      0,
      inputBuffer(data, this.#inputDesc),
      confState,
      this.#outputDesc,
    );
    keepAlive(data);
    const token = takeBuffer(this.#api, this.#outputDesc);
    if (isGssError(major)) {
      throw new GssError(
        `Cannot wrap a message for ${this.#who()}: ${
          statusText(this.#api, major, minor[0])
        }`,
        { major, minor: minor[0] },
      );
    }
    if (confidential && confState[0] === 0) {
      throw new GssError(
        `Cannot wrap a message for ${this.#who()} as the context cannot encrypt`,
        { major, minor: minor[0] },
      );
    }
    return token;
  }

  /**
   * Verifies (and decrypts) a token from the peer with `gss_unwrap`. A token
   * that is replayed or out of order (any supplementary status) is refused.
   */
  unwrap(token: Uint8Array): GssUnwrapResult {
    this.#checkEstablished("unwrap a message");
    const minor = this.#minor;
    const confState = this.#confState;
    // MIT's gss_unwrap rewrites its input in place (it rotates integrity
    // tokens), so it reads a copy: the caller's bytes stay as they were.
    if (this.#unwrapInput.byteLength < token.byteLength) {
      this.#unwrapInput = new Uint8Array(
        Math.max(token.byteLength, 2 * this.#unwrapInput.byteLength),
      );
    }
    const input = this.#unwrapInput.subarray(0, token.byteLength);
    input.set(token);
    const major = this.#api.fn.gss_unwrap(
      minor,
      handle(this.#context),
      inputBuffer(input, this.#inputDesc),
      this.#outputDesc,
      confState,
      null,
    );
    keepAlive(input);
    const data = takeBuffer(this.#api, this.#outputDesc);
    if (isGssError(major)) {
      throw new GssError(
        `Cannot unwrap a message of ${token.byteLength} bytes from ${this.#who()}: ${
          statusText(this.#api, major, minor[0])
        }`,
        { major, minor: minor[0] },
      );
    }
    if (major !== GSS_S_COMPLETE) {
      // Duplicate, old, unsequenced or gap token: the stream lost or replayed a message.
      throw new GssError(
        `Cannot unwrap a message of ${token.byteLength} bytes from ${this.#who()} as it is out of sequence (replayed, old or after a gap): ${
          statusText(this.#api, major, minor[0])
        }`,
        { major, minor: minor[0] },
      );
    }
    return { data, confidential: confState[0] !== 0 };
  }

  /**
   * The largest message {@linkcode wrap} accepts so that its token is at
   * most `maxTokenSize` bytes (`gss_wrap_size_limit`).
   */
  wrapSizeLimit(maxTokenSize: number, options: GssWrapOptions = {}): number {
    this.#checkEstablished("compute the wrap size limit");
    const minor = new Uint32Array(1);
    const maxInput = new Uint32Array(1);
    const major = this.#api.fn.gss_wrap_size_limit(
      minor,
      handle(this.#context),
      (options.confidential ?? true) ? 1 : 0,
      0,
      maxTokenSize,
      maxInput,
    );
    if (isGssError(major)) {
      throw new GssError(
        `Cannot compute the wrap size limit for ${this.#who()}: ${
          statusText(this.#api, major, minor[0])
        }`,
        { major, minor: minor[0] },
      );
    }
    return maxInput[0];
  }

  #checkEstablished(action: string): void {
    this.#check(action);
    if (!this.#established) {
      throw new GssError(
        `Cannot ${action} as the GSSAPI context with ${this.#who()} is not established yet`,
        { major: 0, minor: 0 },
      );
    }
  }

  /** Releases the context, the target name and the credential; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const minor = new Uint32Array(1);
    if (this.#context[0] !== 0n) {
      this.#api.fn.gss_delete_sec_context(minor, this.#context, null);
      this.#context[0] = 0n;
    }
    releaseName(this.#api, this.#name);
    if (this.#credential.holder[0] !== 0n) {
      this.#api.fn.gss_release_cred(minor, this.#credential.holder);
      this.#credential.holder[0] = 0n;
    }
  }
}
