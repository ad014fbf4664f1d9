// A single-node broker: configuration, the log directory (meta.properties,
// topics, partition logs), the native network layer and the request router.
// startBroker() runs one inside the calling process; `gregor broker` (and
// `npm start`) runs one as a program.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { loadBrokerConfig, type BrokerConfig } from '../config/broker-config.js';
import { parseProperties } from '../config/properties.js';
import { TopicStore } from '../cluster/topic-store.js';
import { LogManager } from '../log/log-manager.js';
import { Logger } from '../observability/logger.js';
import { RequestMetrics, type ApiMetricsSnapshot } from '../observability/metrics.js';
import { BrokerState } from './broker-state.js';
import { GroupCoordinator } from '../groups/group-coordinator.js';
import { NetServer } from './native-net.js';
import { RequestRouter } from './request-router.js';

export interface StartBrokerOptions {
  /** A server.properties file. */
  configFile?: string;
  /** Kafka broker keys, applied over the file (like --override key=value). */
  overrides?: Record<string, string | number | boolean>;
  logger?: Logger;
}

export interface RunningBroker {
  readonly host: string;
  /** The bound port (useful with listeners=PLAINTEXT://127.0.0.1:0). */
  readonly port: number;
  /** host:port for clients' bootstrap.servers. */
  readonly bootstrapServers: string;
  /** The effective configuration (static plus dynamic broker configs). */
  readonly config: BrokerConfig;
  metrics(): ApiMetricsSnapshot[];
  /** Clean shutdown: stop accepting, answer in-flight requests, flush, checkpoint, write the clean-shutdown marker. */
  stop(): Promise<void>;
}

const META_PROPERTIES = 'meta.properties';

/** Reads or creates meta.properties; returns the cluster id. */
async function loadMeta(dir: string, nodeId: number, write: (path: string, contents: Buffer) => Promise<void>): Promise<string> {
  const path = join(dir, META_PROPERTIES);
  try {
    const meta = parseProperties(await readFile(path, 'utf8'));
    const storedNode = meta.get('node.id') ?? meta.get('broker.id');
    if (storedNode !== undefined && Number(storedNode) !== nodeId) {
      throw new Error(`${path} belongs to node ${storedNode}, but this broker is configured as node.id=${nodeId}`);
    }
    const clusterId = meta.get('cluster.id');
    if (clusterId) return clusterId;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const clusterId = randomBytes(16).toString('base64url');
  await write(path, Buffer.from(`#\n#Written by Gregor\ncluster.id=${clusterId}\nnode.id=${nodeId}\nversion=1\n`));
  return clusterId;
}

export async function startBroker(options: StartBrokerOptions = {}): Promise<RunningBroker> {
  const logger = options.logger ?? new Logger();
  const config = await loadBrokerConfig({ configFile: options.configFile, overrides: options.overrides });
  for (const warning of config.warnings) logger.warn(warning);
  const logDir = resolve(config.logDirs[0]!);
  await mkdir(logDir, { recursive: true });
  const logs = await LogManager.open(logDir, {
    ioThreads: config.ioThreads,
    defaultConfig: config.topicDefaults,
    checkpointIntervalMs: config.checkpointIntervalMs,
    retentionCheckIntervalMs: config.retentionCheckIntervalMs,
    cleaner: config.cleaner,
    onClean: (log, result) =>
      logger.info('Compacted log', {
        log: log.name,
        segments: result.segmentsSwapped,
        bytesRead: result.bytesRead,
        bytesWritten: result.bytesWritten,
        recordsKept: result.recordsKept,
        recordsRead: result.recordsRead,
        tombstonesRemoved: result.tombstonesRemoved,
        dirtyRatio: Number(result.dirtyRatio.toFixed(3)),
        firstDirtyOffset: result.firstUncleanableOffset,
      }),
    onRetention: (log, result) =>
      logger.info('Deleted log segments past retention', {
        log: log.name,
        segments: result.deletedSegments,
        bytes: result.deletedBytes,
        bySize: result.bySize,
        byTime: result.byTime,
        belowLogStartOffset: result.belowLogStartOffset,
        logStartOffset: log.logStartOffset,
      }),
  });
  try {
    const write = (path: string, contents: Buffer) => logs.writeFileAtomic(path, contents);
    const clusterId = await loadMeta(logDir, config.nodeId, write);
    const topics = await TopicStore.open(logDir, write);
    const state = new BrokerState(config, logs, topics, clusterId, write);
    // Dynamic broker configs (AlterConfigs on a BROKER resource) apply over the static ones.
    await state.loadDynamicConfigs();
    await state.openAll();
    const groups = new GroupCoordinator(state, logger);
    state.groups = groups;

    const metrics = new RequestMetrics();
    const listener = config.listeners[0]!;
    let router: RequestRouter | undefined;
    const net = new NetServer(
      {
        host: listener.host,
        port: listener.port,
        networkThreads: config.networkThreads,
        requestMaxBytes: config.socketRequestMaxBytes,
        queuedMaxRequests: config.queuedMaxRequests,
        connectionsMaxIdleMs: config.connectionsMaxIdleMs,
        sendBufferBytes: config.socketSendBufferBytes,
        receiveBufferBytes: config.socketReceiveBufferBytes,
      },
      (events) => router!.onEvents(events),
    );
    router = new RequestRouter(state, net, logger, metrics);
    const address = await net.listen();
    // Group requests answer COORDINATOR_LOAD_IN_PROGRESS until the groups are read back.
    try {
      await groups.load();
    } catch (error) {
      groups.shutdown();
      await net.stop();
      throw error;
    }
    // With port 0 the advertised address follows the bound port.
    const advertised = config.advertisedListeners[0]!;
    if (advertised.port === 0) advertised.port = address.port;
    logger.info('Gregor broker started', {
      nodeId: config.nodeId,
      listener: `${listener.name}://${address.host}:${address.port}`,
      logDir,
      topics: topics.all().length,
      recoveredCleanly: logs.previousShutdownClean,
    });

    let stopping: Promise<void> | undefined;
    return {
      host: advertised.host,
      port: address.port,
      bootstrapServers: `${advertised.host}:${address.port}`,
      get config() {
        return state.config;
      },
      metrics: () => metrics.snapshot(),
      stop() {
        stopping ??= (async () => {
          logger.info('Gregor broker shutting down');
          // Stop reading new requests first, answer what is in flight, then close.
          const netStopped = net.stop();
          // JoinGroup/SyncGroup requests waiting on a rebalance are answered NOT_COORDINATOR.
          groups.shutdown();
          await router!.drain();
          await netStopped;
          await logs.close();
          logger.info('Gregor broker stopped cleanly');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await logs.close().catch(() => undefined);
    throw error;
  }
}
