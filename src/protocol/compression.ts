// Compression codecs of RecordBatch v2 (attributes bits 0-2). Only `none` is
// implemented so far; the compression issue plugs gzip, snappy, lz4 and zstd
// in here, and encodeRecordBatch/decodeRecordBatches pick them up unchanged.

export type CompressionName = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

export const COMPRESSION_IDS: Record<CompressionName, number> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 };
export const COMPRESSION_NAMES: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

export interface Codec {
  compress(data: Buffer): Buffer;
  decompress(data: Buffer): Buffer;
}

const codecs = new Map<CompressionName, Codec>();

/** The codec for `name`; throws a clear error for codecs not implemented yet. */
export function codecFor(name: CompressionName): Codec {
  const codec = codecs.get(name);
  if (!codec) throw new Error(`compression codec ${name} is not supported yet`);
  return codec;
}

export function compressionName(id: number): CompressionName {
  const name = COMPRESSION_NAMES[id];
  if (name === undefined) throw new Error(`unknown compression codec id ${id}`);
  return name;
}
