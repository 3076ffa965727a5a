// The line-cell examples (examples/line-cell-{opcua,modbus,mqtt}.json) in a real Node-RED, unchanged but for their
// endpoints, with the demo models, against a real OPC UA server, Modbus TCP server and MQTT broker standing in
// for the PLC. Each part must get exactly one result and one acknowledge, in order, with its part id; the
// documented outcomes of docs/plc-handshake.md must be what the PLC and the UNS see.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { ALARM_CODE, ERROR_CODE, RESULT_CODE } from '../src/core/line/tags';
import { REPO_ROOT } from './support/fixtures';
import { exampleFlow, startNodeRed, type NodeRed } from './support/node-red';
import { freePort, ModbusPlc, MqttPlc, OpcUaPlc, type SimulatedPlc } from './support/plc';

const UNS = 'site/area/line1/cell1';
/** Parts per protocol: 1,000 with AVI_LINE_PARTS=1000 (see docs/plc-handshake.md for the figures); fewer in npm test. */
const PARTS = Number(process.env.AVI_LINE_PARTS || 50);
/** A part judged by the models, or given the safe result at its deadline on a slow (shared) machine: not an error. */
const JUDGED = [0, ERROR_CODE.deadline];
const sha256 = (file: string) => createHash('sha256').update(readFileSync(path.join(REPO_ROOT, file))).digest('hex');

async function startBroker(): Promise<{ url: string; close: () => Promise<void> }> {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `mqtt://127.0.0.1:${port}`, close: () => new Promise((resolve) => broker.close(() => server.close(() => resolve()))) };
}

