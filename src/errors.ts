// Errors the storage engine reports. Each carries the Kafka error code a
// broker would send for it, so callers branch on `code`, not on messages.

import { ErrorCode } from './protocol/error-codes.js';

/** Kafka protocol error codes the storage engine produces (a subset of ErrorCode). */
export const StorageErrorCodes = {
  OFFSET_OUT_OF_RANGE: ErrorCode.OFFSET_OUT_OF_RANGE,
  CORRUPT_MESSAGE: ErrorCode.CORRUPT_MESSAGE,
  MESSAGE_TOO_LARGE: ErrorCode.MESSAGE_TOO_LARGE,
  RECORD_LIST_TOO_LARGE: ErrorCode.RECORD_LIST_TOO_LARGE,
  KAFKA_STORAGE_ERROR: ErrorCode.KAFKA_STORAGE_ERROR,
  INVALID_RECORD: ErrorCode.INVALID_RECORD,
} as const;

export type StorageErrorName = keyof typeof StorageErrorCodes | 'LOG_CLOSED' | 'INVALID_ARGUMENT';

/** A storage operation failed; `code` names the Kafka error, `errorCode` is its number (negative for non-wire errors). */
export class LogError extends Error {
  override readonly name = 'LogError';
  constructor(
    message: string,
    readonly code: StorageErrorName,
    readonly errorCode: number,
  ) {
    super(message);
  }
}

/** Turns the addon's plain Error (with code/errorCode) into a LogError. */
export function toLogError(error: unknown): unknown {
  if (error instanceof Error && typeof (error as { code?: unknown }).code === 'string') {
    const { code, errorCode } = error as Error & { code: StorageErrorName; errorCode: number };
    return new LogError(error.message, code, errorCode);
  }
  return error;
}
