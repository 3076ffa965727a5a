// Average run lengths of avi-spc's rules, by seeded simulation through the node's own core (docs/spc.md quotes these).
// Run: npx tsc -p tsconfig.json && node dist/bench/spc-arl.js [runs] [p0] [n]   (defaults 2000, 0.01, 500)
import { binomialTable, upperQuantile } from '../src/core/spc/binomial';
import { Random, binomialSampler } from '../src/core/synth/random';
import { addCounts, checkSettings, createState, RuleName, SpcSettings, ZONE_TAILS } from '../src/core/spc/spc';

const runs = Number(process.argv[2] ?? 2000);
const P0 = Number(process.argv[3] ?? 0.01);
const N = Number(process.argv[4] ?? 500);
const NONE: Record<RuleName, boolean> = { we1: false, we2: false, we3: false, we4: false, trend: false, ewma: false, cusum: false };

/** Subgroups until the first point with a violation, the rate p from the first subgroup on (zero state). */
function runLength(settings: SpcSettings, p: number, rng: Random, cap: number): number {
  const draw = binomialSampler(N, p);
  const state = createState(settings);
  for (let i = 1; i <= cap; i++) {
    const { points } = addCounts(state, settings, 'line', { inspected: N, defective: draw(rng), byClass: {} }, i);
    if (points[0].violations.length > 0) return i;
  }
  return cap;
}

/** Runs that reach CAP subgroups without a signal are counted as CAP, so a mean near CAP means "hardly ever". */
const CAP = 20000;

function arl(settings: SpcSettings, p: number, count: number, seed: number): { mean: number; median: number; se: number } {
  const rng = new Random(seed);
  const lengths = Array.from({ length: count }, () => runLength(settings, p, rng, CAP)).sort((a, b) => a - b);
  const mean = lengths.reduce((a, b) => a + b, 0) / count;
  const sd = Math.sqrt(lengths.reduce((a, b) => a + (b - mean) ** 2, 0) / (count - 1));
  return { mean, median: lengths[Math.floor(count / 2)], se: sd / Math.sqrt(count) };
}

const table = binomialTable(N, P0);
const c = upperQuantile(table, ZONE_TAILS[2]);
const tail = (k: number): number => table.pmf.reduce((a, q, i) => a + (table.lo + i > k ? q : 0), 0);
const sigmaC = Math.floor(N * P0 + 3 * Math.sqrt(N * P0 * (1 - P0)));
console.log(`rule we1 at p0 ${P0}, n ${N}: probability limit count ${c}, P(X > ${c}) = ${tail(c).toExponential(3)} (1 in ${(1 / tail(c)).toFixed(0)}); ` +
  `3-sigma count ${sigmaC}, P(X > ${sigmaC}) = ${tail(sigmaC).toExponential(3)} (1 in ${(1 / tail(sigmaC)).toFixed(0)})`);

const target = { targetRate: P0, subgroupSize: N };
const shifted = [1, 1.25, 1.5, 2, 3, 8].map((f) => f * P0);
// p = 0 is an inspection that stopped seeing defects; we1 alone has no lower limit at n p = 5 and never sees it.
const configs: Array<[string, Partial<SpcSettings>, number[]]> = [
  ['defaults (we1 + cusum)', {}, [...shifted, 0]],
  ['cusum alone', { rules: { ...NONE, cusum: true } }, [...shifted, 0]],
  ['ewma alone', { rules: { ...NONE, ewma: true } }, [...shifted, 0]],
  ['we1 alone', { rules: { ...NONE, we1: true } }, shifted],
  ['we1-we4 + trend', { rules: { ...NONE, we1: true, we2: true, we3: true, we4: true, trend: true } }, [...shifted, 0]],
  ['all rules', { rules: { we1: true, we2: true, we3: true, we4: true, trend: true, ewma: true, cusum: true } }, [...shifted, 0]],
];
for (const [name, extra, rates] of configs) {
  const settings = checkSettings({ ...target, ...extra });
  const line = rates.map((p, i) => {
    const t0 = Date.now();
    const r = arl(settings, p, p === P0 ? Math.max(200, runs / 5) : runs, 1000 + i);
    return `p ${(p * 100).toFixed(2)}%: ARL ${r.mean.toFixed(1)} ± ${r.se.toFixed(1)} (median ${r.median}) [${Date.now() - t0} ms]`;
  });
  console.log(`${name}\n  ${line.join('\n  ')}`);
}
