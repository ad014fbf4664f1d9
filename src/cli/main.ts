#!/usr/bin/env node
// gregor <command>: the broker and (later) its admin tools.
//
//   gregor broker [--config server.properties] [--override key=value ...]
import { BrokerConfigError } from '../config/broker-config.js';
import { ConfigError } from '../log/config.js';
import { Logger } from '../observability/logger.js';
import { startBroker } from '../server/broker.js';

const USAGE = `usage: gregor broker [--config server.properties] [--override key=value ...]`;

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
  if (error instanceof BrokerConfigError || error instanceof ConfigError) {
    console.error(`gregor: configuration error: ${error.message}`);
  } else {
    console.error(`gregor: ${(error as Error).message}`);
  }
  process.exit(1);
});
