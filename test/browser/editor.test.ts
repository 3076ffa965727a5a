// The editor as a Node-RED user meets it, driven in Chromium (Debian's, through playwright-core): this package
// uploaded from its .tgz through Manage palette into a fresh user directory, its icons, every node's form set to
// non-default values and found again after deploy and reload, and each example imported and running.
// Run by `npm run test:editor` (.ci/run); about 10 minutes on two busy cores, most of them npm installing the .tgz
// (better-sqlite3 compiles) and, for the examples, FlowFuse Dashboard, node-red-contrib-modbus and -opcua.
// AVI_TGZ uses a .tgz already packed; AVI_SCREENS saves screenshots of the palette, a form, a help panel and the canvas
// (English and German) into that folder.
import { expect } from 'chai';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { REPO_ROOT, tempDir } from '../support/fixtures';

const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
const NODE_TYPES = Object.keys(pkg['node-red'].nodes) as string[];
const EXAMPLES = readdirSync(path.join(REPO_ROOT, 'examples')).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, ''));
const SCREENS = process.env.AVI_SCREENS;
/** Settings config nodes need before their users are valid (the test creates one of each config type). */
const CONFIG_VALUES: Record<string, Record<string, unknown>> = { 'avi-model': { path: 'models/pill-detector.onnx' } };
/** Examples fed over HTTP: where the test posts a frame (a JPEG as the raw body). */
const FRAME_POSTS: Record<string, string> = { 'frame-sources': 'avi/inspect/raw' };
/**
 * Node types of other palette packages that examples use, by prefix, and the package (a devDependency here, so
 * Node-RED usually finds it already in the node_modules beside its own).
 */
