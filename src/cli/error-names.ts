// Kafka error codes as names, for messages printed by the command-line tools.
import { ErrorCode } from '../protocol/error-codes.js';

const NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));

export function errorName(code: number): string {
  return NAMES.get(code) ?? `error ${code}`;
}
