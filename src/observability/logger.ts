// Structured logs with levels: one line per event, `time level message
// key=value ...`, on stderr. The level comes from GREGOR_LOG_LEVEL (error,
// warn, info, debug; default info).

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

function formatValue(value: unknown): string {
  const text = typeof value === 'string' ? value : value instanceof Error ? value.message : JSON.stringify(value);
  return /[\s"=]/.test(text) ? JSON.stringify(text) : text;
}

export class Logger {
  constructor(
    readonly level: LogLevel = (process.env.GREGOR_LOG_LEVEL as LogLevel | undefined) ?? 'info',
    private readonly write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
    private readonly context: Record<string, unknown> = {},
  ) {
    if (!(level in RANK)) this.level = 'info';
  }

  child(context: Record<string, unknown>): Logger {
    return new Logger(this.level, this.write, { ...this.context, ...context });
  }

  log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
    if (RANK[level] > RANK[this.level]) return;
    const all = { ...this.context, ...fields };
    const tail = Object.entries(all)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}=${formatValue(v)}`)
      .join('');
    this.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${tail}`);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.log('error', message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.log('warn', message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.log('info', message, fields);
  }
  debug(message: string, fields?: Record<string, unknown>): void {
    this.log('debug', message, fields);
  }
}
