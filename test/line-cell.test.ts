// The handshake's state machine without Node-RED: each documented outcome of docs/plc-handshake.md.
import { expect } from 'chai';
import { Cell, worstUnit, type CellOptions, type Decision } from '../src/core/line/cell';
import { cellRegisters, cellTagsFromRegisters, plcRegisters, plcTagsFromRegisters, ALARM_CODE, ERROR_CODE, RESULT_CODE } from '../src/core/line/tags';

const OPTIONS: CellOptions = {
  deadlineMs: 500,
  safeResult: 'FAIL',
  ackTimeoutMs: 1000,
  plcTimeoutMs: 2000,
  maxInFlight: 3,
  recipes: [
    { index: 1, name: 'round-white' },
    { index: 2, name: 'oval-blue' },
  ],
  classCodes: ['good', 'crack'],
};

const pass: Decision = { result: 'PASS', reasons: [], units: [{ class: 'good', confidence: 0.9, result: 'PASS' }] };
const crack: Decision = {
  result: 'FAIL',
  reasons: ['unit 1: crack 0.80 >= reject 0.50 (critical)'],
  units: [
    { class: 'good', confidence: 0.9, result: 'PASS' },
    { class: 'crack', confidence: 0.8, result: 'FAIL', severity: 'critical' },
  ],
};

/** A cell that has seen the PLC at rest (Trigger 0) at time 0. */
function cell(options: Partial<CellOptions> = {}): Cell {
  const c = new Cell({ ...OPTIONS, ...options }, 0);
  c.plcTags({ Trigger: 0, Ack: 0, RecipeIndex: 0, PlcHeartbeat: 1 }, 0);
  c.drain();
  return c;
}

