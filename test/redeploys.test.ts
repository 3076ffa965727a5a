// 30 redeploys, full and "modified nodes only", while frames flow through the demo chain in a real Node-RED 4
// runtime with the demo models: every message that entered one of our nodes ends sent on or with an error a Catch
// node sees; what Node-RED itself loses is counted apart and may only be messages in transit when a deploy began.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import type { RedeployReport } from '../bench/redeploys';

describe('redeploys under load', function () {
  this.timeout(180_000);
  let report: RedeployReport;

  before(async () => {
    // A process of its own: Node-RED's runtime is one per process, and other specs use the test helper's.
    const runner = path.join(__dirname, '..', 'bench', 'redeploys.js');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [runner, '--redeploys', '30', '--interval', '50', '--gap', '500'], { maxBuffer: 64 << 20, timeout: 150_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      ),
    );
    report = JSON.parse(stdout.trim().split('\n').pop()!);
  });

  it('deploys 15 times in full and 15 times modified nodes only, with frames flowing', () => {
    expect(report.deploys).to.deep.equal({ full: 15, nodes: 15, flows: 0 });
    expect(report.frames).to.be.greaterThan(150);
    expect(report.out).to.be.greaterThan(0);
  });

  it('ends every message that entered one of our nodes exactly once: sent on, or done(err)', () => {
    expect(report.faults, JSON.stringify(report.faults.slice(0, 5))).to.deep.equal([]);
  });

  it('gives every frame exactly one ending: out of the chain, caught, or lost by Node-RED', () => {
    expect(report.open, 'frames without an ending').to.deep.equal([]);
    expect(report.out + report.caught + report.droppedByNodeRed).to.equal(report.frames);
  });

  it('loses to Node-RED only messages in transit when a deploy began or sent by its own nodes during one, none that ours sent or reported', () => {
    const nodeRedOnly = [
      // Routed before the deploy, delivered (on the next turn of the event loop) to a node it had closed.
      /^handed to a node that had closed: .*, (full|nodes) deploy, in transit when it began$/,
      // The core node frames come in by, sending to a detector the deploy is restarting.
      /^sent to a node that was not running: change -> rd-detector, nodes deploy, sent during it$/,
    ];
    const others = Object.keys(report.drops).filter((d) => !nodeRedOnly.some((allowed) => allowed.test(d)));
    expect(others, JSON.stringify(report.drops)).to.deep.equal([]);
  });

  it('ends messages a deploy stops where a Catch node sees them, and finishes those whose next nodes stay', () => {
    // Waiting messages (and, where the next nodes stop too, those in work) end with an error while Catch nodes run.
    expect(report.caughtErrors['node closed before this message was processed'] ?? 0).to.be.greaterThan(0);
    // A node a "modified nodes" deploy restarts finishes its work in close() and sends it to the nodes that stay.
    expect(report.sentOnWhileStopping).to.be.greaterThan(0);
  });
});
