// The last 30 subgroups of each chart (msg.topic: "line-1" for all defects, "line-1/crack" for one class),
// sent whole, so that a screen opened later shows the chart too.
const charts = context.get('charts') || {};
const p = msg.payload;
const points = charts[msg.topic] || [];
points.push({
    index: p.index, time: p.time, n: p.n, defective: p.defective, rate: p.rate,
    centre: p.centre, ucl: p.ucl, lcl: p.lcl, phase: p.phase,
    rules: (p.violations || []).map((v) => v.rule),
});
charts[msg.topic] = points.slice(-30);
context.set('charts', charts);
return { topic: 'p-chart', payload: charts };
