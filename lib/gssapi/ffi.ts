/**
 * FFI bindings to MIT Kerberos `libgssapi_krb5.so.2`: the symbol table, the
 * C struct layouts and small helpers to build and read them.
 *
 * Layouts on 64-bit Linux:
 * - `gss_buffer_desc` { size_t length; void *value; }: `BigUint64Array(2)`.
 * - `gss_OID_desc` { OM_uint32 length; void *elements; }: length at 0, pointer at 8.
 * - `gss_key_value_set_desc` { OM_uint32 count; gss_key_value_element_desc *elements; }
 *   and `gss_key_value_element_desc` { const char *key; const char *value; }.
 * - Context, name and credential handles are pointers; the library writes them
 *   through a pointer-to-pointer (a `BigUint64Array(1)` holder).
 *
 * Every function here is called synchronously: MIT keeps the text of the last
 * Kerberos error per thread, and `gss_display_status` must run on the thread
 * that saw the error.
 *
 * @module
 */

/** The shared library, as Debian's libgssapi-krb5-2 package installs it. */
export const GSSAPI_LIBRARY = "libgssapi_krb5.so.2";

const SYMBOLS = {
  gss_import_name: {
    parameters: ["buffer", "buffer", "pointer", "buffer"],
    result: "u32",
  },
  gss_display_name: {
    parameters: ["buffer", "pointer", "buffer", "buffer"],
    result: "u32",
  },
  gss_release_name: { parameters: ["buffer", "buffer"], result: "u32" },
  gss_acquire_cred_from: {
    parameters: [
      "buffer", // minor_status
      "pointer", // desired_name
      "u32", // time_req
      "pointer", // desired_mechs
      "i32", // cred_usage
      "buffer", // cred_store
      "buffer", // output_cred_handle
      "pointer", // actual_mechs
      "buffer", // time_rec
    ],
    result: "u32",
  },
  gss_inquire_cred: {
    parameters: ["buffer", "pointer", "buffer", "buffer", "buffer", "pointer"],
    result: "u32",
  },
  gss_release_cred: { parameters: ["buffer", "buffer"], result: "u32" },
  gss_init_sec_context: {
    parameters: [
      "buffer", // minor_status
      "pointer", // initiator_cred_handle
      "buffer", // context_handle (in/out)
      "pointer", // target_name
      "pointer", // mech_type
      "u32", // req_flags
      "u32", // time_req
      "pointer", // input_chan_bindings
      "buffer", // input_token
      "pointer", // actual_mech_type
      "buffer", // output_token
      "buffer", // ret_flags
      "buffer", // time_rec
    ],
    result: "u32",
  },
  gss_delete_sec_context: {
    parameters: ["buffer", "buffer", "pointer"],
    result: "u32",
  },
  gss_wrap: {
    parameters: [
      "buffer",
      "pointer",
      "i32",
      "u32",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "u32",
  },
  gss_unwrap: {
    parameters: ["buffer", "pointer", "buffer", "buffer", "buffer", "buffer"],
    result: "u32",
  },
  gss_wrap_size_limit: {
    parameters: ["buffer", "pointer", "i32", "u32", "u32", "buffer"],
    result: "u32",
  },
  gss_release_buffer: { parameters: ["buffer", "buffer"], result: "u32" },
  gss_display_status: {
    parameters: ["buffer", "u32", "i32", "pointer", "buffer", "buffer"],
    result: "u32",
  },
  GSS_C_NT_HOSTBASED_SERVICE: { type: "pointer" },
  GSS_KRB5_NT_PRINCIPAL_NAME: { type: "pointer" },
  gss_mech_krb5: { type: "pointer" },
  gss_mech_set_krb5: { type: "pointer" },
} as const;

/** The GSSAPI functions and the constants read from the library's data symbols. */
export interface Gssapi {
  /** The bound functions. */
  fn: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
  /** `GSS_C_NT_HOSTBASED_SERVICE` (a `gss_OID`). */
  ntHostbasedService: Deno.PointerValue;
  /** `GSS_KRB5_NT_PRINCIPAL_NAME` (a `gss_OID`). */
  ntKrb5Principal: Deno.PointerValue;
  /** `gss_mech_krb5` (a `gss_OID`). */
  mechKrb5: Deno.PointerValue;
  /** `gss_mech_set_krb5` (a `gss_OID_set`). */
  mechSetKrb5: Deno.PointerValue;
}

/** `GSS_S_COMPLETE`. */
export const GSS_S_COMPLETE = 0;
/** `GSS_S_CONTINUE_NEEDED` (a supplementary status bit). */
export const GSS_S_CONTINUE_NEEDED = 1;
/** `GSS_C_GSS_CODE` for `gss_display_status`. */
export const GSS_C_GSS_CODE = 1;
/** `GSS_C_MECH_CODE` for `gss_display_status`. */
export const GSS_C_MECH_CODE = 2;
/** `GSS_C_INITIATE` credential usage. */
export const GSS_C_INITIATE = 1;
/** `GSS_C_MUTUAL_FLAG`. */
export const GSS_C_MUTUAL_FLAG = 2;
/** `GSS_C_REPLAY_FLAG`. */
export const GSS_C_REPLAY_FLAG = 4;
/** `GSS_C_SEQUENCE_FLAG`. */
export const GSS_C_SEQUENCE_FLAG = 8;
/** `GSS_C_CONF_FLAG`. */
export const GSS_C_CONF_FLAG = 16;
/** `GSS_C_INTEG_FLAG`. */
export const GSS_C_INTEG_FLAG = 32;

/** True when a major status is an error (a calling or routine error). */
export function isGssError(major: number): boolean {
  return (major & 0xffff0000) !== 0;
}

let loaded: Gssapi | undefined;

/**
 * Opens the GSSAPI library once per process and returns its functions.
 * `path` exists so a test can check the error for a missing library.
 */
export function gssapi(path: string = GSSAPI_LIBRARY): Gssapi {
  if (loaded && path === GSSAPI_LIBRARY) return loaded;
  let library: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    library = Deno.dlopen(path, SYMBOLS);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotCapable) {
      throw new Error(
        `Cannot load GSSAPI as FFI is not permitted: run Deno with --allow-ffi to open "${path}"`,
        { cause },
      );
    }
    throw new Error(
      `Cannot load GSSAPI as the library "${path}" cannot be opened: install the Debian package libgssapi-krb5-2 (${
        (cause as Error).message
      })`,
      { cause },
    );
  }
  const deref = (p: Deno.PointerValue) =>
    new Deno.UnsafePointerView(p as Deno.PointerObject).getPointer(0);
  const api: Gssapi = {
    fn: library.symbols,
    ntHostbasedService: deref(library.symbols.GSS_C_NT_HOSTBASED_SERVICE),
    ntKrb5Principal: deref(library.symbols.GSS_KRB5_NT_PRINCIPAL_NAME),
    mechKrb5: deref(library.symbols.gss_mech_krb5),
    mechSetKrb5: deref(library.symbols.gss_mech_set_krb5),
  };
  if (path === GSSAPI_LIBRARY) loaded = api;
  return api;
}

