// The shapes the generated protocol modules export besides their codecs: a
// compact descriptor of every message (field names, types, version ranges,
// defaults), the codec object per message and the per-API entry of the API
// table. Hand-written; src/protocol/generated/ fills them in.
//
// The descriptors mirror Kafka's message schemas closely enough to drive
// generic code (the round-trip tests build sample messages from them, a
// debug printer or the ApiVersions handler can use them) without shipping
// the JSON schemas themselves.
import type { Init, Reader, Writer } from './wire.js';

export type ScalarType =
  | 'bool'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'float64'
  | 'string'
  | 'uuid'
  | 'bytes'
  | 'records';

/** Inclusive [min, max]; "N+" in the schema ends at VERSION_MAX (0x7fff). */
export type VersionRange = readonly [min: number, max: number];

/** A default as written in the schema, parsed: int64 as bigint, "null" as null. */
export type DefaultValue = number | bigint | boolean | string | null;

export interface FieldSchema {
  /** Property name in TypeScript (camelCase of the schema name). */
  readonly name: string;
  /** A scalar type, or the struct for struct and struct-array fields. */
  readonly type: ScalarType | StructSchema;
  /** The field is an array of `type`. */
  readonly array?: true;
  readonly versions: VersionRange;
  readonly nullableVersions?: VersionRange;
  /** Tagged fields: their tag and the versions in which they are tagged. */
  readonly tag?: number;
  readonly taggedVersions?: VersionRange;
  /** Encoders drop a non-default value silently in versions without the field. */
  readonly ignorable?: true;
  /** Present only when the schema gives one; otherwise 0, false, "", empty, ZERO_UUID. */
  readonly default?: DefaultValue;
  /** The field never uses compact encodings (RequestHeader.clientId). */
  readonly compact?: false;
}

export interface StructSchema {
  /** The TypeScript interface name. */
  readonly name: string;
  readonly fields: readonly FieldSchema[];
}

export interface MessageSchema extends StructSchema {
  readonly kind: 'request' | 'response' | 'header' | 'data';
  readonly apiKey?: number;
  readonly validVersions: VersionRange;
  /** null when no version is flexible. */
  readonly flexibleVersions: VersionRange | null;
}

/** Encoder, decoder and descriptor of one message. */
export interface MessageCodec<T> {
  readonly schema: MessageSchema;
  /** Appends the message body at `version`; throws ProtocolEncodeError if it cannot be represented. */
  write(w: Writer, message: Init<T>, version: number): void;
  /** Reads a message body at `version`; throws ProtocolDecodeError on malformed input. */
  read(r: Reader, version: number): T;
}

/** One entry of the API table in generated/index.ts. */
export interface ApiSpec<Req = unknown, Res = unknown> {
  readonly apiKey: number;
  /** Kafka's name without the Request/Response suffix, e.g. "Produce". */
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  /** First flexible version (request and response agree), or null. */
  readonly flexibleFrom: number | null;
  /** The schema marks its newest version as unstable (not to be advertised by default). */
  readonly latestVersionUnstable: boolean;
  readonly request: MessageCodec<Req>;
  readonly response: MessageCodec<Res>;
}
