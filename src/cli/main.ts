#!/usr/bin/env node
// gregor <command>: the broker and its tools, with Kafka's flags.
//
//   gregor broker [--config server.properties] [--override key=value ...]
//   gregor topics --bootstrap-server H:P --create|--list|--describe|--alter|--delete ...
//   gregor configs --bootstrap-server H:P --entity-type topics|brokers --entity-name N --describe [--all] | --alter ...
//   gregor broker-api-versions --bootstrap-server H:P
//   gregor dump-log --files 00000000000000000000.log[,...] [--print-data-log]
import { BrokerConfigError } from '../config/broker-config.js';
import { ConfigError } from '../log/config.js';
import { Logger } from '../observability/logger.js';
import { startBroker } from '../server/broker.js';
import { UsageError } from './args.js';
import { brokerApiVersionsCommand } from './broker-api-versions.js';
import { configsCommand } from './configs.js';
import { consumerGroupsCommand } from './consumer-groups.js';
import { dumpLogCommand } from './dump-log.js';
import { topicsCommand } from './topics.js';

const USAGE = `usage:
  gregor broker [--config server.properties] [--override key=value ...]
  gregor topics --bootstrap-server host:port --create --topic T [--partitions N] [--replication-factor R] [--config k=v ...]
  gregor topics --bootstrap-server host:port --list | --describe [--topic T] | --alter --topic T --partitions N | --delete --topic T
  gregor configs --bootstrap-server host:port --entity-type topics|brokers --entity-name N --describe [--all]
  gregor configs --bootstrap-server host:port --entity-type topics --entity-name T --alter [--add-config k=v,...] [--delete-config k,...]
  gregor consumer-groups --bootstrap-server host:port --list [--state [S,...]]
  gregor consumer-groups --bootstrap-server host:port --describe --group G|--all-groups [--offsets|--members [--verbose]|--state]
  gregor consumer-groups --bootstrap-server host:port --reset-offsets --group G --topic T[:P,...]|--all-topics --to-earliest|--to-latest|--to-current|--to-offset N|--shift-by N|--to-datetime YYYY-MM-DDTHH:mm:SS.sss|--by-duration PnDTnHnMnS [--dry-run|--execute]
  gregor consumer-groups --bootstrap-server host:port --delete --group G | --delete-offsets --group G --topic T[:P,...]
  gregor broker-api-versions --bootstrap-server host:port
  gregor dump-log --files 00000000000000000000.log[,...] [--print-data-log]`;

// `gregor ... | head` closes stdout early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const print = (line: string): void => {
  process.stdout.write(line + '\n');
};

async function runBroker(args: string[]): Promise<void> {
  let configFile: string | undefined;
  const overrides: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--config' || arg === '-c') {
      configFile = args[++i];
      if (!configFile) throw new Error('--config needs a file name');
    } else if (arg === '--override') {
      const pair = args[++i] ?? '';
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`--override needs key=value, got ${JSON.stringify(pair)}`);
      overrides[pair.slice(0, eq)] = pair.slice(eq + 1);
    } else if (!arg.startsWith('-') && configFile === undefined) {
      configFile = arg; // kafka-server-start.sh takes the file as its first argument
    } else {
      throw new Error(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  const logger = new Logger();
  const broker = await startBroker({ configFile, overrides, logger });
  const shutdown = (signal: string) => {
    logger.info(`Received ${signal}`);
    broker.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('Shutdown failed', { error: (error as Error).message });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

async function main(): Promise<void> {
  const [command, ...args] = process.argv.slice(2);
  switch (command) {
    case 'broker':
      await runBroker(args);
      break;
    case 'topics':
      await topicsCommand(args, print);
      break;
    case 'configs':
      await configsCommand(args, print);
      break;
    case 'consumer-groups':
      await consumerGroupsCommand(args, print);
      break;
    case 'broker-api-versions':
      await brokerApiVersionsCommand(args, print);
      break;
    case 'dump-log':
      await dumpLogCommand(args, print);
      break;
    case undefined:
    case '--help':
    case '-h':
      console.log(USAGE);
      break;
    default:
      throw new Error(`unknown command ${command}\n${USAGE}`);
  }
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`gregor: ${error.message}\n${USAGE}`);
  } else if (error instanceof BrokerConfigError || error instanceof ConfigError) {
    console.error(`gregor: configuration error: ${error.message}`);
  } else {
    console.error(`gregor: ${(error as Error).message}`);
  }
  process.exit(1);
});