const OTHER_PACKAGES: Array<[string, string]> = [
  ['ui-', '@flowfuse/node-red-dashboard'],
  ['modbus-', 'node-red-contrib-modbus'],
  ['OpcUa-', 'node-red-contrib-opcua'],
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('the editor, in a browser, with the package installed from its .tgz', function () {
  this.timeout(30 * 60_000);
  const work = tempDir('avi-editor-');
  const userDir = path.join(work.dir, 'node-red');
  let red: ChildProcess;
  let redLog = '';
  let browser: Browser;
  let page: Page;
  let url: string;
  let tgz: string;
  /** What the last example imported added to the editor. */
  let imported = { tabs: [] as string[], configs: [] as string[], avi: [] as string[], comment: '', brokers: [] as string[] };

  async function openEditor(p: Page) {
    await p.goto(url);
    await p.waitForFunction(() => (window as any).RED?.nodes?.getType && document.querySelector('#red-ui-palette .red-ui-palette-node'), null, { timeout: 60_000 });
    // The flows arrive after the palette; the deploy button is enabled only once they have loaded.
    await p.waitForFunction(() => (window as any).RED.nodes.getWorkspaceOrder().length > 0, null, { timeout: 30_000 });
  }

  async function deploy(p: Page) {
    await p.click('#red-ui-header-button-deploy');
    // Deployed, or the editor asks first (invalid or unknown nodes): then fail with its question.
    const asked = await p.waitForFunction(
      () => !(window as any).RED.nodes.dirty() || document.querySelector('#red-ui-deploy-dialog-confirm-deploy-deploy')?.closest('.red-ui-notification')?.textContent,
      null,
      { timeout: 30_000 },
    );
    const question = await asked.jsonValue();
    if (typeof question === 'string') throw new Error(`deploy asks: ${question}`);
  }

  /** Imports an example as Import > Examples does, in place of the one imported before. */
  async function importExample(example: string) {
    // One example at a time in the runtime, as a user trying them would: the previous one's tab and config nodes go.
    await page.evaluate((previous) => {
      const RED = (window as any).RED;
      for (const id of previous.configs) RED.nodes.remove(id);
      for (const id of previous.tabs) RED.workspaces.delete(RED.nodes.workspace(id));
    }, imported);
    imported = await page.evaluate(
      async ({ module, name }) => {
        const RED = (window as any).RED;
        const all = () => {
          const ids: any[] = [];
          RED.nodes.eachNode((n: any) => ids.push(n));
          RED.nodes.eachConfig((n: any) => ids.push(n));
          RED.nodes.eachWorkspace((n: any) => ids.push(n));
          return ids;
        };
        const before = new Set(all().map((n) => n.id));
        const res = await fetch(`library/examples/flows/${module}/${name}`, { headers: { 'Node-RED-API-Version': 'v2' } });
        RED.view.importNodes(await res.json(), { generateIds: true, addFlow: true });
        const added = all().filter((n) => !before.has(n.id));
        const tabs = added.filter((n) => n.type === 'tab').map((n) => n.id);
        RED.workspaces.show(tabs[0]);
        return {
          tabs,
          configs: added.filter((n) => !n.z && n.type !== 'tab').map((n) => n.id),
          avi: added.filter((n) => n.z && n.type.startsWith('avi-')).map((n) => n.id),
          comment: added.filter((n) => n.type === 'comment').map((n) => `${n.name}\n${n.info}`).join('\n'),
          brokers: added.filter((n) => n.type === 'mqtt-broker').map((n) => n.name as string),
        };
      },
      { module: pkg.name, name: example },
    );
  }

  before(async () => {
    mkdirSync(userDir);
    // A fresh Node-RED, but without the welcome tour and the update-notification question, which cover the editor.
    writeFileSync(path.join(userDir, 'settings.js'), "module.exports = { uiHost: '127.0.0.1', editorTheme: { tours: false }, telemetry: { enabled: false } };\n");
    tgz = process.env.AVI_TGZ ?? path.join(work.dir, execFileSync('npm', ['pack', '--silent', '--pack-destination', work.dir], { cwd: REPO_ROOT, encoding: 'utf8' }).trim().split('\n').pop()!);
    const port = await freePort();
    url = `http://127.0.0.1:${port}/`;
    red = spawn(process.execPath, [require.resolve('node-red/red.js'), '--userDir', userDir, '--port', String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    red.stdout!.on('data', (d) => (redLog += d));
    red.stderr!.on('data', (d) => (redLog += d));
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
    page = await browser.newPage({ locale: 'en-US', viewport: { width: 1400, height: 900 } });
    for (let i = 0; i < 60 && !(await fetch(url).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 500));
    await openEditor(page);
  });

  after(async () => {
    await browser?.close();
    red?.kill();
    work.cleanup();
  });

  it('installs from the .tgz through Manage palette > Install > upload', async () => {
    await page.evaluate(() => (window as any).RED.actions.invoke('core:manage-palette', { view: 'install' }));
    await page.setInputFiles('.red-ui-palette-editor-upload-button input[type=file]', tgz);
    await page.click('.red-ui-palette-editor-upload-buttons .primary');
    // npm installs the package and its dependencies (better-sqlite3 compiles): minutes, not seconds.
    await page
      .waitForFunction((type) => (window as any).RED.nodes.getType(type), NODE_TYPES[NODE_TYPES.length - 1], { timeout: 20 * 60_000, polling: 1000 })
      .catch((err) => {
        throw new Error(`the palette never got the nodes: ${err.message}\nNode-RED:\n${redLog.slice(-4000)}`);
      });
    await page.evaluate(() => (window as any).RED.tray.close());
    const missing = await page.evaluate((types) => types.filter((t: string) => !(window as any).RED.nodes.getType(t)), NODE_TYPES);
    expect(missing).to.deep.equal([]);
  });

  it('shows each node in the palette, in our colour, with its icon', async () => {
    const palette = await page.evaluate((types) => {
      const RED = (window as any).RED;
      return types
        .filter((t: string) => RED.nodes.getType(t).category !== 'config')
        .map((t: string) => {
          const el = document.querySelector(`.red-ui-palette-node[data-palette-type="${t}"]`) as HTMLElement | null;
          const icon = el?.querySelector('.red-ui-palette-icon') as HTMLElement | null;
          return { type: t, shown: !!el, colour: el ? getComputedStyle(el).backgroundColor : '', icon: icon ? getComputedStyle(icon).backgroundImage : '' };
        });
    }, NODE_TYPES);
    for (const node of palette) {
      expect(node.shown, `${node.type} in the palette`).to.equal(true);
      expect(node.colour, `${node.type} colour`).to.equal('rgb(143, 209, 192)');
      const iconUrl = /url\("(.*)"\)/.exec(node.icon)?.[1];
      expect(iconUrl, `${node.type} icon`).to.match(/icons\/.*\/avi-[\w-]+\.svg$/);
      const response = await fetch(new URL(iconUrl!, url));
      expect(response.status, `${node.type} icon ${iconUrl}`).to.equal(200);
      expect(await response.text()).to.include('<svg');
    }
    await shot(ourCategory(page), 'palette-en.png');
  });

  it('keeps every setting of every form through deploy and reload', async () => {
    // One node of each type on a fresh tab, each config setting (avi-model, avi-audit-store) pointed at a node of
    // that config type.
    const placed: Record<string, string> = await page.evaluate(
      ({ types, configValues }) => {
        const RED = (window as any).RED;
        const tab = { id: RED.nodes.id(), type: 'tab', label: 'forms' };
        const nodes: any[] = [tab];
        const ids: Record<string, string> = {};
        const configOf = (type: string): string => {
          if (!ids[type]) {
            ids[type] = RED.nodes.id();
            nodes.push({ id: ids[type], type, ...configValues[type] });
          }
          return ids[type];
        };
        types.forEach((t: string, i: number) => {
          const def = RED.nodes.getType(t);
          if (def.category === 'config') return void configOf(t);
          const node: any = { id: RED.nodes.id(), type: t, z: tab.id, x: 200, y: 60 + i * 60, wires: [] };
          for (const [prop, d] of Object.entries<any>(def.defaults)) if (d.type) node[prop] = configOf(d.type);
          ids[t] = node.id;
          nodes.push(node);
        });
        RED.view.importNodes(nodes, { generateIds: false, addFlow: false });
        return ids;
      },
      { types: NODE_TYPES, configValues: CONFIG_VALUES },
    );

    const set: Record<string, Record<string, unknown>> = {};
    for (const type of NODE_TYPES) {
      await openForm(page, type, placed[type]);
      set[type] = await page.evaluate(fillForm, type);
      await closeForm(page, type, true);
      if (type === 'avi-detector' && SCREENS) {
        await openForm(page, type, placed[type]);
        await shot(page.locator('.red-ui-tray').first(), 'form-en.png');
        await closeForm(page, type, false);
      }
    }
    const invalid = await page.evaluate(
      (ids) =>
        Object.values(ids)
          .map((id) => (window as any).RED.nodes.node(id))
          .filter((n) => !n.valid)
          .map((n) => `${n.type}: ${(n.validationErrors ?? []).join(', ')}`),
      placed,
    );
    expect(invalid, 'nodes invalid after their forms were filled').to.deep.equal([]);
    await deploy(page);
    await page.reload();
    await openEditor(page);
    for (const type of NODE_TYPES) {
      await openForm(page, type, placed[type]);
      const shown = await page.evaluate(readForm, type);
      await closeForm(page, type, false);
      for (const [prop, value] of Object.entries(set[type])) expect(shown[prop], `${type}.${prop} after deploy and reload`).to.deep.equal(value);
      const unchanged = Object.keys(shown).filter((p) => !(p in set[type]));
      expect(unchanged, `${type}: form fields the test could not set to a non-default value`).to.deep.equal([]);
    }
    // The filled-in nodes (a camera on a made-up stream, a store on PostgreSQL) go with the next deploy.
    await page.evaluate((ids) => {
      const RED = (window as any).RED;
      const nodes = Object.values(ids).map((id) => RED.nodes.node(id));
      for (const n of nodes) if (!n.z) RED.nodes.remove(n.id);
      RED.workspaces.delete(RED.nodes.workspace(nodes.find((n) => n.z).z));
    }, placed);
  });

  it('tests a model from its form before anyone deploys: format, tensors, classes, SHA-256', async () => {
    const id = await page.evaluate(() => {
      const RED = (window as any).RED;
      const model = { id: RED.nodes.id(), type: 'avi-model', path: 'models/pill-detector.onnx' };
      RED.view.importNodes([model], { generateIds: false, addFlow: false });
      return model.id;
    });
    await openForm(page, 'avi-model', id);
    await page.click('#avi-model-test');
    const report = await page.waitForSelector('.avi-model-test-report', { timeout: 60_000 }).then((el) => el.innerText());
    const sha256 = createHash('sha256').update(readFileSync(path.join(REPO_ROOT, 'models', 'pill-detector.onnx'))).digest('hex');
    expect(report).to.include(sha256).and.include('yolov8').and.include('images float32 [1,3,320,320]').and.include('1: pill');
    await shot(page.locator('.red-ui-tray').first(), 'model-test-en.png');
    await closeForm(page, 'avi-model', false);
  });

  for (const example of EXAMPLES) {
    it(`imports the example "${example}" from Import > Examples and runs it`, async () => {
      const listed: string[] = await page.evaluate(async (module) => {
        const res = await fetch(`library/examples/flows/${module}/`, { headers: { 'Node-RED-API-Version': 'v2' } });
        return (await res.json()).map((e: any) => (typeof e === 'string' ? `${e}/` : e.fn));
      }, pkg.name);
      expect(listed.every((e) => !e.endsWith('/')), `Import > Examples lists folders: ${listed.join(', ')}`).to.equal(true);
      expect(listed).to.include(example);
      // An example built on another palette package (FlowFuse Dashboard) gets it installed first, from the registry,
      // as a user would through Manage palette.
      const flowTypes: string[] = await page.evaluate(
        async ({ module, name }) => (await (await fetch(`library/examples/flows/${module}/${name}`)).json()).map((n: any) => n.type),
        { module: pkg.name, name: example },
      );
      const missing = [...new Set(flowTypes)].filter((t) => !t.startsWith('subflow:') && !['tab', 'group', 'junction'].includes(t));
      const unknown: string[] = await page.evaluate((types) => types.filter((t: string) => !(window as any).RED.nodes.getType(t)), missing);
      for (const module of new Set(unknown.map((t) => OTHER_PACKAGES.find(([prefix]) => t.startsWith(prefix))?.[1] ?? `(no package known for ${t})`))) {
        const version = pkg.devDependencies[module]?.replace(/^\^/, '');
        expect(version, `${example} needs ${module}`).to.be.a('string');
        const status = await page.evaluate(
          async ({ module, version }) => (await fetch('nodes', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ module, version }) })).status,
          { module, version },
        );
        expect(status, `installing ${module}`).to.equal(200);
      }
      await page.waitForFunction((types) => types.every((t: string) => (window as any).RED.nodes.getType(t)), unknown, { timeout: 10 * 60_000, polling: 1000 });
      await importExample(example);
      expect(imported.tabs, `${example} brings one tab`).to.have.length(1);
      expect(imported.avi.length, `${example}: avi nodes on its tab`).to.be.above(0);
      // No broker is running here: an MQTT example's comment names its broker config node and says what to set.
      for (const broker of imported.brokers) {
        expect(imported.comment, `${example} says in its comment what to change for MQTT`).to.match(new RegExp(`${broker}\\**( config node)?( and set its server| at your broker)`, 'i'));
      }
      await deploy(page);
      // An example fed over HTTP is sent a frame, as its comment tells a user to.
      const post = FRAME_POSTS[example];
      if (post) {
        let answer: Response | undefined;
        for (let i = 0; i < 60 && answer?.status !== 200; i++) {
          await new Promise((r) => setTimeout(r, 500)); // the deploy has returned; the HTTP routes follow
          answer = await fetch(new URL(post, url), { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: readFileSync(path.join(REPO_ROOT, 'example-images', 'line-0001.jpg')) });
        }
        expect(answer!.status, `POST /${post}`).to.equal(200);
        expect(await answer!.json()).to.have.property('result').that.is.oneOf(['PASS', 'FAIL', 'REVIEW']);
      }
      // Running: every avi node of the example shows a status, none of them an error (red dot) unless the example's
      // comment names that status as what a user sees without the equipment it talks to (a PLC, a camera); then the
      // nodes that equipment feeds may have no status yet.
      const statuses = await page
        .waitForFunction(
          ({ ids, comment }) => {
            const RED = (window as any).RED;
            const all = ids.map((id: string) => RED.nodes.node(id).status);
            const error = (s: any) => s.fill === 'red' && s.shape === 'dot'; // a red ring is a FAIL frame: a normal outcome
            const documented = (s: any) => error(s) && comment.includes(`**${s.text.split(' · ')[0]}**`);
            const missing = all.some((s: any) => s && documented(s));
            const fine = (s: any) => (s?.text ? !error(s) || documented(s) : missing);
            return all.every(fine) && all.some((s: any) => s?.text && !error(s)) && all.map((s: any) => s?.text ?? null);
          },
          { ids: imported.avi, comment: imported.comment },
          { timeout: 90_000, polling: 500 },
        )
        .then((h) => h.jsonValue())
        .catch(async () => {
          const now = await page.evaluate((ids) => ids.map((id: string) => [(window as any).RED.nodes.node(id).type, (window as any).RED.nodes.node(id).status]), imported.avi);
          throw new Error(`${example} does not run: statuses ${JSON.stringify(now)}\nNode-RED:\n${redLog.slice(-3000)}`);
        });
      expect(statuses).to.be.an('array');
      await shot(page, `example-${example}.png`);
    });
  }

  it('shows help and labels in German for a German browser', async () => {
    await importExample('demo-pill-line');
    await deploy(page);
    const detector = await page.evaluate((ids) => ids.find((id) => (window as any).RED.nodes.node(id).type === 'avi-detector'), imported.avi);
    expect(detector, 'the demo has a detector').to.be.a('string');
    await page.waitForTimeout(5000); // a few frames through, for the statuses under the nodes
    await shot(page, 'canvas-en.png');
    const german = await browser.newPage({ locale: 'de-DE', viewport: { width: 1400, height: 900 } });
    await openEditor(german);
    await german.evaluate((id) => (window as any).RED.workspaces.show((window as any).RED.nodes.node(id).z), detector!);
    await shot(ourCategory(german), 'palette-de.png');
    await shot(german, 'canvas-de.png');
    await openForm(german, 'avi-detector', detector!);
    // Every catalogue text in the form (labels, options, tips) shows as the German catalogue has it.
    const de = JSON.parse(readFileSync(path.join(REPO_ROOT, 'nodes', 'locales', 'de', 'avi-detector.json'), 'utf8'));
    const shown: Array<[string, string]> = await german.evaluate(() =>
      Array.from(document.querySelectorAll('.red-ui-tray [data-i18n]')).map((el) => [el.getAttribute('data-i18n')!, el.textContent!.trim()]),
    );
    // The editor prefixes each key with the node set's namespace ("<module>/avi-detector:"); [placeholder]s have no text.
    const texts = shown.filter(([key]) => !key.startsWith('[')).map(([key, text]) => [key.replace(/^.*:/, ''), text]).filter(([key]) => key.startsWith('avi-detector.'));
    expect(texts.length, 'catalogue texts in the German form').to.be.above(5);
    for (const [key, text] of texts) expect(text, key).to.equal(key.split('.').reduce((o: any, k) => o?.[k], de));
    await shot(german.locator('.red-ui-tray').first(), 'form-de.png');
    await closeForm(german, 'avi-detector', false);
    for (const [p, name] of [
      [page, 'help-en.png'],
      [german, 'help-de.png'],
    ] as const) {
      await p.evaluate(() => (window as any).RED.sidebar.help.show('avi-detector'));
      await p.waitForTimeout(500);
      await shot(p.locator('#red-ui-sidebar'), name);
    }
    const help = await german.locator('#red-ui-sidebar').innerText();
    expect(help).to.include(readFileSync(path.join(REPO_ROOT, 'nodes', 'locales', 'de', 'avi-detector.html'), 'utf8').match(/<p>([^<\n]{20,60})/)![1].trim());
    await german.close();
  });
});