/** Everything the cell publishes under its UNS path, as the plant's MES would see it. */
class Uns {
  readonly results: any[] = [];
  readonly events: any[] = [];
  state: any;
  private constructor(private readonly client: MqttClient) {}
  static async connect(url: string): Promise<Uns> {
    const client = await connectAsync(url, { reconnectPeriod: 0 });
    const uns = new Uns(client);
    client.on('message', (topic, payload) => {
      const body = JSON.parse(payload.toString());
      if (topic === `${UNS}/avi/result`) uns.results.push(body);
      else if (topic === `${UNS}/avi/event`) uns.events.push(body);
      else if (topic === `${UNS}/avi/state`) uns.state = body;
    });
    await client.subscribeAsync(`${UNS}/avi/+`, { qos: 1 });
    return uns;
  }
  async until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what} on MQTT`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  resultsFor(partId: number): any[] {
    return this.results.filter((r) => r.partId === partId);
  }
  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

interface Protocol {
  name: 'opcua' | 'modbus' | 'mqtt';
  /** The PLC, started; and the example flow with its endpoints pointed at it and at the broker. */
  setup(brokerUrl: string): Promise<{ plc: SimulatedPlc; flows: any[] }>;
}

function pointBroker(flows: any[], url: string): void {
  const { hostname, port } = new URL(url);
  for (const n of flows) if (n.type === 'mqtt-broker') Object.assign(n, { broker: hostname, port });
}

const PROTOCOLS: Protocol[] = [
  {
    name: 'opcua',
    async setup(brokerUrl) {
      const plc = new OpcUaPlc(await freePort());
      await plc.start();
      const flows = exampleFlow('line-cell-opcua.json');
      pointBroker(flows, brokerUrl);
      for (const n of flows) if (n.type === 'OpcUa-Endpoint') n.endpoint = plc.endpoint;
      return { plc, flows };
    },
  },
  {
    name: 'modbus',
    async setup(brokerUrl) {
      const plc = new ModbusPlc(await freePort());
      await plc.start();
      const flows = exampleFlow('line-cell-modbus.json');
      pointBroker(flows, brokerUrl);
      for (const n of flows) if (n.type === 'modbus-client') Object.assign(n, { tcpHost: '127.0.0.1', tcpPort: String(plc.port) });
      return { plc, flows };
    },
  },
  {
    name: 'mqtt',
    async setup(brokerUrl) {
      const plc = new MqttPlc(brokerUrl, UNS);
      await plc.start();
      const flows = exampleFlow('line-cell-mqtt.json');
      pointBroker(flows, brokerUrl);
      return { plc, flows };
    },
  },
];

for (const protocol of PROTOCOLS) {
  describe(`line cell over ${protocol.name}: examples/line-cell-${protocol.name}.json in Node-RED`, function () {
    // Generous: a slow shared machine must not fail the test, only slow it (the rate is printed, never asserted).
    this.timeout(120_000 + PARTS * 2000);
    let broker: Awaited<ReturnType<typeof startBroker>>;
    let red: NodeRed | undefined;
    let plc: SimulatedPlc;
    let uns: Uns;
    let nextPart = 1000;

    before(async () => {
      broker = await startBroker();
      uns = await Uns.connect(broker.url);
      const setup = await protocol.setup(broker.url);
      plc = setup.plc;
      plc.heartbeat(200);
      red = await startNodeRed(setup.flows);
      // The cell writes its full image at start and on every heartbeat: the PLC sees it ready.
      await plc.until((c) => c.Ready === 1 && c.Heartbeat > 0, 30_000, 'the cell to be ready').catch((err) => {
        throw new Error(`${err.message}\n${red?.output()}`);
      });
      // One warm-up part per recipe, as a line runs a test part after a deploy: the first model runs are slow.
      for (const recipe of [2, 1]) {
        await plc.set({ RecipeIndex: recipe });
        await new Promise((r) => setTimeout(r, 100));
        await plc.cycle(nextPart++);
      }
    });

    after(async () => {
      await red?.stop();
      await plc?.close();
      await uns?.close();
      await broker?.close();
    });

    it(`${PARTS} parts: ${PARTS} results and ${PARTS} acknowledges, in order, each with its part id; each on MQTT with the models' SHA-256`, async () => {
      const first = nextPart;
      const presented: number[] = [];
      const started = Date.now();
      for (let i = 0; i < PARTS; i++) {
        const result = await plc.cycle(nextPart++);
        presented.push(result.ResultPartId);
        expect([RESULT_CODE.PASS, RESULT_CODE.FAIL, RESULT_CODE.REVIEW]).to.include(result.Result);
        // A part the models could not judge by its deadline gets the safe result (counted below); nothing else.
        expect(JUDGED, `part ${result.ResultPartId}: ${JSON.stringify(uns.resultsFor(result.ResultPartId))}`).to.include(result.ErrorCode);
        expect(result.Recipe).to.equal(1);
      }
      const seconds = (Date.now() - started) / 1000;
      const missed = plc.history.filter((c) => c.ResultReady === 1 && c.ResultPartId >= first && c.ErrorCode === ERROR_CODE.deadline);
      const missedParts = new Set(missed.map((c) => c.ResultPartId)).size;
      console.log(`      ${protocol.name}: ${PARTS} parts in ${seconds.toFixed(1)} s, ${(PARTS / seconds).toFixed(1)} parts/s, ${missedParts} past the deadline`);
      expect(presented).to.deep.equal(Array.from({ length: PARTS }, (_, i) => first + i));
      // The PLC saw each result exactly once: ResultReady rose once per part.
      const rises = plc.history.filter((c, i) => c.ResultReady === 1 && c.ResultPartId >= first && (i === 0 || plc.history[i - 1].ResultReady === 0 || plc.history[i - 1].ResultPartId !== c.ResultPartId));
      expect(rises.map((c) => c.ResultPartId)).to.deep.equal(presented);

      await uns.until(() => uns.results.filter((r) => r.partId >= first).length >= PARTS, 10_000, `${PARTS} results`);
      const records = uns.results.filter((r) => r.partId >= first && r.partId < first + PARTS);
      expect(records.map((r) => r.partId)).to.deep.equal(presented);
      const last = plc.history.filter((c) => c.ResultReady === 1);
      const judged = records.filter((r) => r.errorCode === 0);
      expect(judged.length, 'parts the models judged').to.be.above(0);
      expect(records.length - judged.length).to.equal(missedParts);
      for (const r of records) {
        const shown = last.find((c) => c.ResultPartId === r.partId)!;
        expect(r.resultCode).to.equal(shown.Result);
        expect(r.classCode).to.equal(shown.ClassCode);
        expect(r.unitCount).to.equal(shown.UnitCount);
        expect(r.recipe).to.deep.equal({ index: 1, name: 'round-white' });
      }
      for (const r of judged) {
        expect(r.models.detector.sha256).to.equal(sha256('models/pill-detector.onnx'));
        expect(r.models.classifier.sha256).to.equal(sha256('models/pill-defects.onnx'));
        expect(r.rulesHash).to.match(/^[0-9a-f]{64}$/);
        expect(r.timings.cycleMs).to.be.a('number');
        expect(JSON.stringify(r).length, 'no image buffers on the wire').to.be.below(4096);
      }
      expect(uns.state.counters.acknowledged).to.be.at.least(PARTS);
    });

    it('a recipe change between two triggers applies to the second part, not the first', async () => {
      const [a, b] = [nextPart++, nextPart++];
      await plc.set({ RecipeIndex: 1 });
      await plc.set({ Trigger: a });
      await plc.until((c) => c.ResultReady === 1 && c.ResultPartId === a, 10_000, `part ${a}`);
      // The changeover comes while part a's result waits; the PLC writes the recipe before the next trigger.
      await plc.set({ RecipeIndex: 2 });
      await new Promise((r) => setTimeout(r, 100));
      await plc.set({ Ack: a });
      const second = await plc.cycle(b);
      expect(plc.history.find((c) => c.ResultPartId === a && c.ResultReady === 1)!.Recipe).to.equal(1);
      expect(second.Recipe).to.equal(2);
      await uns.until(() => uns.resultsFor(b).length === 1, 5000, `part ${b}'s result`);
      const [ra, rb] = [uns.resultsFor(a)[0], uns.resultsFor(b)[0]];
      expect(ra.recipe.name).to.equal('round-white');
      expect(rb.recipe.name).to.equal('oval-blue');
      // Each recipe's own router rules judged its part (when both were judged before their deadline).
      if (ra.errorCode === 0 && rb.errorCode === 0) expect(ra.rulesHash).to.not.equal(rb.rulesHash);
      // One warm-up part per recipe, as a line runs a test part after a deploy: the first model runs are slow.
      for (const recipe of [2, 1]) {
        await plc.set({ RecipeIndex: recipe });
        await new Promise((r) => setTimeout(r, 100));
        await plc.cycle(nextPart++);
      }
    });

    it('an unknown recipe index is an error result to the PLC, not a guess', async () => {
      const part = nextPart++;
      await plc.set({ RecipeIndex: 9 });
      await new Promise((r) => setTimeout(r, 100));
      const result = await plc.cycle(part);
      expect(result).to.include({ Result: RESULT_CODE.FAIL, ErrorCode: ERROR_CODE.unknownRecipe, Recipe: 0 });
      await plc.set({ RecipeIndex: 1 });
      await new Promise((r) => setTimeout(r, 100));
    });

    it('a trigger while busy is queued: both parts get their results, in order', async () => {
      const [a, b] = [nextPart++, nextPart++];
      await plc.set({ Trigger: a });
      await plc.until((c) => c.Busy === 1 || c.ResultPartId === a, 10_000, `part ${a} taken`);
      await plc.set({ Trigger: b });
      const ra = await plc.until((c) => c.ResultReady === 1 && c.ResultPartId === a, 10_000, `part ${a}`);
      expect(JUDGED).to.include(ra.ErrorCode);
      await plc.set({ Ack: a });
      const rb = await plc.until((c) => c.ResultReady === 1 && c.ResultPartId === b, 10_000, `part ${b}`);
      expect(JUDGED).to.include(rb.ErrorCode);
      await plc.set({ Ack: b });
      await plc.until((c) => c.Ready === 1, 5000, 'ready');
      await uns.until(() => uns.events.some((e) => e.type === 'busyTrigger' && e.partId === b), 5000, 'the busyTrigger event');
    });

    it('a missing acknowledge: the result stays presented with the ack-timeout alarm, until the PLC acknowledges', async () => {
      const part = nextPart++;
      await plc.set({ Trigger: part });
      await plc.until((c) => c.ResultReady === 1 && c.ResultPartId === part, 10_000, `part ${part}`);
      const alarmed = await plc.until((c) => c.Alarm === ALARM_CODE.ackTimeout, 5000, 'the ack-timeout alarm');
      expect(alarmed).to.include({ ResultReady: 1, ResultPartId: part });
      await uns.until(() => uns.events.some((e) => e.type === 'ackTimeout' && e.partId === part), 5000, 'the ackTimeout event');
      await plc.set({ Ack: part });
      const after = await plc.until((c) => c.Ready === 1, 5000, 'ready after the late acknowledge');
      expect(after.Alarm).to.equal(0);
      expect(uns.resultsFor(part)).to.have.length(1);
    });

    it('a PLC restart mid-cycle: parts in flight are closed with a record each, the cell is ready for the restarted PLC', async () => {
      const [a, b] = [nextPart++, nextPart++];
      await plc.set({ Trigger: a });
      await plc.until((c) => c.ResultReady === 1 && c.ResultPartId === a, 10_000, `part ${a}`);
      await plc.set({ Trigger: b });
      // The cell has taken part b (queued behind a's unacknowledged result) before the PLC restarts.
      await uns.until(() => uns.events.some((e) => e.type === 'busyTrigger' && e.partId === b), 5000, `part ${b} taken`);
      await plc.restart();
      const after = await plc.until((c) => c.Ready === 1 && c.ResultReady === 0, 10_000, 'ready after the restart');
      expect(after.Alarm).to.equal(ALARM_CODE.plcRestart);
      await uns.until(() => uns.events.some((e) => e.type === 'plcRestart'), 5000, 'the plcRestart event');
      await uns.until(() => uns.resultsFor(b).length >= 1, 5000, `a result record for part ${b}`);
      // Every part has exactly one result record, whether it was judged before the restart or closed by it.
      expect(uns.resultsFor(a)).to.have.length(1);
      expect(uns.resultsFor(b)).to.have.length(1);
      // The restarted PLC carries on with new parts.
      const next = nextPart++;
      await new Promise((r) => setTimeout(r, 100));
      const result = await plc.cycle(next);
      expect(JUDGED).to.include(result.ErrorCode);
      expect(plc.cell.Alarm).to.equal(0);
    });

    if (protocol.name !== 'mqtt') {
      it("a lost connection: the cell reports the link lost, keeps the part's result, and re-writes it when the PLC is back", async () => {
        const part = nextPart++;
        await plc.set({ Trigger: part });
        await plc.until((c) => c.ResultReady === 1 && c.ResultPartId === part, 10_000, `part ${part}`);
        const lossesBefore = uns.state.counters.linkLosses;
        const since = uns.events.length;
        const after = (type: string) => uns.events.slice(since).some((e) => e.type === type);
        await plc.stop();
        await uns.until(() => after('linkLost'), 15_000, 'the linkLost event');
        plc.cell = { ...plc.cell, ResultReady: 0 };
        await plc.start();
        const back = await plc.until((c) => c.ResultReady === 1 && c.ResultPartId === part, 30_000, `part ${part}'s result after the link is back`);
        expect(JUDGED).to.include(back.ErrorCode);
        await plc.set({ Ack: part });
        await plc.until((c) => c.Ready === 1, 5000, 'ready');
        await uns.until(() => after('linkBack'), 5000, 'the linkBack event');
        // At least this loss (a machine loaded enough to stall the poller can add its own).
        expect(uns.state.counters.linkLosses).to.be.at.least(lossesBefore + 1);
        expect(uns.resultsFor(part)).to.have.length(1);
      });
    }
  });
}
