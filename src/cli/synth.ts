// `avi synth`: writes a synthetic pill-line dataset (docs/synth.md).
import { CONDITIONS, writeDataset } from '../core/synth/synth';
import { parse, UsageError, type Command } from './main';

export const synthCommand: Command = {
  summary: 'write a synthetic pill-line dataset: YOLO + COCO for detection, crops per condition for classification',
  usage:
    'avi synth --out DIR [--frames 100] [--seed 1] [--width 640] [--height 480] [--val-fraction 0.2] ' +
    '[--defect-rate 0.4] [--min-length 35] [--max-length 80] [--overwrite]',
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parse(args, {
      out: { type: 'string' },
      frames: { type: 'string' },
      seed: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      'val-fraction': { type: 'string' },
      'defect-rate': { type: 'string' },
      'min-length': { type: 'string' },
      'max-length': { type: 'string' },
      overwrite: { type: 'boolean' },
    });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"; usage: ${synthCommand.usage}`);
    const out = values.out;
    if (typeof out !== 'string' || !out) throw new UsageError(`--out DIR is required; usage: ${synthCommand.usage}`);
    const summary = await writeDataset({
      out,
      frames: option(values.frames, 'frames', 100),
      seed: option(values.seed, 'seed', 1),
      width: option(values.width, 'width', undefined),
      height: option(values.height, 'height', undefined),
      valFraction: option(values['val-fraction'], 'val-fraction', undefined),
      defectRate: option(values['defect-rate'], 'defect-rate', undefined),
      minLength: option(values['min-length'], 'min-length', undefined),
      maxLength: option(values['max-length'], 'max-length', undefined),
      overwrite: values.overwrite === true,
    });
    const perClass = CONDITIONS.map((c) => `${c} ${summary.byCondition[c]}`).join(', ');
    process.stdout.write(
      `avi synth: ${summary.frames} frames (${summary.train} train, ${summary.val} val), ${summary.units} units ` +
        `(${perClass}; ${summary.truncated} cut by the frame edge, detection only) -> ${summary.out}\n`,
    );
    return 0;
  },
};

/** A numeric option: absent gives the fallback; anything but a number is a usage error naming the flag. */
function option<T extends number | undefined>(text: unknown, name: string, fallback: T): number | T {
  if (text === undefined) return fallback;
  if (typeof text !== 'string') throw new UsageError(`--${name} takes one number`);
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got "${text}"`);
  return value;
}
