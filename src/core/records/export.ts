// Records as an auditor reads them: CSV (one row a record) and a self-contained HTML report with every
// record and every signature with the signer's printed name, the time and the meaning (21 CFR 11.50).
import type { ChainReport, ChainedRecord } from './chain';
import type { ReviewBody } from './signature';
import type { RecordFilter } from './store';
import type { UnitRecord } from './verdict-record';

interface Body {
  line?: string;
  cell?: string;
  partId?: string;
  batch?: string;
  recipe?: unknown;
  result?: string;
  reasons?: string[];
  frame?: { sha256?: string; file?: string; bytes?: number };
  units?: UnitRecord[];
  models?: Record<string, { name?: string; sha256?: string }>;
  rulesHash?: string;
  reason?: string;
}

const CSV_COLUMNS = [
  'chain', 'seq', 'time', 'kind', 'record_id', 'line', 'cell', 'part_id', 'batch', 'recipe', 'result', 'reasons', 'units',
  'frame_sha256', 'detector_sha256', 'classifier_sha256', 'rules_sha256', 'decides_record', 'signer_id', 'signer_name',
  'signed_time', 'signature_meaning', 'review_reason', 'prev_hash', 'hash',
];

function csvCell(value: unknown): string {
  const text = value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function unitsText(units: UnitRecord[] | undefined): string {
  return (units ?? []).map((u) => `#${u.detectionId} ${u.class} ${u.confidence?.toFixed(2)} ${u.result}`).join('; ');
}

function reviewUnitsText(review: ReviewBody): string {
  return review.decision.units.map((u) => `#${u.detectionId} ${u.machineClass}->${u.class} ${u.result}${u.reason ? ` (${u.reason})` : ''}`).join('; ');
}

function fields(r: ChainedRecord): Record<string, unknown> {
  const b = r.body as Body;
  const review = r.kind === 'review' ? (r.body as unknown as ReviewBody) : undefined;
  const recipe = typeof b.recipe === 'object' && b.recipe ? (b.recipe as { name?: string }).name ?? b.recipe : b.recipe;
  return {
    chain: r.chain,
    seq: r.seq,
    time: r.time,
    kind: r.kind,
    record_id: r.id,
    line: b.line,
    cell: b.cell,
    part_id: b.partId,
    batch: b.batch,
    recipe,
    result: review ? review.decision.result : b.result,
    reasons: review ? undefined : (b.reasons ?? (b.reason ? [b.reason] : undefined))?.join('; '),
    units: review ? reviewUnitsText(review) : unitsText(b.units),
    frame_sha256: b.frame?.sha256,
    detector_sha256: b.models?.detector?.sha256,
    classifier_sha256: b.models?.classifier?.sha256,
    rules_sha256: b.rulesHash,
    decides_record: review ? `${review.verdictRecord.chain}#${review.verdictRecord.seq}` : undefined,
    signer_id: review?.signature.userId,
    signer_name: review?.signature.printedName,
    signed_time: review?.signature.time,
    signature_meaning: review?.signature.meaning,
    review_reason: review?.decision.reason,
    prev_hash: r.prevHash,
    hash: r.hash,
  };
}

export function auditCsv(records: ChainedRecord[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of records) {
    const f = fields(r);
    lines.push(CSV_COLUMNS.map((c) => csvCell(f[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function esc(value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function auditHtml(records: ChainedRecord[], context: { store: string; filter: RecordFilter; reports: ChainReport[]; now?: Date }): string {
  const scope = [context.filter.from && `from ${context.filter.from}`, context.filter.to && `to ${context.filter.to}`, context.filter.batch && `batch ${context.filter.batch}`, context.filter.chain && `chain ${context.filter.chain}`]
    .filter(Boolean)
    .join(', ') || 'all records';
  const chains = context.reports
    .map((r) => `<li class="${r.breaks.length ? 'bad' : 'ok'}">chain <b>${esc(r.chain)}</b>: ${r.records} records, ${r.breaks.length ? `BROKEN at ${esc(r.breaks[0].message)}` : `hash chain intact, head <code>${esc(r.head)}</code>`}</li>`)
    .join('');
  const rows = records
    .map((r) => {
      const f = fields(r);
      const review = r.kind === 'review' ? (r.body as unknown as ReviewBody) : undefined;
      const signature = review
        ? `<div class="sig"><b>Signed by ${esc(review.signature.printedName)}</b> (user ID ${esc(review.signature.userId)}, ${esc(review.signature.role)})<br>
           on ${esc(review.signature.time)} (UTC)<br>Meaning: ${esc(review.signature.meaning)}<br>
           Decision: ${esc(review.decision.result)}: ${esc(review.decision.reason)}<br>Units: ${esc(reviewUnitsText(review))}<br>
           Decides machine verdict ${esc(f.decides_record)}; signature components: ${esc(review.signature.components)}; signed content SHA-256 <code>${esc(review.signature.signedHash)}</code></div>`
        : '';
      return `<tr class="${esc(r.kind)}"><td>${esc(r.chain)}#${r.seq}</td><td>${esc(r.time)}</td><td>${esc(r.kind)}</td><td>${esc(f.line)} ${esc(f.cell)}<br>${esc(f.part_id)} ${esc(f.batch)}</td>
        <td class="res-${esc(f.result)}">${esc(f.result)}</td><td>${esc(f.units)}${f.reasons ? `<br><small>${esc(f.reasons)}</small>` : ''}${signature}</td>
        <td><small>frame ${esc(String(f.frame_sha256 ?? '').slice(0, 16))}<br>det ${esc(String(f.detector_sha256 ?? '').slice(0, 16))}<br>cls ${esc(String(f.classifier_sha256 ?? '').slice(0, 16))}<br>rules ${esc(String(f.rules_sha256 ?? '').slice(0, 16))}</small></td>
        <td><small><code>${esc(r.hash.slice(0, 16))}</code></small></td></tr>`;
    })
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>AVI audit report</title><style>
body{font:13px system-ui,sans-serif;margin:24px;color:#222} table{border-collapse:collapse;width:100%} td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#eee} .review{background:#f5f9ff} .sig{margin-top:6px;padding:6px;border-left:3px solid #2a6cc4;background:#fff} .bad{color:#b00020;font-weight:bold} .ok{color:#176b2c}
.res-FAIL{color:#b00020;font-weight:bold} .res-REVIEW{color:#a86b00;font-weight:bold} .res-PASS{color:#176b2c} code{font-size:11px}
</style></head><body><h1>AVI audit report</h1>
<p>Store: ${esc(context.store)}<br>Scope: ${esc(scope)}<br>Records: ${records.length}<br>Generated: ${esc((context.now ?? new Date()).toISOString())} (UTC)</p>
<h2>Chain verification</h2><ul>${chains}</ul>
<h2>Records</h2><table><thead><tr><th>record</th><th>time (UTC)</th><th>kind</th><th>line / cell / part / batch</th><th>result</th><th>units, reasons, signatures</th><th>SHA-256 of frame, models, rules</th><th>hash</th></tr></thead>
<tbody>${rows}</tbody></table></body></html>
`;
}
