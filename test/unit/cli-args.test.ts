// The command-line tools' `k=v` lists, as Kafka's tools take them.
import { describe, expect, it } from 'vitest';

import { UsageError, parseConfigPairs } from '../../src/cli/args.js';

describe('parseConfigPairs', () => {
  it('splits pairs at commas, but keeps list values whole', () => {
    expect(parseConfigPairs(['segment.bytes=1000,retention.ms=5'])).toEqual({ 'segment.bytes': '1000', 'retention.ms': '5' });
    expect(parseConfigPairs(['cleanup.policy=compact,delete'])).toEqual({ 'cleanup.policy': 'compact,delete' });
    expect(parseConfigPairs(['cleanup.policy=compact,delete,retention.ms=5', 'x=1'])).toEqual({ 'cleanup.policy': 'compact,delete', 'retention.ms': '5', x: '1' });
    expect(parseConfigPairs(['cleanup.policy=[compact,delete]'])).toEqual({ 'cleanup.policy': 'compact,delete' });
  });

  it('refuses an item without a key', () => {
    expect(() => parseConfigPairs(['=5'])).toThrow(UsageError);
    expect(() => parseConfigPairs(['novalue'])).toThrow(/expected key=value/);
  });
});
