// avi-record: a record of every verdict that passes, in the audit store (hash-chained, append-only), with the
// original frame kept by its SHA-256. Outputs by the verdict's result, as avi-router's: 1 pass, 2 reject, 3 review.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { FrameFile, RecordResult, RecorderState } from '../core/records/recorder';
import { verdictBody } from '../core/records/verdict-record';
import type { Verdict, VerdictResult } from '../core/types';
import type { AuditStoreNode } from './audit-store';
import { errorMessage, failMessage, statusError, statusOk, statusWarn, type Done, type Msg, type Send } from './common';

interface RecordNodeDef extends NodeDef {
  store: string;
  line: string;
  cell: string;
  maxInFlight: string | number;
}

const OUTPUT: Record<VerdictResult, number> = { PASS: 0, FAIL: 1, REVIEW: 2 };

/**
 * The frame as it arrived, to keep: the encoded original on msg.image (or its file), else an encoded Buffer
 * in msg.payload. The record writer reads and hashes it, off Node-RED's thread.
 */
export function frameFileOf(msg: Msg): FrameFile | undefined {
  const image = msg.image;
  const format = String(image?.format || path.extname(String(image?.path ?? '')).slice(1) || 'bin').toLowerCase();
  const ext = format === 'jpeg' ? 'jpg' : format === 'tiff' ? 'tif' : format;
  if (image?.encoded instanceof Uint8Array) return { bytes: image.encoded, ext };
  if (typeof image?.path === 'string' && image.path) return { path: image.path, ext };
  if (!image && Buffer.isBuffer(msg.payload)) return { bytes: msg.payload, ext };
  return undefined;
}

function isVerdict(v: unknown): v is Verdict {
  return !!v && typeof v === 'object' && typeof (v as Verdict).result === 'string' && Array.isArray((v as Verdict).units);
}

export default function (RED: NodeAPI): void {
  function AviRecordNode(this: Node, config: RecordNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const store = RED.nodes.getNode(config.store) as AuditStoreNode | null;
    const maxInFlight = Number(config.maxInFlight) > 0 ? Number(config.maxInFlight) : 1000;
    let inFlight = 0;
    let tail: Promise<void> = Promise.resolve();
    let lastSeq = 0;

    const showState = (s: RecorderState) => {
      if (!s.healthy) statusWarn(node, RED._('avi-record.status.spooling', { waiting: s.spooled, error: s.lastError ?? '' }));
      else if (s.spooled > 0) statusWarn(node, RED._('avi-record.status.draining', { waiting: s.spooled }));
      else statusOk(node, lastSeq ? RED._('avi-record.status.stored', { seq: lastSeq }) : RED._('avi-record.status.ready'));
    };
    if (!store?.recorder) {
      statusError(node, store?.configError ?? RED._('avi-record.status.noStore'));
    } else {
      const events = store as unknown as NodeJS.EventEmitter;
      events.on('recorder-state', showState);
      node.on('close', () => events.removeListener('recorder-state', showState));
      showState(store.state);
    }

    node.on('input', (msg: Msg, send: Send, done: Done) => {
      const fail = (err: unknown) => {
        statusError(node, errorMessage(err));
        failMessage(err instanceof Error ? err : new Error(String(err)), done);
      };
      if (!store?.recorder) return fail(new Error(store?.configError ?? 'no avi-audit-store selected: open the node and choose or add one'));
      if (!isVerdict(msg.verdict)) return fail(new Error('no msg.verdict: avi-record records what avi-router decided; wire it after the router'));
      if (inFlight >= maxInFlight) return fail(new Error(`record writer busy: ${inFlight} records already waiting; this one was not recorded`));
      const verdict = msg.verdict as Verdict;
      const frame = frameFileOf(msg);
      let body: Record<string, unknown>;
      try {
        body = verdictBody(verdict, msg.detections, {
          line: msg.line ?? config.line,
          cell: msg.cell ?? config.cell,
          partId: msg.partId,
          batch: msg.batch,
          recipe: msg.recipe,
          frame: { format: msg.image?.format, width: msg.image?.width, height: msg.image?.height, path: msg.image?.path, kept: !!frame },
        });
      } catch (err) {
        return fail(err);
      }
      inFlight++;
      const writing = store.recorder.record({ id: randomUUID(), time: new Date().toISOString(), kind: 'verdict', body }, frame);
      // Messages leave in the order they came, each once its record is durable.
      tail = tail.then(() =>
        writing.then(
          (result: RecordResult) => {
            inFlight--;
            msg.record = { ...result.record, status: result.status, body: result.body };
            if (result.status === 'stored') lastSeq = result.record.seq;
            showState(store.state);
            const outputs: Array<Msg | null> = [null, null, null];
            outputs[OUTPUT[verdict.result] ?? 0] = msg;
            send(outputs);
            done();
          },
          (err) => {
            inFlight--;
            fail(err);
          },
        ),
      );
    });
  }
  RED.nodes.registerType('avi-record', AviRecordNode);
}