/** A screenshot into AVI_SCREENS, where set. */
async function shot(target: Page | Locator, name: string) {
  if (!SCREENS) return;
  mkdirSync(SCREENS, { recursive: true });
  // Without the editor's notifications ("Nodes added", "Deployed"), which cover the forms.
  await ('page' in target ? target.page() : target).evaluate(() => document.querySelectorAll('.red-ui-notification').forEach((n) => n.remove()));
  await target.screenshot({ path: path.join(SCREENS, name) });
}

/** The palette's "visual inspection" category. */
function ourCategory(page: Page) {
  return page.locator('.red-ui-palette-category', { has: page.locator('[data-palette-type="avi-detector"]') });
}

async function openForm(page: Page, type: string, id: string) {
  await page.evaluate(
    ({ type, id }) => {
      const RED = (window as any).RED;
      if (RED.nodes.getType(type).category === 'config') RED.editor.editConfig('', type, id);
      else RED.editor.edit(RED.nodes.node(id));
    },
    { type, id },
  );
  await page.waitForSelector('.red-ui-tray .red-ui-tray-footer', { state: 'visible' });
  await page.waitForTimeout(400); // oneditprepare's own setup (typedInputs, lists)
}

async function closeForm(page: Page, type: string, save: boolean) {
  const config = await page.evaluate((t) => (window as any).RED.nodes.getType(t).category === 'config', type);
  const button = config ? (save ? '#node-config-dialog-ok' : '#node-config-dialog-cancel') : save ? '#node-dialog-ok' : '#node-dialog-cancel';
  await page.click(button);
  await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0, null, { timeout: 10_000 });
}

