// Command-line flags in the style of Kafka's tools: `--name value`, repeatable
// flags collected in order, and boolean switches.

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface ParsedArgs {
  /** Last value of each flag. */
  get(name: string): string | undefined;
  /** Every value of a repeatable flag. */
  all(name: string): string[];
  has(name: string): boolean;
  require(name: string): string;
}

export function parseArgs(args: string[], switches: readonly string[], valued: readonly string[]): ParsedArgs {
  const values = new Map<string, string[]>();
  const present = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = arg.replace(/^--/, '');
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    if (switches.includes(name)) {
      present.add(name);
    } else if (valued.includes(name)) {
      const value = args[++i];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      present.add(name);
      values.set(name, [...(values.get(name) ?? []), value]);
    } else {
      throw new UsageError(`unknown option ${arg}`);
    }
  }
  return {
    get: (name) => values.get(name)?.at(-1),
    all: (name) => values.get(name) ?? [],
    has: (name) => present.has(name),
    require(name) {
      const value = values.get(name)?.at(-1);
      if (value === undefined) throw new UsageError(`--${name} is required`);
      return value;
    },
  };
}

/**
 * Parses `k=v` pairs given as repeated flags or comma-separated lists. A
 * comma starts a new pair only when a `key=` follows it, so list values
 * pass whole (`cleanup.policy=compact,delete`), as do Kafka's bracketed
 * lists (`k=[a,b]`).
 */
export function parseConfigPairs(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items.flatMap((s) => s.split(/,(?=[^,=[\]]+=)/))) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected key=value, got ${JSON.stringify(item)}`);
    const value = item.slice(eq + 1).trim();
    out[item.slice(0, eq).trim()] = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  }
  return out;
}
