/**
 * A counting relay in front of moto: an HTTP server on 127.0.0.1 that
 * forwards every request unchanged to moto and counts them by AWS operation
 * (the `X-Amz-Target` header of JSON protocols such as DynamoDB's, or the
 * `Action` of query-protocol form bodies such as SNS's), so a test counts
 * the requests a role really sent instead of trusting the role's cache.
 * Optionally it refuses SNS PublishBatch entries a test picks (see
 * sns_batch_refusal.ts).
 *
 * @module
 */

import {
  type EntryRefusal,
  refuseEntries,
  withRefused,
} from "./sns_batch_refusal.ts";

/** A running relay. */
export class AwsRelay {
  #server: Deno.HttpServer<Deno.NetAddr>;
  #counts = new Map<string, number>();
  #delays: Record<string, number>;
  #refuse: EntryRefusal | undefined;
  #closing: Promise<void> | undefined;
  #held: PromiseWithResolvers<void> | undefined;

  private constructor(
    target: string,
    options: { delays?: Record<string, number>; refuseEntry?: EntryRefusal },
  ) {
    this.#delays = options.delays ?? {};
    this.#refuse = options.refuseEntry;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#forward(target, request),
    );
  }

  /**
   * Starts relaying to `target` (e.g. `http://127.0.0.1:PORT`); `delays`
   * holds back the answers of some operations (ms), e.g. to make two
   * processes' reads overlap; `refuseEntry` picks SNS PublishBatch entries
   * to answer as failed (with the group's later entries of the call).
   */
  static start(
    target: string,
    options: { delays?: Record<string, number>; refuseEntry?: EntryRefusal } =
      {},
  ): AwsRelay {
    return new AwsRelay(target, options);
  }

  /** The relay's URL, to use as the AWS endpoint. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Requests relayed for `operation`, e.g. `DynamoDB_20120810.GetItem` or `Publish`. */
  count(operation: string): number {
    return this.#counts.get(operation) ?? 0;
  }

  /** Every operation seen, with its count. */
  get counts(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }

  /**
   * From now on requests get no answer (AWS hung): they wait until
   * {@linkcode release}, then fail with 503 without reaching moto.
   */
  hold(): void {
    this.#held ??= Promise.withResolvers<void>();
  }

  /** Answers held requests with 503 and relays again. */
  release(): void {
    this.#held?.resolve();
    this.#held = undefined;
  }

  /** Stops the relay (new connections are refused); safe to call twice. */
  async close(): Promise<void> {
    this.#closing ??= this.#server.shutdown();
    await this.#closing;
  }

  async #forward(target: string, request: Request): Promise<Response> {
    if (this.#held !== undefined) {
      await this.#held.promise;
      return new Response("held by the test relay\n", { status: 503 });
    }
    const url = new URL(request.url);
    const body = request.method === "GET" || request.method === "HEAD"
      ? undefined
      : new Uint8Array(await request.arrayBuffer());
    let operation = request.headers.get("x-amz-target") ?? undefined;
    if (
      operation === undefined && body !== undefined &&
      (request.headers.get("content-type") ?? "").includes("urlencoded")
    ) {
      operation = new URLSearchParams(new TextDecoder().decode(body)).get(
        "Action",
      ) ?? undefined;
    }
    operation ??= `${request.method} ${url.pathname}`;
    this.#counts.set(operation, (this.#counts.get(operation) ?? 0) + 1);
    const refusal =
      operation === "PublishBatch" && this.#refuse !== undefined &&
        body !== undefined
        ? refuseEntries(body, this.#refuse)
        : undefined;
    if (refusal !== undefined && refusal.forward === undefined) {
      return new Response(withRefused(undefined, refusal.refused), {
        headers: { "content-type": "text/xml" },
      });
    }
    const headers = new Headers(request.headers);
    for (const name of ["host", "content-length", "connection"]) {
      headers.delete(name);
    }
    const response = await fetch(`${target}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      body: refusal?.forward ?? body,
    });
    let payload: ArrayBuffer | string = await response.arrayBuffer();
    if (refusal !== undefined && refusal.refused.length > 0 && response.ok) {
      payload = withRefused(new TextDecoder().decode(payload), refusal.refused);
    }
    const delay = this.#delays[operation];
    if (delay !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    const out = new Headers(response.headers);
    out.delete("content-encoding");
    out.delete("content-length");
    const empty = request.method === "HEAD" ||
      [204, 205, 304].includes(response.status);
    return new Response(empty ? null : payload, {
      status: response.status,
      headers: out,
    });
  }
}
