// `avi`: the command line on the same core as the nodes. Each subcommand lives in its own file.
import { parseArgs, type ParseArgsConfig } from 'node:util';

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
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true }) as ParsedArgs;
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
}
