// CAPA alerts from avi-spc, newest first, and their acknowledgements from the screen. The list lives in this
// flow's context (a file-backed context store keeps it across restarts); each acknowledgement, with who and
// when, also leaves on output 2 for the record (MQTT avi/demo/capa/ack and the debug sidebar here).
const alerts = flow.get('capaAlerts') || [];
const p = msg.payload || {};
if (msg.topic === 'ack') {
    const alert = alerts.find((a) => a.id === p.id);
    if (!alert || alert.acknowledged) return null;
    const by = String(p.by || '').trim().slice(0, 40) || 'operator';
    alert.acknowledged = { by, at: new Date().toISOString(), client: msg._client ? msg._client.socketId : undefined };
    flow.set('capaAlerts', alerts);
    const record = { alert: alert.id, key: alert.key, class: alert.class, rule: alert.rule, severity: alert.severity, raised: alert.time, acknowledgedBy: by, acknowledgedAt: alert.acknowledged.at };
    return [{ topic: 'capa', payload: alerts }, { topic: `avi/demo/capa/ack`, payload: record }];
}
if (p.type === 'alert') {
    alerts.unshift({
        id: `${msg.topic}@${p.time}`, key: p.key, class: p.class, rule: p.rule, rules: p.rules, severity: p.severity,
        direction: p.direction, time: p.time, since: p.since, rate: p.rate, centre: p.centre, ucl: p.ucl,
        text: p.text, hint: p.hint, acknowledged: null, resolved: null,
    });
    alerts.length = Math.min(alerts.length, 20);
} else if (p.type === 'resolved') {
    const open = alerts.find((a) => a.key === p.key && a.class === p.class && !a.resolved);
    if (open) open.resolved = { at: new Date(p.time).toISOString(), text: p.text };
} else if (p.type !== 'reset') {
    return null;
}
flow.set('capaAlerts', alerts);
return [{ topic: 'capa', payload: alerts }, null];
