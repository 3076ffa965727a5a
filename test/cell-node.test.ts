// avi-cell in a real Node-RED runtime: the test plays the PLC (tags in) and the inspection (verdicts back).
import { expect } from 'chai';
import { cellTagsFromRegisters, ERROR_CODE, RESULT_CODE } from '../src/core/line/tags';

const helper = require('node-red-node-test-helper');
const cellNode = require('../../nodes/avi-cell.js');

helper.init(require.resolve('node-red'));

const VERDICT = {
  result: 'FAIL',
  reasons: ['unit 0: crack 0.90 >= reject 0.50 (critical)'],
  units: [{ detectionId: 0, class: 'crack', confidence: 0.9, result: 'FAIL', severity: 'critical' }],
  counts: { total: 1, pass: 0, fail: 1, review: 0, byClass: { crack: 1 } },
  rulesHash: 'a'.repeat(64),
  models: { detector: { name: 'd.onnx', sha256: 'b'.repeat(64), path: '/x/d.onnx' } },
};

async function load(config: Record<string, unknown>) {
  const flow = [
    { id: 'cell', type: 'avi-cell', topic: 'acme/pack/line2/cell1', deadline: 150, safeResult: 'REVIEW', ackTimeout: 5000, plcTimeout: 0, maxInFlight: 4, heartbeat: 10000, recipes: '1=a, 2=b', classCodes: 'good, crack', writeAs: 'tags', ...config, wires: [['writes'], ['inspect'], ['records']] },
    { id: 'writes', type: 'helper' },
    { id: 'inspect', type: 'helper' },
    { id: 'records', type: 'helper' },
  ];
  await helper.load([cellNode], flow);
  const got: Record<string, any[]> = { writes: [], inspect: [], records: [] };
  for (const id of Object.keys(got)) helper.getNode(id).on('input', (msg: any) => got[id].push(msg));
  const cell = helper.getNode('cell');
  const until = async (check: () => boolean, what: string) => {
    for (let waited = 0; !check(); waited += 5) {
      if (waited > 3000) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return { cell, got, until };
}

describe('avi-cell in Node-RED', () => {
  afterEach(() => helper.unload());

  it('a verdict not given by the deadline is the safe result with its reason; the late verdict is only counted', async () => {
    const { cell, got, until } = await load({});
    cell.receive({ payload: { Trigger: 0, Ack: 0, PlcHeartbeat: 1 } });
    cell.receive({ payload: { Trigger: 77 } });
    await until(() => got.inspect.length === 1, 'the inspection');
    const inspect = got.inspect[0];
    expect(inspect).to.include({ partId: 77 });
    expect(inspect.recipe).to.deep.equal({ index: 1, name: 'a' });
    await until(() => got.records.some((m) => m.topic === 'acme/pack/line2/cell1/avi/result'), 'the deadline result');
    const record = got.records.find((m) => m.topic.endsWith('/result')).payload;
    expect(record).to.include({ partId: 77, result: 'REVIEW', resultCode: RESULT_CODE.REVIEW, error: 'deadline', errorCode: ERROR_CODE.deadline });
    expect(record.reasons[0]).to.match(/deadline of 150 ms/);
    expect(got.writes.at(-1).payload).to.include({ ResultReady: 1, ResultPartId: 77, Result: 3, ErrorCode: 1 });
    expect(got.writes.at(-1)).to.include({ topic: 'acme/pack/line2/cell1/avi/handshake/cell', retain: true });
    // The verdict arrives after the deadline: counted late, not presented.
    cell.receive({ ...inspect, verdict: VERDICT });
    await until(() => got.records.some((m) => m.topic.endsWith('/event') && m.payload.type === 'late'), 'the late event');
    expect(got.writes.at(-1).payload).to.include({ Result: 3 });
    const state = got.records.filter((m) => m.topic.endsWith('/state')).at(-1);
    expect(state.retain).to.equal(true);
    expect(state.payload.counters).to.include({ deadlineMissed: 1, late: 1, results: 1 });
  });

  it('a verdict in time is presented with the worst unit\'s class code; its record names models, rules and recipe, with no image', async () => {
    const { cell, got, until } = await load({ deadline: 5000 });
    cell.receive({ payload: { Trigger: 0, Ack: 0 } });
    cell.receive({ topic: 'recipe', payload: 'b' });
    cell.receive({ payload: { Trigger: 5 } });
    await until(() => got.inspect.length === 1, 'the inspection');
    cell.receive({ ...got.inspect[0], image: { encoded: Buffer.alloc(1000), format: 'jpeg' }, verdict: VERDICT });
    await until(() => got.records.some((m) => m.topic.endsWith('/result')), 'the result');
    const record = got.records.find((m) => m.topic.endsWith('/result')).payload;
    expect(record).to.include({ partId: 5, result: 'FAIL', class: 'crack', classCode: 2, unitCount: 1, errorCode: 0, rulesHash: 'a'.repeat(64) });
    expect(record.recipe).to.deep.equal({ index: 2, name: 'b' });
    expect(record.models).to.deep.equal({ detector: { name: 'd.onnx', sha256: 'b'.repeat(64) } });
    expect(record).to.not.have.property('image');
    expect(got.writes.at(-1).payload).to.include({ ResultReady: 1, ResultPartId: 5, Result: 2, ClassCode: 2, Recipe: 2 });
  });

  it('an inspection error from a Catch node is the safe result at once, with the error as the reason', async () => {
    const { cell, got, until } = await load({ deadline: 5000, safeResult: 'FAIL' });
    cell.receive({ payload: { Trigger: 0 } });
    cell.receive({ payload: { Trigger: 6 } });
    await until(() => got.inspect.length === 1, 'the inspection');
    cell.receive({ ...got.inspect[0], error: { message: 'unsupported image format', source: { id: 'x' } } });
    await until(() => got.records.some((m) => m.topic.endsWith('/result')), 'the result');
    const record = got.records.find((m) => m.topic.endsWith('/result')).payload;
    expect(record).to.include({ partId: 6, result: 'FAIL', errorCode: ERROR_CODE.inspection });
    expect(record.reasons[0]).to.match(/unsupported image format/);
  });

  it('writes OPC UA writemultiple and Modbus FC 16 as set, and reads OPC UA items and Modbus register blocks', async () => {
    const opcua = await load({ writeAs: 'opcua', opcuaPrefix: 'ns=3;s=Line2.' });
    opcua.cell.receive({ topic: 'ns=3;s=Line2.Trigger', payload: 0 });
    opcua.cell.receive({ topic: 'ns=3;s=Line2.Trigger', payload: 9 });
    await opcua.until(() => opcua.got.inspect.length === 1, 'the inspection');
    const write = opcua.got.writes.at(-1);
    expect(write.topic).to.equal('writemultiple');
    expect(write.payload.find((w: any) => w.nodeId === 'ns=3;s=Line2.Busy').value.value).to.deep.equal({ dataType: 'Boolean', value: true });
    expect(write.payload.find((w: any) => w.nodeId === 'ns=3;s=Line2.ResultPartId').value.value.dataType).to.equal('UInt32');
    await helper.unload();

    const modbus = await load({ writeAs: 'modbus', modbusAddress: 200, modbusUnit: 3 });
    modbus.cell.receive({ payload: [0, 0, 0, 0, 0, 1] });
    modbus.cell.receive({ payload: [1, 4464, 0, 0, 0, 2] });
    await modbus.until(() => modbus.got.inspect.length === 1, 'the inspection');
    expect(modbus.got.inspect[0].partId).to.equal(70000);
    const fc16 = modbus.got.writes.at(-1).payload;
    expect(fc16).to.include({ fc: 16, unitid: 3, address: 200, quantity: 12 });
    expect(cellTagsFromRegisters(fc16.value)).to.include({ Busy: 1, Ready: 0 });
  });

  it('a message it cannot use is an error for a Catch node, and the handshake carries on', async () => {
    const { cell, got, until } = await load({});
    const errors: any[] = [];
    cell.on('call:error', (call: any) => errors.push(call));
    cell.receive({ topic: 'speed', payload: 3 });
    cell.receive({ topic: 'recipe', payload: 'c' });
    cell.receive({ payload: { Trigger: 'abc' } });
    cell.receive({ cell: { instance: 'other', seq: 1, partId: 1 }, verdict: VERDICT });
    await until(() => errors.length === 4, 'four errors');
    expect(errors.map((e) => String(e.args[0]))).to.satisfy((m: string[]) =>
      /not a PLC tag/.test(m[0]) && /unknown recipe "c"/.test(m[1]) && /Trigger must be a whole number/.test(m[2]) && /another avi-cell/.test(m[3]));
    cell.receive({ payload: { Trigger: 0 } });
    cell.receive({ payload: { Trigger: 1 } });
    await until(() => got.inspect.length === 1, 'the inspection after the errors');
  });

  it('refuses bad settings at deploy with a clear error', async () => {
    const { cell } = await load({ recipes: '1=a, 1=b' });
    const error = new Promise((resolve) => cell.once('call:error', resolve));
    cell.receive({ payload: { Trigger: 1 } });
    expect(String(((await error) as any).args[0])).to.match(/recipe index 1 is used twice/);
  });
});
