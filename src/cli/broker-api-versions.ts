// gregor broker-api-versions: what the broker advertises, printed as Kafka's
// kafka-broker-api-versions.sh does, with the version this build would use.
//
//   --bootstrap-server host:port (required)
import { WireClient } from '../client/wire-client.js';
import { API_TABLE } from '../protocol/generated/index.js';
import { parseArgs } from './args.js';

export async function brokerApiVersionsCommand(argv: string[], out: (line: string) => void): Promise<void> {
  const args = parseArgs(argv, [], ['bootstrap-server']);
  const bootstrap = args.require('bootstrap-server');
  const client = await WireClient.connect(bootstrap);
  try {
    const lines: string[] = [];
    for (const [apiKey, range] of [...client.brokerVersions].sort(([a], [b]) => a - b)) {
      const api = API_TABLE.find((a) => a.apiKey === apiKey);
      const name = api?.name ?? `UNKNOWN`;
      const usable = api ? Math.min(api.maxVersion, range.max) : undefined;
      const usableText = usable !== undefined && usable >= range.min ? `[usable: ${usable}]` : '[unusable: node too new]';
      lines.push(`\t${name}(${apiKey}): ${range.min} to ${range.max} ${usableText}`);
    }
    out(`${bootstrap} -> (\n${lines.join(',\n')}\n)`);
  } finally {
    client.close();
  }
}
