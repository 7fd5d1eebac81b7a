/**
 * Command-line plumbing shared by the services: `--flag value` parsing with one readable line
 * for every mistake, `HOST:PORT` listen addresses, and a `main` wrapper that turns any error into
 * that one line and a non-zero exit (never a stack trace).
 */

/** A command line the service cannot use; printed as one line, exit code 2. */
export class UsageError extends Error {}

export interface ParsedArgs {
  /** The value of each `--flag value` (and `--flag=value`); booleans map to "true". */
  flags: Map<string, string>;
  positionals: string[];
}

/**
 * Parses `args` against the flags a command knows: `valued` take a value, `booleans` do not.
 * Unknown flags, missing values and repeated flags are UsageErrors.
 */
export function parseArgs(args: string[], valued: string[], booleans: string[] = []): ParsedArgs {
  const flags = new Map<string, string>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (flags.has(name)) throw new UsageError(`--${name} is given twice`);
    if (booleans.includes(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, "true");
    } else if (valued.includes(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined || (eq < 0 && value.startsWith("--"))) {
        throw new UsageError(`--${name} needs a value`);
      }
      flags.set(name, value);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { flags, positionals };
}

/**
 * A server command line: `--listen HOST:PORT` plus `valued` flags, no positional arguments.
 * Returns the parsed flags and the listen address.
 */
export function parseServerArgs(
  args: string[],
  valued: string[],
  usage: string,
): { p: ParsedArgs; listen: { hostname: string; port: number } } {
  const p = parseArgs(args, ["listen", ...valued]);
  if (p.positionals.length > 0) {
    throw new UsageError(`unexpected argument "${p.positionals[0]}"; ${usage}`);
  }
  return { p, listen: parseListen(required(p, "listen")) };
}

/** The value of a required flag. */
export function required(parsed: ParsedArgs, name: string): string {
  const v = parsed.flags.get(name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

/**
 * A flag's value as a decimal integer in `min..max`, or `fallback` when absent ("", "0x10", "1e2"
 * and " 5" are refused, which Number() would read as 0, 16, 100 and 5).
 */
export function integerOption(
  flag: string,
  value: string | undefined,
  fallback: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    throw new UsageError(
      min === 1 && max === Number.MAX_SAFE_INTEGER
        ? `${flag} must be a positive integer, not "${value}"`
        : `${flag} must be an integer ${min}..${max}, not "${value}"`,
    );
  }
  return n;
}

/** A positive integer flag with a default, at most `max`. */
export function intFlag(
  parsed: ParsedArgs,
  name: string,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  return integerOption(`--${name}`, parsed.flags.get(name), fallback, 1, max);
}

/** The longest delay setTimeout keeps (ms): a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `HOST:PORT` (IPv6 as `[::1]:PORT`); port 0 asks the system for a free one. */
export function parseListen(value: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError(`--listen must be HOST:PORT (e.g. 127.0.0.1:8080), not "${value}"`);
  }
  return { hostname: m[1] ?? m[2], port };
}

/** The URL a server listening at `hostname`:`port` is reached at (IPv6 in brackets). */
export function listenUrl({ hostname, port }: { hostname: string; port: number }): string {
  return `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/** Reads a file for a flag, with a one-line error naming the flag and the file. */
export function readFlagFile(flag: string, path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    throw new UsageError(`--${flag} ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

/** Runs a CLI: its result is the exit code; any error prints one line on stderr. */
export async function runMain(name: string, main: () => Promise<number | void>): Promise<never> {
  let code: number;
  try {
    code = (await main()) ?? 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    console.error(`${name}: ${message.split("\n")[0]}`);
    code = e instanceof UsageError ? 2 : 1;
  }
  Deno.exit(code);
}
