// Counts for the shift and the gateway's health, from three kinds of message: a frame from the camera (in),
// a verdict from avi-router (inspected), an error from the Catch node. "New shift" on the screen resets the
// counts. Sends a summary at most once a second, so the screen's traffic does not grow with the line rate.
const now = Date.now();
const fresh = () => ({
    since: now, framesIn: 0, inspected: 0, errors: 0, pass: 0, reject: 0, review: 0,
    units: 0, byClass: {}, recent: [], latencies: [], queueWaits: [], started: {}, models: null, rules: null, rulesHash: null, recipe: null,
});
let s = context.get('shift') || fresh();
if (msg.topic === 'new shift') {
    s = { ...fresh(), started: s.started, models: s.models, rules: s.rules, rulesHash: s.rulesHash, recipe: s.recipe };
} else if (msg.error) {
    s.errors++;
    delete s.started[msg._msgid];
} else if (msg.verdict) {
    const v = msg.verdict;
    s.inspected++;
    if (v.result === 'PASS') s.pass++; else if (v.result === 'FAIL') s.reject++; else s.review++;
    s.units += v.counts.total;
    for (const [cls, n] of Object.entries(v.counts.byClass)) s.byClass[cls] = (s.byClass[cls] || 0) + n;
    s.recent.push([now, v.counts.total]);
    const t0 = s.started[msg._msgid];
    if (t0 !== undefined) {
        s.latencies.push(now - t0);
        if (s.latencies.length > 200) s.latencies.shift();
        delete s.started[msg._msgid];
    }
    // Time frames waited for a worker, all model nodes together (msg.timings from avi-detector, avi-classifier).
    const waited = Object.values(msg.timings || {}).reduce((a, t) => a + (t && Number.isFinite(t.queueWaitMs) ? t.queueWaitMs : 0), 0);
    s.queueWaits.push(waited);
    if (s.queueWaits.length > 200) s.queueWaits.shift();
    s.recipe = msg.recipe || null;
    s.models = Object.fromEntries(Object.entries(v.models || {}).map(([role, m]) => [role, { name: m.name, sha256: m.sha256 }]));
    s.rules = v.rules || null;
    s.rulesHash = v.rulesHash || null;
} else {
    s.framesIn++;
    s.started[msg._msgid] = now;
    // A frame that never comes back (a node that drops it) must not grow this for ever.
    const ids = Object.keys(s.started);
    if (ids.length > 1000) delete s.started[ids[0]];
}
// Rate over the last 10 s.
while (s.recent.length && s.recent[0][0] < now - 10000) s.recent.shift();
context.set('shift', s);

if (context.get('timer')) return null;
context.set('timer', true);
setTimeout(() => {
    context.set('timer', false);
    const c = context.get('shift');
    const window = c.recent.length ? Math.max(1, (Date.now() - Math.min(c.recent[0][0], Date.now() - 10000)) / 1000) : 10;
    const p95 = (values) => {
        const sorted = [...values].sort((a, b) => a - b);
        return sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))]) : null;
    };
    node.send({
        topic: 'shift',
        payload: {
            since: c.since,
            frames: { in: c.framesIn, inspected: c.inspected, errors: c.errors, pass: c.pass, reject: c.reject, review: c.review },
            yield: c.inspected ? c.pass / c.inspected : null,
            units: c.units,
            byClass: c.byClass,
            unitsPerSecond: c.recent.reduce((a, [, n]) => a + n, 0) / window,
            framesPerSecond: c.recent.length / window,
            latencyP95: p95(c.latencies),
            queueWaitP95: p95(c.queueWaits),
            inFlight: Object.keys(c.started).length,
            models: c.models,
            rules: c.rules,
            rulesHash: c.rulesHash,
            recipe: c.recipe,
        },
    });
}, 1000);
return null;
