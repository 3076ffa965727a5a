// A demo camera: the next example frame, chosen so that defective units make up the demo's defect rate
// (1 % at start, AVI_DEMO_DEFECT_RATE, or the rate the "Demo camera" buttons set). Replace this node, the
// inject and the buttons with your camera: avi-detector takes an encoded image (Buffer) or a file path.
if (msg.topic === 'defectRate') {
    flow.set('defectRate', Number(msg.payload));
    context.set('shown', undefined); // the new rate from now on, without catching up on the old one
    node.status({ text: `${msg.payload} % defective` });
    return [null, { topic: 'defectRate', payload: Number(msg.payload) }];
}
// Units and defective units in the example frames, as the demo models see them.
const FRAMES = { 'line-0003.jpg': [18, 5], 'line-0004.jpg': [11, 4], 'line-0005.jpg': [10, 0], 'line-0006.jpg': [11, 0] };
const GOOD = ['line-0005.jpg', 'line-0006.jpg'];
// At low rates a frame with many defects would fill a subgroup on its own: only the mildest one then.
const LOW_RATE_DEFECTS = ['line-0004.jpg'];
const HIGH_RATE_DEFECTS = ['line-0003.jpg', 'line-0004.jpg'];
const rate = (flow.get('defectRate') ?? (Number(env.get('AVI_DEMO_DEFECT_RATE')) || 1)) / 100;
const shown = context.get('shown') || { units: 0, defective: 0, next: 0 };
// Deficit rule: a defect frame whenever the defects shown so far fall short of the rate.
const pool = shown.defective < rate * (shown.units + 10) ? (rate <= 0.02 ? LOW_RATE_DEFECTS : HIGH_RATE_DEFECTS) : GOOD;
const frame = pool[shown.next++ % pool.length];
shown.units += FRAMES[frame][0];
shown.defective += FRAMES[frame][1];
context.set('shown', shown);
node.status({ text: `${Math.round(rate * 100)} % defective · ${frame}` });
// Looked up in the user dir, then in the package (example-images moves with the package).
// The recipe in force travels with the frame, as avi-cell puts it on (msg.recipe { index, name }).
return [{ payload: `example-images/${frame}`, topic: 'line-1', recipe: { index: 1, name: 'demo pills' } }, null];
