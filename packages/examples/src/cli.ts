/**
 * Strict command-line parsing for the demo, the bench and the campaigns: every flag is declared
 * with its values and a line of help, `--help` prints usage, and anything undeclared (an unknown
 * flag, a stray argument, a value outside the allowed list) is an error — a typo must not run the
 * default job silently. Built on node:util `parseArgs` in strict mode.
 */
import { parseArgs } from 'node:util';

export interface FlagSpec {
  /** Help text: one line. */
  readonly help: string;
  /** 'boolean' for a switch; otherwise the flag takes a value. */
  readonly type: 'boolean' | 'string';
  /** Allowed values of a string flag (anything else is an error); omit for free text. */
  readonly choices?: readonly string[];
  readonly default?: string | boolean;
  /** For free-text values: a check returning an error message, or undefined when fine. */
  readonly validate?: (value: string) => string | undefined;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type Parsed<S extends FlagSpecs> = {
  -readonly [K in keyof S]: S[K]['type'] extends 'boolean' ? boolean : string | undefined;
};

export type CommandLine<S extends FlagSpecs> =
  | { readonly help: true }
  | { readonly help: false; readonly flags: Parsed<S> };

/** A usage error: the message is for the person at the terminal (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseCommandLine<S extends FlagSpecs>(argv: readonly string[], specs: S): CommandLine<S> {
  const options: Record<string, { type: 'boolean' | 'string' }> = { help: { type: 'boolean' } };
  for (const [name, spec] of Object.entries(specs)) options[name] = { type: spec.type };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message.split('\n')[0]! : 'bad arguments');
  }
  if (values.help) return { help: true };
  const flags: Record<string, string | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const given = values[name] ?? spec.default;
    if (spec.type === 'string' && typeof given === 'string') {
      if (spec.choices && !spec.choices.includes(given)) {
        throw new UsageError(`--${name} expected one of ${spec.choices.join(', ')}, got "${given}"`);
      }
      const problem = spec.validate?.(given);
      if (problem) throw new UsageError(`--${name} ${problem}`);
    }
    flags[name] = spec.type === 'boolean' ? given === true : (given as string | undefined);
  }
  return { help: false, flags: flags as Parsed<S> };
}

export function usage(command: string, summary: string, specs: FlagSpecs): string {
  const lines = [`usage: ${command} [options]`, '', summary, '', 'options:'];
  const rows = Object.entries(specs).map(([name, spec]) => {
    const value = spec.type === 'boolean' ? '' : spec.choices ? `=${spec.choices.join('|')}` : '=VALUE';
    const fallback =
      spec.default !== undefined && spec.type === 'string' ? ` (default: ${spec.default})` : '';
    return [`--${name}${value}`, `${spec.help}${fallback}`] as const;
  });
  rows.push(['--help', 'print this help and exit']);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  for (const [flag, help] of rows) lines.push(`  ${flag.padEnd(width)}  ${help}`);
  return lines.join('\n');
}

/**
 * For a script's main: parse, print usage on --help (exit 0), print the problem and usage on a
 * usage error (exit 2); otherwise return the flags.
 */
export function commandLineOrExit<S extends FlagSpecs>(
  command: string,
  summary: string,
  specs: S,
  argv: readonly string[] = process.argv.slice(2),
): Parsed<S> {
  try {
    const parsed = parseCommandLine(argv, specs);
    if (parsed.help) {
      console.log(usage(command, summary, specs));
      process.exit(0);
    }
    return parsed.flags;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${command}: ${error.message}\n\n${usage(command, summary, specs)}`);
    process.exit(2);
  }
}

/** A validator for positive integers (`--rounds=3`). */
export function positiveInteger(value: string): string | undefined {
  return /^[1-9][0-9]{0,6}$/.test(value) ? undefined : `expected a positive integer, got "${value}"`;
}
