/**
 * A throwaway CA and a server certificate it signs, made with openssl, for
 * slapd's StartTLS. rustls refuses a self-signed certificate that is its own
 * CA, so the server certificate is a separate leaf (SAN DNS:localhost,
 * IP:127.0.0.1).
 *
 * @module
 */

import type { StackContext } from "./context.ts";
import { baseEnv } from "./layout.ts";
import { runCommand } from "./process.ts";

/** Paths of the generated certificate files. */
export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Generates a CA (P-256) and a leaf certificate for localhost/127.0.0.1, keys mode 0600. */
export async function createTls(context: StackContext): Promise<TlsFiles> {
  const { layout, programs } = context;
  const env = baseEnv(layout);
  const dir = layout.tls;
  const files: TlsFiles = {
    caFile: `${dir}/ca.crt`,
    certFile: `${dir}/server.crt`,
    keyFile: `${dir}/server.key`,
  };
  const caKey = `${dir}/ca.key`;
  const csr = `${dir}/server.csr`;
  const extFile = `${dir}/server.ext`;
  const newKey = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
  ];
  await runCommand([
    programs.openssl,
    "req",
    "-x509",
    "-new",
    ...newKey,
    "-keyout",
    caKey,
    "-out",
    files.caFile,
    "-days",
    "30",
    "-subj",
    "/CN=wgsync local stack CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], { env });
  await runCommand([
    programs.openssl,
    "req",
    "-new",
    ...newKey,
    "-keyout",
    files.keyFile,
    "-out",
    csr,
    "-subj",
    "/CN=localhost",
  ], { env });
  await Deno.writeTextFile(
    extFile,
    [
      "basicConstraints = critical, CA:FALSE",
      "keyUsage = critical, digitalSignature, keyEncipherment",
      "extendedKeyUsage = serverAuth",
      "subjectAltName = DNS:localhost, IP:127.0.0.1",
      "",
    ].join("\n"),
  );
  await runCommand([
    programs.openssl,
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    files.caFile,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    files.certFile,
    "-days",
    "30",
    "-extfile",
    extFile,
  ], { env });
  await Deno.chmod(caKey, 0o600);
  await Deno.chmod(files.keyFile, 0o600);
  return files;
}
