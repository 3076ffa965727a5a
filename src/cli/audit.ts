// `avi audit verify | export | dataset`: check a record store's chains, write records as CSV and a readable
// HTML report, and write reviewed frames as a labelled dataset.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChainReport, ChainedRecord } from '../core/records/chain';
import { planDataset, writeDataset } from '../core/records/dataset-export';
import { auditCsv, auditHtml } from '../core/records/export';
import { openStore, verifyStore, type AuditStore, type RecordFilter } from '../core/records/store';
import { parse, UsageError, type Command } from './main';

const usage = `avi audit verify STORE [--chain C] [--json]
avi audit export STORE [--from ISO] [--to ISO] [--batch B] [--chain C] [--csv FILE] [--html FILE]
avi audit dataset STORE --out DIR [--images DIR] [--format yolo|coco|both] [--from ISO] [--to ISO] [--batch B]
  STORE: a SQLite file (avi-records/records.sqlite in the Node-RED user directory) or a postgres:// URL`;

const filterOptions = {
  from: { type: 'string' },
  to: { type: 'string' },
  batch: { type: 'string' },
  chain: { type: 'string' },
} as const;

function storeArg(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError(`name one store (a SQLite file or a postgres:// URL)\nusage: ${usage}`);
  return positionals[0];
}

async function withStore<T>(location: string, work: (store: AuditStore) => Promise<T>): Promise<T> {
  const store = await openStore(location, { readonly: true });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

function filterOf(values: Record<string, unknown>): RecordFilter {
  const time = (v: unknown, what: string) => {
    if (v === undefined) return undefined;
    const t = new Date(String(v));
    if (Number.isNaN(t.getTime())) throw new UsageError(`--${what} must be a date or time (ISO 8601), got ${v}`);
    return t.toISOString();
  };
  return { from: time(values.from, 'from'), to: time(values.to, 'to'), batch: values.batch as string | undefined, chain: values.chain as string | undefined };
}

export function describeReport(r: ChainReport): string {
  if (!r.breaks.length) return `chain ${r.chain}: ${r.records} records, #1..#${r.lastSeq}, intact; head ${r.head}`;
  const [first, ...rest] = r.breaks;
  return `chain ${r.chain}: BROKEN at ${first.message}${rest.length ? `\n  and ${rest.length} more: ${rest.slice(0, 5).map((b) => b.message).join('\n  ')}` : ''}`;
}

async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { chain: { type: 'string' }, json: { type: 'boolean' } });
  const reports = await withStore(storeArg(positionals), (store) => verifyStore(store, values.chain ? [String(values.chain)] : undefined));
  if (values.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
  else {
    if (!reports.length) process.stdout.write('no records\n');
    for (const r of reports) process.stdout.write(`${describeReport(r)}\n`);
  }
  return reports.some((r) => r.breaks.length) ? 1 : 0;
}

async function exportRecords(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...filterOptions, csv: { type: 'string' }, html: { type: 'string' } });
  if (!values.csv && !values.html) throw new UsageError('say where: --csv FILE and/or --html FILE');
  const filter = filterOf(values);
  const location = storeArg(positionals);
  const { records, reports } = await withStore(location, async (store) => ({ records: await store.records(filter), reports: await verifyStore(store, filter.chain ? [filter.chain] : undefined) }));
  if (values.csv) writeFileSync(String(values.csv), auditCsv(records));
  if (values.html) writeFileSync(String(values.html), auditHtml(records, { store: location.replace(/:[^:@/]*@/, ':***@'), filter, reports }));
  process.stdout.write(`${records.length} records written${values.csv ? ` to ${values.csv}` : ''}${values.html ? `${values.csv ? ' and' : ' to'} ${values.html}` : ''}\n`);
  for (const r of reports) if (r.breaks.length) process.stdout.write(`warning: ${describeReport(r)}\n`);
  return 0;
}

async function dataset(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...filterOptions, out: { type: 'string' }, images: { type: 'string' }, format: { type: 'string' } });
  const location = storeArg(positionals);
  if (!values.out) throw new UsageError('say where: --out DIR');
  const format = String(values.format ?? 'both');
  if (!['yolo', 'coco', 'both'].includes(format)) throw new UsageError(`--format is yolo, coco or both, got ${format}`);
  const imageDir = values.images ? String(values.images) : /^postgres/i.test(location) ? undefined : path.join(path.dirname(path.resolve(location)), 'images');
  if (!imageDir) throw new UsageError('a PostgreSQL store needs --images DIR (the gateway\'s avi-records/images folder)');
  const plan = await withStore(location, async (store) => {
    const reviews = await store.records({ ...filterOf(values), kind: 'review' });
    const verdicts = new Map<string, ChainedRecord>();
    for (const r of reviews) {
      const id = (r.body as { verdictRecord: { id: string } }).verdictRecord.id;
      const v = await store.find(id);
      if (v) verdicts.set(id, v);
    }
    return planDataset(reviews, (id) => verdicts.get(id));
  });
  const formats = format === 'both' ? (['yolo', 'coco'] as const) : ([format] as Array<'yolo' | 'coco'>);
  const { written, skipped } = writeDataset(plan, imageDir, String(values.out), [...formats]);
  process.stdout.write(`${written} reviewed frames, ${plan.classNames.length} classes (${plan.classNames.join(', ')}) written to ${values.out}\n`);
  for (const s of skipped) process.stdout.write(`skipped: ${s}\n`);
  return 0;
}

export const auditCommand: Command = {
  summary: 'verify a record store\'s hash chains, export records (CSV, HTML) or reviewed frames (YOLO, COCO)',
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'verify') return verify(rest);
    if (sub === 'export') return exportRecords(rest);
    if (sub === 'dataset') return dataset(rest);
    throw new UsageError(`avi audit verify | export | dataset\nusage: ${usage}`);
  },
};
