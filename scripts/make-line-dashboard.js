#!/usr/bin/env node
// Writes examples/line-dashboard.json: the demo pipeline of examples/demo-pill-line.json with the operator's
// screen on FlowFuse Dashboard 2.0. The function nodes' code and the ui-template widgets live, readable, in
// scripts/line-dashboard/; edit them there and run `node scripts/make-line-dashboard.js`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const here = path.join(__dirname, 'line-dashboard');
const read = (f) => fs.readFileSync(path.join(here, f), 'utf8');
const demo = JSON.parse(fs.readFileSync(path.join(root, 'examples/demo-pill-line.json'), 'utf8'));
const byId = Object.fromEntries(demo.map((n) => [n.id, n]));

const TAB = 'ld0tab0000000001';
const out = [];
const id = (s) => ('ld0' + s + '0000000000000000').slice(0, 16);
const nodes = {};
function add(n) {
  out.push(n);
  nodes[n.id] = n;
  return n;
}
function flow(n) {
  return add({ z: TAB, ...n });
}

add({
  id: TAB,
  type: 'tab',
  label: 'AVI line dashboard',
  disabled: false,
  info:
    'The pill-line demo with its operator screen on FlowFuse Dashboard 2.0 (http://127.0.0.1:1880/dashboard). Needs @flowfuse/node-red-dashboard.',
  env: [],
});

flow({
  id: id('comment1'),
  type: 'comment',
  name: 'AVI line dashboard: the operator screen at /dashboard (open for details)',
  info: read('comment.md'),
  x: 350,
  y: 40,
  wires: [],
});

// ---------------------------------------------------------------- the line (the demo pipeline)
flow({
  id: id('inject'),
  type: 'inject',
  name: 'camera, 2 frames/s',
  props: [],
  repeat: '0.5',
  crontab: '',
  once: true,
  onceDelay: '1',
  topic: '',
  x: 140,
  y: 140,
  wires: [[id('camera')]],
});
const pipe = [
  ['d1detector000001', 'detector', 560, [id('crop')]],
  ['d1crop0000000001', 'crop', 740, [id('classifier')]],
  ['d1classifier0001', 'classifier', 920, [id('replace')]],
  ['d1replace0000001', 'replace', 1110, [id('router')]],
];
for (const [old, name, x, wires] of pipe) {
  flow({ ...byId[old], id: id(name), z: TAB, x, y: 140, wires: [wires] });
}
for (const old of ['d1detmodel000001', 'd1clsmodel000001']) {
  add({ ...byId[old], id: id(old.slice(2, 8)) });
}
nodes[id('detector')].model = id('detmod');
nodes[id('classifier')].model = id('clsmod');
const routed = [id('verdict'), id('visualizer'), id('spc'), id('counters')];
flow({
  ...byId.d1router00000001,
  id: id('router'),
  z: TAB,
  x: 1300,
  y: 140,
  wires: [routed, routed, routed],
});
flow({ ...byId.d1verdict0000001, id: id('verdict'), z: TAB, x: 1510, y: 80, wires: [[id('mqtt')]] });
flow({ ...byId.d1mqtt0000000001, id: id('mqtt'), z: TAB, x: 1710, y: 80, broker: 'd1broker00000001' });
add({ ...byId.d1broker00000001 });
flow({ ...byId.d1visualizer0001, id: id('visualizer'), z: TAB, x: 1510, y: 140, wires: [[id('frameprev'), id('onlyfail')]] });
flow({
  id: id('catch'),
  type: 'catch',
  name: 'errors on the line',
  scope: [id('detector'), id('crop'), id('classifier'), id('replace'), id('router'), id('visualizer')],
  uncaught: false,
  x: 160,
  y: 260,
  wires: [[id('counters')]],
});

