/**
 * The SASL GSSAPI mechanism (RFC 4752) over an LDAP SASL bind: context
 * establishment, then the security layer negotiation.
 *
 * After a bind that chose "integrity" or "confidentiality", every LDAP PDU is
 * split into chunks of at most {@linkcode SaslSession.maxSendSize} bytes, each
 * chunk is {@linkcode SaslSession.wrap}ped and sent with a 4-byte big-endian
 * length in front; incoming frames (at most
 * {@linkcode SaslSession.maxReceiveSize} bytes) are unwrapped and their data
 * concatenated into the LDAP byte stream. With "none" nothing changes on the wire.
 *
 * @module
 */

import { GssError, SaslError } from "./error.ts";
import { GssInitiator } from "./initiator.ts";

/** A SASL security layer, weakest first: none, integrity (signed), confidentiality (encrypted). */
export type SaslSecurityLayer = "none" | "integrity" | "confidentiality";

/** Options of {@linkcode saslGssapiBind}. */
export interface SaslGssapiOptions {
  /** The ticket cache (see {@linkcode GssInitiatorOptions.ccache}). Default: `KRB5CCNAME`. */
  ccache?: string;
  /** The client principal the cache must hold (see {@linkcode GssInitiatorOptions.principal}). */
  principal?: string;
  /** The service part of the target name, e.g. `"ldap"`. */
  service: string;
  /** The host part of the target name, as the service principal spells it, e.g. `"localhost"`. */
  host: string;
  /**
   * The acceptable layers in preference order; the first one the server also
   * offers is chosen. Use `["none"]` on a TLS connection.
   * Default: `["confidentiality", "integrity", "none"]`.
   */
  layers?: SaslSecurityLayer[];
  /**
   * The largest wrapped token (frame payload) this client accepts, 1 to
   * 16,777,215 bytes. Default: 16,777,215 (what OpenLDAP's libldap offers).
   */
  maxReceiveSize?: number;
  /** The authorization identity to request (UTF-8); default: none (act as the principal). */
  authzid?: string;
}

/** The server's answer to one SASL BindRequest. */
export interface SaslExchangeResult {
  /** The LDAP result code: 14 (saslBindInProgress) while the exchange goes on, 0 when done. */
  resultCode: number;
  /** The serverSaslCreds of the BindResponse, if present. */
  serverCredentials?: Uint8Array;
  /** The BindResponse's diagnosticMessage, if any. */
  diagnosticMessage?: string;
}

/** An authenticated SASL GSSAPI session and its security layer. */
export interface SaslSession {
  /** The negotiated layer. */
  layer: SaslSecurityLayer;
  /** The client principal that authenticated, e.g. `consumer@EXAMPLE.TEST`. */
  principal: string;
  /** The largest chunk of LDAP bytes {@linkcode wrap} accepts (Infinity for "none"). */
  maxSendSize: number;
  /** The largest wrapped token the server may send; reject bigger frames (Infinity for "none"). */
  maxReceiveSize: number;
  /** Protects one chunk of at most maxSendSize bytes; the identity for "none". */
  wrap(data: Uint8Array): Uint8Array;
  /** Verifies (and decrypts) one received token; the identity for "none". */
  unwrap(token: Uint8Array): Uint8Array;
  /** Releases the GSSAPI context; safe to call twice. */
  close(): void;
}

/** LDAP resultCode saslBindInProgress. */
const SASL_BIND_IN_PROGRESS = 14;
/** RFC 4752 layer bits. */
const LAYER_BITS: Record<SaslSecurityLayer, number> = {
  none: 1,
  integrity: 2,
  confidentiality: 4,
};
const MAX_SIZE = 0xffffff;
/** Kerberos needs two round trips; more steps than this means a confused server. */
const MAX_STEPS = 8;
const DEFAULT_LAYERS: SaslSecurityLayer[] = [
  "confidentiality",
  "integrity",
  "none",
];

function validate(options: SaslGssapiOptions): {
  layers: SaslSecurityLayer[];
  maxReceiveSize: number;
} {
  for (const key of ["service", "host"] as const) {
    const value = options[key];
    if (typeof value !== "string" || !/^[^@\s/]+$/.test(value)) {
      throw new TypeError(
        `Cannot bind with SASL GSSAPI as the ${key} is not a name without "@", "/" or spaces: got ${
          JSON.stringify(value)
        }`,
      );
    }
  }
  const layers = options.layers ?? DEFAULT_LAYERS;
  if (layers.length === 0 || layers.some((layer) => !(layer in LAYER_BITS))) {
    throw new TypeError(
      `Cannot bind with SASL GSSAPI as the layers are not a non-empty list of "none", "integrity", "confidentiality": got ${
        JSON.stringify(layers)
      }`,
    );
  }
  const maxReceiveSize = options.maxReceiveSize ?? MAX_SIZE;
  if (
    !Number.isInteger(maxReceiveSize) || maxReceiveSize < 1 ||
    maxReceiveSize > MAX_SIZE
  ) {
    throw new RangeError(
      `Cannot bind with SASL GSSAPI as maxReceiveSize is not an integer from 1 to ${MAX_SIZE}: got ${maxReceiveSize}`,
    );
  }
  return { layers, maxReceiveSize };
}

function layerNames(bits: number): string {
  const names = (Object.keys(LAYER_BITS) as SaslSecurityLayer[])
    .filter((layer) => (bits & LAYER_BITS[layer]) !== 0);
  return names.length === 0 ? "nothing" : names.join(", ");
}

