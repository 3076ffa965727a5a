// The evaluation report for a validation binder: one self-contained HTML file (inline CSS and SVG,
// nothing fetched), every piece of text escaped.
import type { ClassificationMetrics, ConfusionMatrix, DetectionMetrics, PrecisionRecallCurve } from './metrics';

export interface EvalReport {
  /** The program and version that made the figures, e.g. "avi eval 0.1.0". */
  tool: string;
  /** ISO 8601 time the evaluation ran. */
  date: string;
  model: {
    name: string;
    path: string;
    sha256: string;
    task: 'detect' | 'classify';
    /** Output format as decoded (yolov8, ...) or "classifier". */
    format: string;
    inputWidth: number;
    inputHeight: number;
    executionProvider: string;
  };
  dataset: {
    path: string;
    format: string;
    splits: string[];
    images: number;
    /** Truth boxes (detection) or labelled images (classification). */
    objects: number;
    sha256: string;
  };
  /** Thresholds in force, by the names the CLI takes them under, with their values. */
  settings: Array<{ name: string; value: string; meaning: string }>;
  /** How dataset classes were matched to model classes, classes without truth, reader notes. */
  notes: string[];
  detection?: DetectionMetrics;
  classification?: ClassificationMetrics;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** A metric for people: 3 decimals, or an en dash where it does not exist. */
export function formatMetric(value: number | null): string {
  return value === null ? '–' : value.toFixed(3);
}

export function renderReport(report: EvalReport): string {
  const e = escapeHtml;
  const m = report.model;
  const d = report.dataset;
  const title = `Evaluation of ${m.name} on ${lastSegment(d.path)}`;
  const rows: Array<[string, string]> = [
    ['Date', report.date],
    ['Tool', report.tool],
    ['Model file', m.path],
    ['Model SHA-256', m.sha256],
    ['Model', `${m.task === 'detect' ? 'detector' : 'classifier'}, ${m.format}, input ${m.inputWidth} x ${m.inputHeight}, ${m.executionProvider}`],
    ['Dataset', d.path],
    ['Dataset SHA-256', d.sha256],
    ['Dataset read as', `${d.format}, split ${d.splits.join(' + ')}: ${d.images} images, ${d.objects} ${m.task === 'detect' ? 'labelled boxes' : 'labelled images'}`],
  ];
  const body = [
    `<h1>${e(title)}</h1>`,
    `<table class="facts">${rows.map(([k, v]) => `<tr><th>${e(k)}</th><td>${e(v)}</td></tr>`).join('')}</table>`,
    `<p class="small">Dataset SHA-256: the SHA-256 of the lines "&lt;SHA-256 of file&gt;  &lt;path relative to the dataset&gt;" of every file read (images and annotations), sorted by path, as <code>sha256sum</code> writes them.</p>`,
    '<h2>Thresholds</h2>',
    `<table class="facts">${report.settings.map((s) => `<tr><th>${e(s.name)}</th><td>${e(s.value)}</td><td>${e(s.meaning)}</td></tr>`).join('')}</table>`,
    report.detection ? detectionSection(report.detection) : '',
    report.classification ? classificationSection(report.classification) : '',
    report.notes.length ? `<h2>Notes</h2><ul>${report.notes.map((n) => `<li>${e(n)}</li>`).join('')}</ul>` : '',
  ].join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

const CSS = `
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d2733; margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 12px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #cfd6de; padding-bottom: 4px; }
table { border-collapse: collapse; } th, td { padding: 3px 10px; text-align: left; vertical-align: top; }
table.facts th { color: #4a5868; font-weight: 600; white-space: nowrap; } table.facts td { word-break: break-all; }
table.metrics th, table.metrics td { border-bottom: 1px solid #e3e8ee; } table.metrics td.n, table.metrics th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.metrics tr.all td { font-weight: 600; border-top: 2px solid #9aa6b2; } table.metrics tr.none td { color: #8a96a3; }
.summary { display: flex; gap: 28px; flex-wrap: wrap; margin: 8px 0 4px; } .summary div { font-size: 13px; color: #4a5868; } .summary b { display: block; font-size: 24px; color: #1d2733; }
.curves { display: flex; flex-wrap: wrap; gap: 10px; } .small { font-size: 12px; color: #4a5868; } code { font-size: 12px; }
svg text { font-family: inherit; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; } .curves svg, .matrix { page-break-inside: avoid; } }
`;

function detectionSection(m: DetectionMetrics): string {
  const f = formatMetric;
  const summary = [
    ['mAP@50', f(m.map50)],
    ['mAP@50:95', f(m.map50_95)],
    [`precision @ ${m.confidence}`, f(m.precision)],
    [`recall @ ${m.confidence}`, f(m.recall)],
    [`F1 @ ${m.confidence}`, f(m.f1)],
  ];
  const head = ['class', 'truth', 'predicted', 'TP', 'FP', 'FN', 'precision', 'recall', 'F1', 'AP@50', 'AP@50:95'];
  const rows = m.perClass.map((c) => {
    const cls = c.truth > 0 ? '' : ' class="none"';
    return `<tr${cls}><td>${escapeHtml(c.class)}</td>${[c.truth, c.predictions, c.tp, c.fp, c.fn].map(num).join('')}${[c.precision, c.recall, c.f1, c.ap50, c.ap50_95].map((v) => num(f(v))).join('')}</tr>`;
  });
  const all = `<tr class="all"><td>all (mean of classes with truth)</td>${[m.counts.truth, m.counts.predictions, m.counts.tp, m.counts.fp, m.counts.fn].map(num).join('')}${[m.precision, m.recall, m.f1, m.map50, m.map50_95].map((v) => num(f(v))).join('')}</tr>`;
  const curves = m.perClass
    .filter((c) => c.truth > 0)
    .map((c) => prCurveSvg(c.class, `AP@50 ${f(c.ap50)}`, m.curves[c.classId], `conf ${m.confidence}`));
  return [
    '<h2>Results</h2>',
    `<div class="summary">${summary.map(([k, v]) => `<div><b>${escapeHtml(v)}</b>${escapeHtml(k)}</div>`).join('')}</div>`,
    `<p class="small">AP: COCO 101-point interpolation; mAP@50:95 averages IoU 0.50, 0.55, ..., 0.95. Precision, recall and F1 at confidence ${m.confidence} and IoU 0.5; the "all" row averages them over classes with truth, and sums the counts over every class. Greyed classes have no truth boxes and are left out of the means.</p>`,
    '<h2>Per class</h2>',
    `<table class="metrics"><tr>${head.map((h, i) => `<th${i ? ' class="n"' : ''}>${h}</th>`).join('')}</tr>${rows.join('')}${all}</table>`,
    '<h2>Precision-recall curves (IoU 0.5)</h2>',
    `<p class="small">Interpolated precision at each recall, as AP@50 integrates it; the dot is the operating point at confidence ${m.confidence}.</p>`,
    `<div class="curves">${curves.join('') || '<p>No class has truth boxes.</p>'}</div>`,
    '<h2>Confusion matrix</h2>',
    `<p class="small">At confidence ${m.confidence} and IoU 0.5, each prediction (highest confidence first) takes the unmatched truth box of any class it overlaps most. Rows: truth; columns: predicted. "background" row: predictions with no truth box (false alarms); "background" column: truth boxes nothing found (misses). Shade: share of the row.</p>`,
    confusionSvg(m.confusion),
  ].join('\n');
}

function classificationSection(m: ClassificationMetrics): string {
  const f = formatMetric;
  const head = ['class', 'images', 'predicted', 'precision', 'recall', 'F1', 'AP (one-vs-rest)'];
  const rows = m.perClass.map((c) => {
    const cls = c.support > 0 ? '' : ' class="none"';
    return `<tr${cls}><td>${escapeHtml(c.class)}</td>${[c.support, c.predicted].map(num).join('')}${[c.precision, c.recall, c.f1, c.ap].map((v) => num(f(v))).join('')}</tr>`;
  });
  const curves = m.curves.length
    ? m.perClass.filter((c) => c.support > 0).map((c) => prCurveSvg(c.class, `AP ${f(c.ap)}`, m.curves[c.classId], 'top-1'))
    : [];
  return [
    '<h2>Results</h2>',
    `<div class="summary"><div><b>${f(m.accuracy)}</b>accuracy (top-1)</div></div>`,
    '<h2>Per class</h2>',
    `<table class="metrics"><tr>${head.map((h, i) => `<th${i ? ' class="n"' : ''}>${h}</th>`).join('')}</tr>${rows.join('')}</table>`,
    curves.length ? '<h2>Precision-recall curves (one class against the rest, by its score)</h2>' : '',
    curves.length ? `<p class="small">The dot is the top-1 decision's precision and recall for that class.</p><div class="curves">${curves.join('')}</div>` : '',
    '<h2>Confusion matrix</h2>',
    '<p class="small">Rows: true class; columns: predicted class. Shade: share of the row.</p>',
    confusionSvg(m.confusion),
  ].join('\n');
}

function num(value: number | string): string {
  return `<td class="n">${escapeHtml(String(value))}</td>`;
}

/** One class's precision-recall curve, recall on x and precision on y, both 0..1. */
function prCurveSvg(name: string, subtitle: string, curve: PrecisionRecallCurve & { at: { precision: number; recall: number } }, pointLabel: string): string {
  const W = 250;
  const H = 222;
  const L = 38;
  const T = 28;
  const S = 160; // plot side
  const x = (r: number) => (L + r * S).toFixed(1);
  const y = (p: number) => (T + (1 - p) * S).toFixed(1);
  // Step line through the interpolated points; it drops to 0 past the highest recall reached.
  const points = curve.recall.map((r, i) => `${x(r)},${y(curve.precision[i])}`).join(' ');
  const ticks = [0, 0.5, 1]
    .map(
      (t) =>
        `<line x1="${x(t)}" y1="${y(0)}" x2="${x(t)}" y2="${y(1)}" stroke="#e3e8ee"/><line x1="${x(0)}" y1="${y(t)}" x2="${x(1)}" y2="${y(t)}" stroke="#e3e8ee"/>` +
        `<text x="${x(t)}" y="${T + S + 13}" font-size="10" text-anchor="middle">${t}</text><text x="${L - 4}" y="${(Number(y(t)) + 3).toFixed(1)}" font-size="10" text-anchor="end">${t}</text>`,
    )
    .join('');
  return (
    `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(`precision-recall curve of ${name}`)}">` +
    `<title>${escapeHtml(`${name}: ${subtitle}`)}</title>` +
    `<text x="${L}" y="13" font-size="12" font-weight="600">${escapeHtml(shorten(name, 30))}</text>` +
    `<text x="${L}" y="25" font-size="10" fill="#4a5868">${escapeHtml(subtitle)}</text>` +
    ticks +
    `<rect x="${L}" y="${T}" width="${S}" height="${S}" fill="none" stroke="#9aa6b2"/>` +
    `<polyline points="${points}" fill="none" stroke="#1f5fa8" stroke-width="1.8"/>` +
    `<circle cx="${x(curve.at.recall)}" cy="${y(curve.at.precision)}" r="4" fill="#d9480f"><title>${escapeHtml(`${pointLabel}: precision ${formatMetric(curve.at.precision)}, recall ${formatMetric(curve.at.recall)}`)}</title></circle>` +
    `<text x="${L + S / 2}" y="${T + S + 28}" font-size="10" text-anchor="middle">recall</text>` +
    `<text x="10" y="${T + S / 2}" font-size="10" text-anchor="middle" transform="rotate(-90 10 ${T + S / 2})">precision</text>` +
    '</svg>'
  );
}

/** Heat map of a confusion matrix with the count in every cell, shaded by the share of its row. */
export function confusionSvg(c: ConfusionMatrix): string {
  const n = c.labels.length;
  const cell = Math.max(16, Math.min(48, Math.floor(640 / Math.max(n, 1))));
  const labelSpace = Math.min(160, 12 + 7 * Math.max(...c.labels.map((l) => Math.min(l.length, 22))));
  const fontSize = cell >= 28 ? 11 : 8;
  const left = labelSpace + 18;
  const top = labelSpace + 18;
  const size = n * cell;
  const parts: string[] = [];
  c.matrix.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, j) => {
      const share = total ? count / total : 0;
      const fill = shade(share);
      const cx = left + j * cell;
      const cy = top + i * cell;
      parts.push(
        `<rect x="${cx}" y="${cy}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ffffff"><title>${escapeHtml(`truth ${c.labels[i]}, predicted ${c.labels[j]}: ${count}`)}</title></rect>`,
      );
      if (count) {
        parts.push(
          `<text x="${cx + cell / 2}" y="${cy + cell / 2 + fontSize / 3}" font-size="${fontSize}" text-anchor="middle" fill="${share > 0.5 ? '#ffffff' : '#1d2733'}">${count}</text>`,
        );
      }
    });
  });
  c.labels.forEach((label, i) => {
    const text = escapeHtml(shorten(label, 22));
    parts.push(`<text x="${left - 4}" y="${top + i * cell + cell / 2 + 4}" font-size="11" text-anchor="end">${text}</text>`);
    const lx = left + i * cell + cell / 2 + 4;
    parts.push(`<text x="${lx}" y="${top - 4}" font-size="11" transform="rotate(-90 ${lx} ${top - 4})">${text}</text>`);
  });
  parts.push(`<text x="${left + size / 2}" y="12" font-size="11" text-anchor="middle" fill="#4a5868">predicted</text>`);
  parts.push(`<text x="12" y="${top + size / 2}" font-size="11" text-anchor="middle" fill="#4a5868" transform="rotate(-90 12 ${top + size / 2})">truth</text>`);
  const W = left + size + 8;
  const H = top + size + 8;
  return `<svg class="matrix" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="confusion matrix">${parts.join('')}</svg>`;
}

/** White to blue by share 0..1. */
function shade(share: number): string {
  const from = [255, 255, 255];
  const to = [31, 95, 168];
  const rgb = from.map((f, k) => Math.round(f + (to[k] - f) * share));
  return `rgb(${rgb.join(',')})`;
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function lastSegment(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? p;
}