/** Runs in the page: the form's field for each of the type's settings, read as the test compares them. */
function readForm(type: string): Record<string, unknown> {
  const RED = (window as any).RED;
  const $ = (window as any).$;
  const def = RED.nodes.getType(type);
  const prefix = def.category === 'config' ? '#node-config-input-' : '#node-input-';
  const shown: Record<string, unknown> = {};
  for (const prop of Object.keys(def.defaults)) {
    const el = $(prefix + prop);
    if (!el.is('input, select, textarea') || def.defaults[prop].type || (el.attr('type') === 'hidden' && !el.data('noderedTypedInput'))) continue;
    if (el.data('noderedTypedInput')) shown[prop] = `${el.typedInput('type')}:${el.typedInput('value')}`;
    else if (el.is(':checkbox')) shown[prop] = el.prop('checked');
    else shown[prop] = String(el.val());
  }
  return shown;
}

/** Runs in the page: sets every field of the open form to a valid value other than its default; returns them as readForm shows them. */
function fillForm(type: string): Record<string, unknown> {
  const RED = (window as any).RED;
  const $ = (window as any).$;
  const def = RED.nodes.getType(type);
  const prefix = def.category === 'config' ? '#node-config-input-' : '#node-input-';
  const values: Record<string, unknown> = {};
  const draft: Record<string, unknown> = {};
  for (const prop of Object.keys(def.defaults)) draft[prop] = def.defaults[prop].value;
  const valid = (prop: string, v: unknown) => {
    const check = def.defaults[prop].validate;
    if (!check) return true;
    return check.call({ ...draft, [prop]: v }, v, { label: prop }) === true;
  };
  for (const prop of Object.keys(def.defaults)) {
    const el = $(prefix + prop);
    const fallback = def.defaults[prop].value;
    if (!el.is('input, select, textarea') || def.defaults[prop].type || (el.attr('type') === 'hidden' && !el.data('noderedTypedInput'))) continue;
    if (el.data('noderedTypedInput')) {
      const value = prop.toLowerCase().includes('property') || String(el.typedInput('value')) === 'payload' ? 'req.files[0].buffer' : 'avi_test';
      el.typedInput('type', 'msg');
      el.typedInput('value', value);
      values[prop] = `msg:${value}`;
      draft[prop] = value;
    } else if (el.is(':checkbox')) {
      el.prop('checked', !el.prop('checked')).trigger('change');
      values[prop] = el.prop('checked');
      draft[prop] = values[prop];
    } else if (el.is('select')) {
      const options = el.find('option').map((_: number, o: HTMLOptionElement) => o.value).get();
      const other = options.find((o: string) => o !== String(fallback) && valid(prop, o)) ?? options[0];
      el.val(other).trigger('change');
      values[prop] = String(other);
      draft[prop] = other;
    } else {
      const n = Number(fallback);
      const input = el[0] as HTMLInputElement;
      const numeric = input.type === 'number' || (fallback !== '' && typeof fallback !== 'boolean' && Number.isFinite(n));
      const candidates = numeric
        ? [n * 2, n + 1, n / 2, n - 1, 1, 2, 3, 0.5, 0.3, 10, 1.2, 99].map(String)
        : // The form's own example (a placeholder such as "1=round-white, 2=oval-blue") first: it has the field's format.
          [input.placeholder, 'pill, tablet', 'line_2', 'models/pill-defects.onnx', 'avi-test-name'].filter(Boolean);
      let chosen: string | undefined;
      for (const c of candidates) {
        if (c === String(fallback)) continue;
        el.val(c);
        if (input.checkValidity() && valid(prop, c)) {
          chosen = c;
          break;
        }
      }
      // A field valid only together with another (width and height) takes its first candidate for now.
      if (chosen === undefined) chosen = candidates.find((c) => c !== String(fallback) && (el.val(c), input.checkValidity()));
      if (chosen === undefined) {
        el.val(String(fallback ?? ''));
        continue;
      }
      el.val(chosen);
      el.trigger('change');
      values[prop] = chosen;
      draft[prop] = chosen;
    }
  }
  return values;
}
