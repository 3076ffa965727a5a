// Node-RED 4 embedded in this process, as a user's runtime runs it: this package installed by a link in a private
// user directory, flows deployed full or "modified nodes only" through the runtime API the editor's Deploy uses.
// Not node-red-node-test-helper: it spies on every send and keeps each message (and its frame) until unload.
// One per process: Node-RED's runtime is a singleton.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { REPO_ROOT, tempDir } from './fixtures';

export type DeployType = 'full' | 'nodes' | 'flows';

export interface EmbeddedNodeRed {
  /** The node-red module (RED.nodes, RED.hooks, RED.events, RED.runtime). */
  RED: any;
  /** Deploys `flows` as the editor's Deploy button of that type does; resolves once they have started. */
  deploy(flows: object[], type: DeployType): Promise<void>;
  stop(): Promise<void>;
}

export async function startEmbeddedNodeRed(flows: object[], settings: Record<string, unknown> = {}): Promise<EmbeddedNodeRed> {
  const dir = tempDir('avi-embedded-');
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
  const link = path.join(dir.dir, 'node_modules', ...pkg.name.split('/'));
  mkdirSync(path.dirname(link), { recursive: true });
  symlinkSync(REPO_ROOT, link, 'dir');
  writeFileSync(path.join(dir.dir, 'package.json'), JSON.stringify({ name: 'avi-embedded', private: true, dependencies: { [pkg.name]: `file:${REPO_ROOT}` } }));
  // Node-RED starts the flows it finds at start; deploys then replace them.
  writeFileSync(path.join(dir.dir, 'flows.json'), JSON.stringify(flows));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const RED = require('node-red');
  RED.init(http.createServer(), {
    userDir: dir.dir,
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    flowFile: 'flows.json',
    credentialSecret: false,
    logging: { console: { level: process.env.AVI_NODE_RED_LOG ?? 'off' } },
    // Only this package: the plant's node packages beside Node-RED (OPC UA, Modbus, dashboard) take seconds to load.
    externalModules: { palette: { allowList: ['@avi-nodes/*'], denyList: ['*'] } },
    ...settings,
  });
  const started = () => new Promise<void>((resolve) => RED.events.once('flows:started', () => resolve()));
  const first = started();
  await RED.start();
  await first;
  return {
    RED,
    async deploy(next, type) {
      const done = started();
      await RED.runtime.flows.setFlows({ flows: { flows: next }, deploymentType: type });
      await done;
    },
    async stop() {
      await RED.stop();
      dir.cleanup();
    },
  };
}