/**
 * Fills `desc` (default: a new one) as a `gss_buffer_desc` describing
 * `data`; keep `data` referenced until the call that reads it returned.
 */
export function inputBuffer(
  data: Uint8Array,
  desc: BigUint64Array<ArrayBuffer> = new BigUint64Array(2),
): BigUint64Array<ArrayBuffer> {
  desc[0] = BigInt(data.byteLength);
  desc[1] = data.byteLength === 0 ? 0n : Deno.UnsafePointer.value(
    Deno.UnsafePointer.of(data as Uint8Array<ArrayBuffer>),
  );
  return desc;
}

/** An empty `gss_buffer_desc` for the library to fill. */
export function outputBuffer(): BigUint64Array<ArrayBuffer> {
  return new BigUint64Array(2);
}

/**
 * Copies the contents of a library-filled `gss_buffer_desc`, then releases it
 * with `gss_release_buffer` (also when the buffer is empty, which is harmless).
 */
export function takeBuffer(
  api: Gssapi,
  desc: BigUint64Array<ArrayBuffer>,
): Uint8Array<ArrayBuffer> {
  const length = Number(desc[0]);
  const data = new Uint8Array(length);
  if (length > 0 && desc[1] !== 0n) {
    Deno.UnsafePointerView.copyInto(
      Deno.UnsafePointer.create(desc[1]) as Deno.PointerObject,
      data,
    );
  }
  if (desc[1] !== 0n) {
    api.fn.gss_release_buffer(new Uint32Array(1), desc);
  }
  desc[0] = 0n;
  desc[1] = 0n;
  return data;
}

/** The handle stored in a pointer-to-pointer holder, to pass by value. */
export function handle(holder: BigUint64Array<ArrayBuffer>): Deno.PointerValue {
  return Deno.UnsafePointer.create(holder[0]);
}

/** A NUL-terminated C string; keep it referenced while its address is used. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.byteLength + 1);
  out.set(bytes);
  return out;
}

let _kept: unknown;

/**
 * Keeps JS buffers whose addresses sat in a struct reachable until after the
 * FFI call that used them: call it right after that call. (An optimizing
 * compiler may otherwise treat a buffer as dead once its address was taken,
 * and the garbage collector may free its memory while C still reads it.)
 * The write to a module variable is a side effect no compiler may drop.
 */
export function keepAlive(...buffers: ArrayBufferView[]): void {
  _kept = buffers;
}

/** The address of a JS-owned buffer, as a bigint to store in a struct. */
export function addressOf(
  data: Uint8Array<ArrayBuffer> | BigUint64Array<ArrayBuffer>,
): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(data));
}
