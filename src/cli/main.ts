// `avi`: the command line on the same core as the nodes. Each subcommand lives in its own file.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { COLOUR_PROFILES, type ColourProfile } from '../core/image/image';

export interface Command {
  summary: string;
  usage: string;
  /** Returns the exit status; throws for a one-line error. */
  run(args: string[]): Promise<number>;
}

/** Subcommands by name; each file registers itself here. */
const commands: Record<string, () => Command> = {
  detect: () => require('./detect').detectCommand,
  classify: () => require('./detect').classifyCommand,
  synth: () => require('./synth').synthCommand,
  eval: () => require('./eval').evalCommand,
  audit: () => require('./audit').auditCommand,
  users: () => require('./users').usersCommand,
};

export class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(helpText());
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) throw new UsageError(`unknown command "${name}"; try: ${Object.keys(commands).join(', ')}`);
  const command = load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`usage: ${command.usage}\n`);
    return 0;
  }
  return command.run(rest);
}

function helpText(): string {
  const lines = Object.entries(commands).map(([name, load]) => {
    try {
      return `  ${name.padEnd(10)}${load().summary}`;
    } catch {
      return `  ${name}`;
    }
  });
  return `avi: automated visual inspection from the command line\n\ncommands:\n${lines.join('\n')}\n\navi COMMAND --help for its options\n`;
}

/** parseArgs with strict options; unknown flags become a UsageError with one clear line. */
export interface ParsedArgs {
  values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  positionals: string[];
}

export function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>): ParsedArgs {
  // parseArgs reads "--conf -1" as two options ("ambiguous"); a negative number after an option that takes a
  // value is that value, so that the range check can say what is wrong with it.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = /^--([^=]+)$/.exec(args[i])?.[1];
    if (name && options[name]?.type === 'string' && /^-\d|^-\.\d/.test(args[i + 1] ?? '')) joined.push(`${args[i]}=${args[++i]}`);
    else joined.push(args[i]);
  }
  try {
    return parseArgs({ args: joined, options, allowPositionals: true, strict: true }) as ParsedArgs;
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
}

/** --colour-profile: whether a decode applies the image's embedded ICC profile (as avi-model's setting). */
export function colourProfile(value: unknown): ColourProfile {
  if (value === undefined) return 'ignore';
  if (!COLOUR_PROFILES.includes(value as ColourProfile)) throw new UsageError(`--colour-profile must be ${COLOUR_PROFILES.join(' or ')}, got "${value}"`);
  return value as ColourProfile;
}

/** A number option from 0 to 1 (--conf, --iou); absent gives the fallback. */
export function unitInterval(name: string, text: unknown, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (typeof text !== 'string' || text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new UsageError(`${name} must be a number from 0 to 1, got "${text}"`);
  }
  return value;
}