describe('line cell: the handshake state machine', () => {
  it('trigger, verdict, result presented with its part id, acknowledge, ready again', () => {
    const c = cell();
    expect(c.tags).to.include({ Ready: 1, Busy: 0, ResultReady: 0 });
    c.plcTags({ Trigger: 41 }, 10);
    const out = c.drain();
    expect(out.inspect).to.have.length(1);
    expect(out.inspect[0]).to.include({ partId: 41, deadlineAt: 510 });
    expect(out.inspect[0].recipe).to.deep.equal({ index: 1, name: 'round-white' });
    expect(c.tags).to.include({ Ready: 0, Busy: 1, ResultReady: 0 });

    c.verdict(out.inspect[0].seq, crack, 60);
    const decided = c.drain();
    expect(decided.results[0]).to.include({ partId: 41, result: 'FAIL', resultCode: RESULT_CODE.FAIL, class: 'crack', classCode: 2, unitCount: 2, errorCode: 0 });
    expect(c.tags).to.include({ Ready: 0, Busy: 0, ResultReady: 1, ResultPartId: 41, Result: 2, ClassCode: 2, UnitCount: 2, ErrorCode: 0, Recipe: 1 });

    c.plcTags({ Ack: 41 }, 80);
    expect(c.tags).to.include({ Ready: 1, Busy: 0, ResultReady: 0, ResultPartId: 41, Result: 0 });
    expect(c.counters).to.include({ triggers: 1, results: 1, acknowledged: 1, fail: 1 });
  });

  it('deadline: no verdict in time gives the safe result with a reason; the late verdict is counted, not used', () => {
    const c = cell({ safeResult: 'REVIEW' });
    c.plcTags({ Trigger: 7 }, 0);
    const seq = c.drain().inspect[0].seq;
    expect(c.nextWakeup()).to.equal(500);
    c.tick(499);
    expect(c.drain().results).to.have.length(0);
    c.tick(500);
    const [result] = c.drain().results;
    expect(result).to.include({ partId: 7, result: 'REVIEW', resultCode: 3, error: 'deadline', errorCode: ERROR_CODE.deadline });
    expect(result.reasons[0]).to.match(/deadline of 500 ms/);
    expect(c.tags).to.include({ ResultReady: 1, ResultPartId: 7, Result: 3, ErrorCode: 1 });
    expect(c.verdict(seq, pass, 600)).to.equal(undefined);
    expect(c.drain().events.map((e) => e.type)).to.deep.equal(['late']);
    expect(c.counters).to.include({ deadlineMissed: 1, late: 1, results: 1 });
    expect(c.tags).to.include({ Result: 3 });
  });

  it('trigger while busy: queued and answered in order; one more than the bound is an overrun with its own result', () => {
    const c = cell();
    c.plcTags({ Trigger: 1 }, 0);
    c.plcTags({ Trigger: 2 }, 1);
    c.plcTags({ Trigger: 3 }, 2);
    c.plcTags({ Trigger: 4 }, 3);
    const out = c.drain();
    expect(out.inspect.map((i) => i.partId)).to.deep.equal([1, 2, 3]);
    expect(out.events.map((e) => e.type)).to.deep.equal(['busyTrigger', 'busyTrigger', 'overrun']);
    expect(out.results).to.have.length(1);
    expect(out.results[0]).to.include({ partId: 4, result: 'FAIL', error: 'overrun', errorCode: ERROR_CODE.overrun });
    expect(c.tags.Alarm).to.equal(ALARM_CODE.overrun);
    // Verdicts out of order still present in trigger order.
    c.verdict(out.inspect[1].seq, crack, 10);
    expect(c.tags).to.include({ ResultReady: 0, Busy: 1 });
    c.verdict(out.inspect[0].seq, pass, 11);
    expect(c.tags).to.include({ ResultReady: 1, ResultPartId: 1, Result: 1 });
    c.plcTags({ Ack: 1 }, 12);
    expect(c.tags).to.include({ ResultReady: 1, ResultPartId: 2, Result: 2, Busy: 1, Alarm: 0 });
    c.plcTags({ Ack: 2 }, 13);
    expect(c.tags).to.include({ ResultReady: 0, Busy: 1 });
  });

  it('missing acknowledge: the result stays presented, the alarm is raised once, cleared by the acknowledge', () => {
    const c = cell();
    c.plcTags({ Trigger: 5 }, 0);
    c.verdict(c.drain().inspect[0].seq, pass, 100);
    c.drain();
    expect(c.nextWakeup()).to.equal(1100);
    c.tick(1100);
    const out = c.drain();
    expect(out.events.map((e) => e.type)).to.deep.equal(['ackTimeout']);
    expect(c.tags).to.include({ ResultReady: 1, ResultPartId: 5, Alarm: ALARM_CODE.ackTimeout });
    c.tick(5000);
    expect(c.drain().events.filter((e) => e.type === 'ackTimeout')).to.have.length(0);
    c.plcTags({ Ack: 5 }, 5001);
    expect(c.tags).to.include({ ResultReady: 0, Ready: 1, Alarm: 0 });
    expect(c.counters.ackTimeouts).to.equal(1);
  });

  it('PLC restart mid-cycle (heartbeat back, or Trigger to 0): parts in flight are recorded with the safe result, the cell is ready', () => {
    for (const restart of [{ PlcHeartbeat: 0 }, { Trigger: 0 }]) {
      const c = cell();
      c.plcTags({ PlcHeartbeat: 50 }, 0);
      c.plcTags({ Trigger: 8 }, 1);
      c.plcTags({ Trigger: 9 }, 2);
      const [first] = c.drain().inspect;
      c.verdict(first.seq, pass, 3);
      c.drain();
      c.plcTags(restart, 4);
      const out = c.drain();
      expect(out.results.map((r) => [r.partId, r.result, r.error])).to.deep.equal([[9, 'FAIL', 'plcRestart']]);
      expect(out.events.map((e) => e.type)).to.deep.equal(['unacknowledged', 'plcRestart']);
      expect(c.tags).to.include({ Ready: 1, Busy: 0, ResultReady: 0, Alarm: ALARM_CODE.plcRestart });
      expect(c.counters.plcRestarts).to.equal(1);
      // The next trigger after the restart is a new part, and clears the alarm.
      c.plcTags({ Trigger: 1 }, 10);
      expect(c.drain().inspect.map((i) => i.partId)).to.deep.equal([1]);
      expect(c.tags.Alarm).to.equal(0);
    }
  });

  it('after a deploy, the first Trigger seen is a part waiting for its result unless the PLC acknowledged it already', () => {
    const waiting = new Cell(OPTIONS, 0);
    waiting.plcTags({ Trigger: 12, Ack: 11 }, 0);
    expect(waiting.drain().inspect.map((i) => i.partId)).to.deep.equal([12]);
    const done = new Cell(OPTIONS, 0);
    done.plcTags({ Ack: 12 }, 0);
    done.plcTags({ Trigger: 12 }, 0);
    expect(done.drain().inspect).to.have.length(0);
    expect(done.tags.Ready).to.equal(1);
  });

  it('a heartbeat wrapping from 65535 to 0 is not a restart', () => {
    const c = cell();
    c.plcTags({ PlcHeartbeat: 65535 }, 0);
    c.plcTags({ PlcHeartbeat: 2 }, 1);
    expect(c.counters.plcRestarts).to.equal(0);
  });

  it('connection loss: Ready drops, the part still gets its result by its deadline, the handshake resumes on return', () => {
    const c = cell();
    c.plcTags({ Trigger: 11 }, 0);
    c.drain();
    c.tick(400);
    c.connection(false, 400);
    expect(c.drain().events.map((e) => e.type)).to.deep.equal(['linkLost']);
    c.tick(500);
    expect(c.drain().results[0]).to.include({ partId: 11, error: 'deadline' });
    c.plcTags({ PlcHeartbeat: 2 }, 3000);
    const back = c.drain();
    expect(back.events.map((e) => e.type)).to.deep.equal(['linkBack']);
    expect(back.write).to.equal(true);
    expect(c.tags).to.include({ ResultReady: 1, ResultPartId: 11 });
    c.plcTags({ Ack: 11 }, 3001);
    expect(c.tags).to.include({ Ready: 1 });
    expect(c.counters.linkLosses).to.equal(1);
  });

  it('the PLC watchdog: no tags for the PLC timeout is a lost link', () => {
    const c = cell();
    expect(c.nextWakeup()).to.equal(2000);
    c.tick(2000);
    expect(c.drain().events.map((e) => e.type)).to.deep.equal(['linkLost']);
    expect(c.tags.Ready).to.equal(0);
  });

  it('recipes: latched at the trigger, so a change between two triggers applies to the second only; unknown is an error result', () => {
    const c = cell({ maxInFlight: 10 });
    c.plcTags({ RecipeIndex: 1, Trigger: 1 }, 0);
    c.plcTags({ RecipeIndex: 2 }, 1);
    c.plcTags({ Trigger: 2 }, 2);
    expect(c.drain().inspect.map((i) => i.recipe?.name)).to.deep.equal(['round-white', 'oval-blue']);
    c.plcTags({ RecipeIndex: 9, Trigger: 3 }, 3);
    const out = c.drain();
    expect(out.inspect).to.have.length(0);
    expect(out.results[0]).to.include({ partId: 3, result: 'FAIL', error: 'unknownRecipe', errorCode: ERROR_CODE.unknownRecipe });
    // A message chooses the recipe while the PLC's index is 0.
    c.plcTags({ RecipeIndex: 0 }, 4);
    c.selectRecipe('oval-blue');
    c.plcTags({ Trigger: 4 }, 5);
    expect(c.drain().inspect[0].recipe?.index).to.equal(2);
    expect(() => c.selectRecipe(7)).to.throw(/unknown recipe 7/);
  });

  it('an inspection failure is the safe result with the reason', () => {
    const c = cell();
    c.plcTags({ Trigger: 3 }, 0);
    c.failure(c.drain().inspect[0].seq, 'unsupported image format', 5);
    expect(c.drain().results[0]).to.include({ partId: 3, result: 'FAIL', errorCode: ERROR_CODE.inspection });
    expect(() => c.verdict(99, pass, 6)).to.throw(/no inspection 99/);
  });

  it('the worst unit: FAIL before REVIEW before PASS, then severity, then confidence', () => {
    expect(
      worstUnit([
        { class: 'a', confidence: 0.99, result: 'REVIEW' },
        { class: 'b', confidence: 0.6, result: 'FAIL', severity: 'minor' },
        { class: 'c', confidence: 0.55, result: 'FAIL', severity: 'critical' },
        { class: 'd', confidence: 0.9, result: 'FAIL', severity: 'critical' },
      ])?.class,
    ).to.equal('d');
    expect(worstUnit([])).to.equal(undefined);
  });

  it('Modbus register blocks round-trip, part ids as two words, high first', () => {
    const plc = { Trigger: 70000, Ack: 65535, RecipeIndex: 2, PlcHeartbeat: 9 };
    expect(plcRegisters(plc)).to.deep.equal([1, 4464, 0, 65535, 2, 9]);
    expect(plcTagsFromRegisters(plcRegisters(plc))).to.deep.equal(plc);
    const c = cell();
    c.plcTags({ Trigger: 123456 }, 0);
    c.verdict(c.drain().inspect[0].seq, crack, 1);
    const words = cellRegisters(c.tags);
    expect(words).to.have.length(12);
    expect(cellTagsFromRegisters(words)).to.deep.equal(c.tags);
  });
});
