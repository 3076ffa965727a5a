#!/usr/bin/env node
// npm start: the pill-line demo. Node-RED from this project's own dependencies, with a private user directory
// (AVI_DEMO_DIR, default .demo/node-red) in which this package is installed by a link and the demo flow is
// deployed, and an MQTT broker embedded on localhost for the flow's verdicts (MQTT_URL names another broker
// instead). Offline. Ctrl-C stops Node-RED and the broker.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const userDir = path.resolve(process.env.AVI_DEMO_DIR || path.join(root, '.demo', 'node-red'));
const port = process.env.PORT || '1880';
/** Where the editor listens: this machine only unless HOST says otherwise (the editor runs flows: guard it first). */
const host = process.env.HOST || '127.0.0.1';
const DEMO_FLOW = path.join(root, 'examples', 'line-dashboard.json');
/** The operator screen's widgets, from this project's own devDependencies. */
const DASHBOARD = '@flowfuse/node-red-dashboard';
/** The demo flow's mqtt-broker config node: pointed at the broker in use at every start. */
const BROKER_NODE_ID = 'd1broker00000001';
const VERDICT_TOPIC = 'avi/demo/verdict';
const FIRST_MQTT_PORT = 1883;
/** 1883 and the next nine are tried for the embedded broker. */
const MQTT_PORTS_TRIED = 10;
/** How long Node-RED, then the broker, get to stop before they are stopped by force. */
const STOP_GRACE_MS = 5000;

/** Installs this package and the dashboard into the user directory by links, so the palette has both. */
function installPackages() {
  const dashboard = path.dirname(require.resolve(`${DASHBOARD}/package.json`));
  const links = { [pkg.name]: root, [DASHBOARD]: dashboard };
  for (const [name, target] of Object.entries(links)) {
    const link = path.join(userDir, 'node_modules', ...name.split('/'));
    fs.mkdirSync(path.dirname(link), { recursive: true });
    if (!fs.existsSync(link)) fs.symlinkSync(target, link, 'dir');
  }
  // Node-RED lists only the packages its user directory depends on.
  const dependencies = Object.fromEntries(Object.entries(links).map(([name, target]) => [name, `file:${target}`]));
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'avi-demo', private: true, dependencies }, null, 2));
}

/**
 * Deploys the demo flow on first start (later starts keep the user's edits) and points its broker node at
 * `url`. Node-RED's mqtt node takes a broker URL in place of a host name.
 */
function deployDemoFlow(url) {
  const flowsFile = path.join(userDir, 'flows.json');
  if (!fs.existsSync(flowsFile)) fs.copyFileSync(DEMO_FLOW, flowsFile);
  const flows = JSON.parse(fs.readFileSync(flowsFile, 'utf8'));
  const brokerNode = Array.isArray(flows) ? flows.find((n) => n.id === BROKER_NODE_ID) : undefined;
  if (!brokerNode) {
    console.log(`avi: the demo's broker node ${BROKER_NODE_ID} is no longer in ${flowsFile}; its MQTT settings are left as they are`);
    return;
  }
  if (brokerNode.broker === url && brokerNode.port === '') return;
  Object.assign(brokerNode, { broker: url, port: '' });
  fs.writeFileSync(flowsFile, JSON.stringify(flows, null, 4));
}

/** Listens on the first free port from FIRST_MQTT_PORT on 127.0.0.1. */
async function listenOnFreePort(server) {
  for (let mqttPort = FIRST_MQTT_PORT; mqttPort < FIRST_MQTT_PORT + MQTT_PORTS_TRIED; mqttPort++) {
    try {
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(mqttPort, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      return mqttPort;
    } catch (err) {
      if (err.code !== 'EADDRINUSE') throw err;
    }
  }
  throw new Error(`ports ${FIRST_MQTT_PORT} to ${FIRST_MQTT_PORT + MQTT_PORTS_TRIED - 1} are all in use; set MQTT_URL to use a broker that runs already`);
}

/** The embedded MQTT broker (aedes, in memory) on localhost. */
async function startBroker() {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  const mqttPort = await listenOnFreePort(server);
  return {
    url: `mqtt://127.0.0.1:${mqttPort}`,
    // aedes disconnects its clients on close, which lets the server close.
    close: () => new Promise((resolve) => broker.close(() => server.close(() => resolve()))),
  };
}

/** MQTT_URL, checked: the schemes Node-RED's mqtt node connects with. */
function brokerFromEnv(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !['mqtt:', 'mqtts:', 'tcp:', 'tls:', 'ws:', 'wss:'].includes(parsed.protocol) || !parsed.hostname) {
    throw new Error(`MQTT_URL must be a broker URL such as mqtt://192.168.1.10:1883, got "${url}"`);
  }
  return { url, close: async () => undefined };
}

/** The URL as printed: a password in it is not. */
function printable(url) {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

async function main() {
  if (!fs.existsSync(path.join(root, 'dist', 'src', 'nodes'))) {
    console.error('avi: the package is not built; run `npm install` (or `npm run build`) first');
    process.exit(1);
  }
  installPackages();
  const external = process.env.MQTT_URL;
  const broker = external ? brokerFromEnv(external) : await startBroker();
  deployDemoFlow(broker.url);
  console.log(`avi: MQTT broker ${printable(broker.url)} (${external ? 'from MQTT_URL' : 'embedded'}); verdicts on topic ${VERDICT_TOPIC}`);

  const red = spawn(process.execPath, [require.resolve('node-red/red.js'), '--userDir', userDir, '--port', port, '-D', `uiHost=${host}`], { stdio: 'inherit' });
  const where = host.includes(':') ? `[${host}]` : host;
  console.log(`avi: Node-RED starting at http://${where}:${port} (user directory ${path.relative(process.cwd(), userDir) || '.'}); Ctrl-C stops it`);
  console.log(`avi: the line dashboard at http://${where}:${port}/dashboard`);
  if (['127.0.0.1', 'localhost', '::1'].includes(host)) {
    console.log(
      `avi: the editor listens on this machine only. To open it to the network, first set adminAuth in ${path.join(userDir, 'settings.js')}\n` +
        '     (https://nodered.org/docs/user-guide/runtime/securing-node-red), then start with HOST=0.0.0.0',
    );
  }

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    red.kill('SIGINT');
    setTimeout(() => red.kill('SIGKILL'), STOP_GRACE_MS).unref();
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, stop);

  red.on('exit', async (code) => {
    const forced = setTimeout(() => process.exit(stopping ? 0 : 1), STOP_GRACE_MS);
    await broker.close();
    clearTimeout(forced);
    // Stopped on request: a clean stop. Node-RED ending by itself (a port in use, a crash) is a failure.
    process.exit(stopping ? 0 : code || 1);
  });
}

main().catch((err) => {
  console.error(`avi: ${err.message}`);
  process.exit(1);
});