/**
 * Runs the whole RFC 4752 exchange. `send` performs one LDAP SASL
 * BindRequest (mechanism "GSSAPI") with the given credentials (undefined:
 * send an empty credentials field) and returns the BindResponse.
 *
 * Throws {@linkcode GssError} when Kerberos fails (naming the principal,
 * cache, service and GSS status text) and {@linkcode SaslError} when the
 * server refuses the bind or breaks the protocol. Errors thrown by `send`
 * pass through unchanged. The GSSAPI context is released on every failure.
 */
export async function saslGssapiBind(
  send: (credentials: Uint8Array | undefined) => Promise<SaslExchangeResult>,
  options: SaslGssapiOptions,
): Promise<SaslSession> {
  const { layers, maxReceiveSize } = validate(options);
  const target = `${options.service}@${options.host}`;
  const gss = new GssInitiator(target, {
    ccache: options.ccache,
    principal: options.principal,
    mutual: true,
  });
  const who =
    `"${target}" (client "${gss.clientPrincipal}", ccache "${gss.ccache}")`;
  const expect = (
    result: SaslExchangeResult,
    codes: number[],
    stage: string,
  ) => {
    if (!codes.includes(result.resultCode)) {
      const diagnostic = result.diagnosticMessage
        ? `: "${result.diagnosticMessage}"`
        : "";
      throw new SaslError(
        `Cannot bind with SASL GSSAPI to ${who}: the server answered result code ${result.resultCode} ${stage}${diagnostic}`,
        {
          resultCode: result.resultCode,
          diagnosticMessage: result.diagnosticMessage,
        },
      );
    }
  };
  try {
    let result = await send(gss.step());
    for (let steps = 1; !gss.established; steps++) {
      expect(result, [SASL_BIND_IN_PROGRESS], "during context establishment");
      if (steps >= MAX_STEPS) {
        throw new SaslError(
          `Cannot bind with SASL GSSAPI to ${who} as the context is not established after ${steps} steps`,
          { resultCode: result.resultCode },
        );
      }
      result = await send(
        gss.step(result.serverCredentials ?? new Uint8Array(0)),
      );
    }
    expect(
      result,
      [SASL_BIND_IN_PROGRESS],
      "instead of the security layer offer",
    );
    const offer =
      gss.unwrap(result.serverCredentials ?? new Uint8Array(0)).data;
    if (offer.byteLength !== 4) {
      throw new SaslError(
        `Cannot bind with SASL GSSAPI to ${who} as the security layer offer is ${offer.byteLength} bytes instead of 4`,
        { resultCode: result.resultCode },
      );
    }
    const offered = offer[0];
    const serverMax = (offer[1] << 16) | (offer[2] << 8) | offer[3];
    const layer = layers.find((candidate) =>
      (offered & LAYER_BITS[candidate]) !== 0 &&
      (candidate !== "confidentiality" || gss.confidentialityAvailable) &&
      (candidate !== "integrity" || gss.integrityAvailable)
    );
    if (layer === undefined) {
      throw new SaslError(
        `Cannot bind with SASL GSSAPI to ${who} as the server offers no acceptable security layer: offered ${
          layerNames(offered)
        }, acceptable ${layers.join(", ")}`,
        { resultCode: result.resultCode },
      );
    }
    const confidential = layer === "confidentiality";
    let maxSendSize = Infinity;
    if (layer !== "none") {
      if (serverMax === 0) {
        throw new SaslError(
          `Cannot bind with SASL GSSAPI to ${who} as the server offers the ${layer} layer with a maximum message size of 0`,
          { resultCode: result.resultCode },
        );
      }
      maxSendSize = gss.wrapSizeLimit(serverMax, { confidential });
    }
    const authzid = new TextEncoder().encode(options.authzid ?? "");
    const answer = new Uint8Array(4 + authzid.byteLength);
    const ownMax = layer === "none" ? 0 : maxReceiveSize;
    answer.set([
      LAYER_BITS[layer],
      (ownMax >> 16) & 0xff,
      (ownMax >> 8) & 0xff,
      ownMax & 0xff,
    ]);
    answer.set(authzid, 4);
    // RFC 4752 section 3.1: the layer choice itself is wrapped with conf_flag FALSE.
    result = await send(gss.wrap(answer, { confidential: false }));
    expect(result, [0], "to the security layer choice");
    if (layer === "none") {
      gss.close();
      return {
        layer,
        principal: gss.clientPrincipal,
        maxSendSize: Infinity,
        maxReceiveSize: Infinity,
        wrap: (data) => data,
        unwrap: (token) => token,
        close: () => {},
      };
    }
    return {
      layer,
      principal: gss.clientPrincipal,
      maxSendSize,
      maxReceiveSize,
      wrap(data) {
        if (data.byteLength > maxSendSize) {
          throw new RangeError(
            `Cannot wrap ${data.byteLength} bytes for ${who} as the ${layer} layer takes at most ${maxSendSize} bytes per chunk`,
          );
        }
        return gss.wrap(data, { confidential });
      },
      unwrap(token) {
        const { data, confidential: wasConfidential } = gss.unwrap(token);
        if (confidential && !wasConfidential) {
          throw new GssError(
            `Cannot accept a message from ${who} as it is not encrypted although the confidentiality layer was negotiated`,
            { major: 0, minor: 0 },
          );
        }
        return data;
      },
      close: () => gss.close(),
    };
  } catch (error) {
    gss.close();
    throw error;
  }
}
