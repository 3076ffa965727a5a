// The last 6 rejected frames, newest first, each a small JPEG from avi-frame-preview with its reasons.
const list = context.get('rejects') || [];
list.unshift({ image: msg.payload, time: msg.time, frame: msg.frame, verdict: msg.verdict });
list.length = Math.min(list.length, 6);
context.set('rejects', list);
return { topic: 'rejects', payload: list };
