// Signed review decisions (21 CFR 11.50, 11.70): the signature names the signer, the time and the meaning,
// and carries the hash of exactly what was signed, including the hash of the machine's verdict record, so
// a signature copied onto another record or another decision no longer matches.
import { canonicalJson, sha256Hex } from './canonical';
import type { ChainedRecord, RecordCheck } from './chain';
import type { VerdictResult } from '../types';

export type UnitDecisionKind = 'good' | 'reject' | 'class';

/** The reviewer's decision on one unit. */
export interface UnitDecision {
  detectionId: number;
  /** What the machine said. */
  machineClass: string;
  machineResult: VerdictResult;
  decision: UnitDecisionKind;
  /** The unit's class after review: the reviewer's where it differs from the machine's. */
  class: string;
  result: 'PASS' | 'FAIL';
  reason?: string;
}

export interface ReviewDecision {
  result: 'PASS' | 'FAIL';
  units: UnitDecision[];
  reason: string;
}

/** The record of the machine verdict a review decides. */
export interface RecordLink {
  id: string;
  chain: string;
  seq: number;
  hash: string;
}

export interface Signature {
  userId: string;
  /** 11.50(a)(1): the signer's printed name. */
  printedName: string;
  role: string;
  /** 11.50(a)(2): when it was signed, ISO 8601 UTC. */
  time: string;
  /** 11.50(a)(3): what the signature means. */
  meaning: string;
  /** 11.200(a)(1): which components were given: "user ID and password" or "password" (later signing in a session). */
  components: string;
  /** 11.70: SHA-256 of the canonical form of { verdictRecord, decision, userId, printedName, time, meaning }. */
  signedHash: string;
}

export interface ReviewBody {
  verdictRecord: RecordLink;
  decision: ReviewDecision;
  signature: Signature;
  /** Where the unit was: copied from the verdict record for the export. */
  line?: string;
  cell?: string;
  partId?: string;
  batch?: string;
}

export function signatureMeaning(result: 'PASS' | 'FAIL'): string {
  return result === 'PASS'
    ? 'Review: I examined this unit and release it (PASS), overriding or confirming the machine verdict for the reason given'
    : 'Review: I examined this unit and reject it (FAIL), overriding or confirming the machine verdict for the reason given';
}

export function signedHash(verdictRecord: RecordLink, decision: ReviewDecision, s: Omit<Signature, 'signedHash' | 'role' | 'components'>): string {
  return sha256Hex(canonicalJson({ verdictRecord, decision, userId: s.userId, printedName: s.printedName, time: s.time, meaning: s.meaning }));
}

/** 11.70: every review record's signature matches its own decision and the verdict record it links to. */
export const signatureCheck: RecordCheck = (record: ChainedRecord, earlier) => {
  if (record.kind !== 'review') return undefined;
  const body = record.body as unknown as ReviewBody;
  const sig = body.signature;
  if (!sig || !body.decision || !body.verdictRecord) return 'review record without a decision, a signature or the verdict it decides';
  if (signedHash(body.verdictRecord, body.decision, sig) !== sig.signedHash) {
    return `the signature of ${sig.userId} does not match this decision or this verdict link: it was copied from another record or the decision was changed`;
  }
  if (body.verdictRecord.chain === record.chain) {
    const verdict = earlier(body.verdictRecord.id);
    if (!verdict) return `decides verdict record ${body.verdictRecord.id}, which is not earlier in this chain`;
    if (verdict.hash !== body.verdictRecord.hash || verdict.kind !== 'verdict') return `links to verdict record ${body.verdictRecord.id} by a hash that record does not have`;
  }
  return undefined;
};