// ---------------------------------------------------------------- what the screen shows
const UI = id('uibase');
const PAGE = id('uipage');
const THEME = id('uitheme');
add({
  id: UI,
  type: 'ui-base',
  name: 'AVI',
  path: '/dashboard',
  appIcon: '',
  includeClientData: true,
  acceptsClientConfig: ['ui-notification', 'ui-control'],
  showPathInSidebar: false,
  headerContent: 'page',
  navigationStyle: 'none',
  titleBarStyle: 'default',
  showReconnectNotification: true,
  notificationDisplayTime: 1,
  showDisconnectNotification: true,
  allowInstall: false,
});
add({
  id: THEME,
  type: 'ui-theme',
  name: 'AVI line',
  colors: { surface: '#1f2937', primary: '#0b5cad', bgPage: '#e5e7eb', groupBg: '#ffffff', groupOutline: '#9ca3af' },
  sizes: { density: 'default', pagePadding: '8px', groupGap: '8px', groupBorderRadius: '6px', widgetGap: '6px' },
});
add({
  id: PAGE,
  type: 'ui-page',
  name: 'Line 1',
  ui: UI,
  path: '/line-1',
  icon: 'factory',
  layout: 'grid',
  theme: THEME,
  breakpoints: [
    { name: 'Default', px: 0, cols: 3 },
    { name: 'Tablet', px: 576, cols: 6 },
    { name: 'Desktop', px: 1280, cols: 12 },
  ],
  order: 1,
  className: '',
  visible: 'true',
  disabled: 'false',
});
const groups = [
  ['gframe', 'Inspection', 6, 1],
  ['gshift', 'Shift', 3, 2],
  ['gcapa', 'CAPA alerts', 3, 3],
  ['gchart', 'Defect rate (p-chart)', 6, 4],
  ['grejects', 'Last rejects', 6, 5],
  ['ghealth', 'In force and health', 9, 6],
  ['gdemo', 'Demo camera', 3, 7],
];
for (const [key, name, width, order] of groups) {
  add({ id: id(key), type: 'ui-group', name, page: PAGE, width: String(width), height: '1', order, showTitle: true, className: '', visible: 'true', disabled: 'false', groupType: 'default' });
}
function template(key, group, file, x, y, wires, name) {
  return flow({
    id: id(key),
    type: 'ui-template',
    group: id(group),
    page: '',
    ui: '',
    name,
    order: 1,
    width: '0',
    height: '0',
    head: '',
    format: read(file),
    storeOutMessages: true,
    passthru: false,
    resendOnRefresh: true,
    templateScope: 'local',
    className: '',
    x,
    y,
    wires: [wires],
  });
}
function fn(key, name, file, x, y, wires) {
  return flow({ id: id(key), type: 'function', name, func: read(file), outputs: wires.length, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x, y, wires });
}

flow({ id: id('frameprev'), type: 'avi-frame-preview', name: 'latest frame, 960 px, 2/s', property: 'payload', width: 960, quality: 70, rate: 2, x: 1730, y: 140, wires: [[id('tframe')]] });
template('tframe', 'gframe', 'frame.vue', 1950, 140, [], 'frame and verdict');
flow({
  id: id('onlyfail'),
  type: 'switch',
  name: 'rejects',
  property: 'verdict.result',
  propertyType: 'msg',
  rules: [{ t: 'eq', v: 'FAIL', vt: 'str' }],
  checkall: 'true',
  repair: false,
  outputs: 1,
  x: 1950,
  y: 200,
  wires: [[id('rejectprev')]],
});
flow({ id: id('rejectprev'), type: 'avi-frame-preview', name: 'rejects, 640 px, 1 in 2 s', property: 'payload', width: 640, quality: 70, rate: 0.5, x: 2170, y: 200, wires: [[id('rejects')]] });
fn('rejects', 'last 6 rejects', 'rejects.js', 2390, 200, [[id('trejects')]]);
template('trejects', 'grejects', 'rejects.vue', 2590, 200, [], 'reject thumbnails');

fn('counters', 'shift counters and health', 'counters.js', 560, 300, [[id('tshift'), id('thealth')]]);
template('tshift', 'gshift', 'shift.vue', 820, 280, [id('counters')], 'shift counts');
template('thealth', 'ghealth', 'health.vue', 820, 330, [], 'models, rules, health');

flow({
  ...JSON.parse(read('spc.json')),
  id: id('spc'),
  z: TAB,
  x: 1510,
  y: 500,
  wires: [[id('history')], [id('capa')]],
});
fn('history', 'p-chart history', 'history.js', 1730, 480, [[id('tchart')]]);
template('tchart', 'gchart', 'chart.vue', 1950, 480, [], 'p-chart');
fn('capa', 'CAPA alerts and acks', 'capa.js', 1730, 540, [[id('tcapa')], [id('ackout'), id('ackdebug')]]);
template('tcapa', 'gcapa', 'capa.vue', 1970, 540, [id('capa')], 'CAPA list');
flow({ id: id('ackout'), type: 'mqtt out', name: 'acknowledgements', topic: 'avi/demo/capa/ack', qos: '1', retain: 'false', respTopic: '', contentType: 'application/json', userProps: '', correl: '', expiry: '', broker: 'd1broker00000001', x: 1990, y: 600, wires: [] });
flow({ id: id('ackdebug'), type: 'debug', name: 'acknowledged', active: true, tosidebar: true, console: false, tostatus: true, complete: 'payload', targetType: 'msg', statusVal: 'payload.alert', statusType: 'msg', x: 1970, y: 640, wires: [] });

fn('camera', 'demo camera (defect rate)', 'camera.js', 350, 140, [[id('detector'), id('counters')], [id('tdemo')]]);
template('tdemo', 'gdemo', 'demo.vue', 140, 80, [id('camera')], 'demo defect rate');

fs.writeFileSync(path.join(root, 'examples/line-dashboard.json'), JSON.stringify(out, null, 4) + '\n');
console.log('written', out.length, 'nodes');
