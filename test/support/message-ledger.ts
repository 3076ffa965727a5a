// Where every message of a running Node-RED went, from Node-RED's own message hooks (onReceive, preRoute,
// preDeliver, onComplete): which of our nodes it entered, how each of them ended it (sent on, or done(err)), and
// where Node-RED itself lost it: sent to a node that was not running, or handed to a node that had closed.
// Messages are told apart by a property the feeder sets (msg.frame), which every node passes on and Catch copies.

/** A node Node-RED hands a message to still runs its input handler: close() removes them when it has finished. */
const listening = (node: any): boolean => Boolean(node._inputCallback || node._inputCallbacks);

/** One message's visit to one of our nodes (one node instance: a redeploy makes a new one). */
interface Entry {
  node: string;
  /** done() or done(err) calls: exactly one is right. */
  completions: number;
  error?: string;
  /** Messages the node sent on for it, one per wire. */
  sends: number;
  /** The deploy under way when it entered (null: none). */
  enteredIn: string | null;
}

/** Where Node-RED lost a message, outside any node's code. */
export interface Drop {
  where: string;
  why: 'sent to a node that was not running' | 'handed to a node that had closed';
  /** The deploy that was under way (stopping or starting nodes), if any. */
  deploy?: string;
  /** Whether the message was last handed from node to node before that deploy began (in transit when it did). */
  inTransit: boolean;
}

interface FrameRecord {
  /** By node instance (nodeKey), so that a node a deploy replaced counts apart from its successor of the same id. */
  entries: Map<number, Entry>;
  out: number;
  caught: string[];
  drops: Drop[];
  /** The deploy under way when the message was last handed to a node (null: none). */
  handedOverIn: string | null;
  /** The visit that last ended it with done(err). */
  erredIn?: Entry;
}

export type Ending = 'out' | 'caught' | 'dropped by Node-RED' | 'no ending yet';

export interface LedgerSummary {
  frames: number;
  out: number;
  caught: number;
  droppedByNodeRed: number;
  /** Frames without an ending (yet). */
  open: number[];
  /** Our nodes' faults: a message that entered one of them and was not ended exactly once, sent on or errored. */
  faults: Array<{ frame: number; node: string; fault: string }>;
  /**
   * Each Node-RED drop, by why and where, the deploy type it happened in ('no' outside any deploy), and whether the
   * message was in transit when the deploy began (handed on before it) or sent during it.
   */
  drops: Record<string, number>;
  /** Caught errors by text (digits left out), e.g. "node closed before this message was processed". */
  caughtErrors: Record<string, number>;
  /** Messages our nodes took in while a deploy was under way. */
  enteredDuringDeploy: number;
  /** Messages our nodes sent on while a deploy was stopping them (work finished in close()). */
  sentOnWhileStopping: number;
}

export class MessageLedger {
  private readonly frames = new Map<number, FrameRecord>();
  /** Sends routed and not (yet) delivered: those left are ones Node-RED found no running node for. */
  private readonly routing = new Map<object, { frame: number; where: string; deploy?: string }>();
  private settling = false;
  private deploy: string | undefined;
  private enteredDuringDeploy = 0;
  /** A number per node instance: a record keeps no node alive (holding them grew the heap 12 % over 100 deploys). */
  private readonly nodeKeys = new WeakMap<object, number>();
  private nodeCount = 0;
  private nodeKey(node: object): number {
    let key = this.nodeKeys.get(node);
    if (key === undefined) this.nodeKeys.set(node, (key = this.nodeCount++));
    return key;
  }
  private sentOnWhileStopping = 0;

  /**
   * `ours`: the node types whose handling is checked; `sinks`: node ids where a message has come out of the flow;
   * `key`: the message property that names a message.
   */
  constructor(
    RED: any,
    private readonly options: {
      ours: (type: string) => boolean;
      sinks: string[];
      key?: string;
      /** Called when a message first comes out of the flow or reaches a Catch node. */
      onEnd?: (frame: number, how: 'out' | 'caught') => void;
    },
  ) {
    const key = options.key ?? 'frame';
    const frameOf = (msg: any): number | undefined => (typeof msg?.[key] === 'number' ? msg[key] : undefined);
    RED.events.on('flows:stopping', (e: { type: string }) => (this.deploy = e.type));
    RED.events.on('flows:started', () => (this.deploy = undefined));
    RED.hooks.add('onReceive.ledger', (event: any) => {
      const frame = frameOf(event.msg);
      if (frame === undefined) return;
      const node = event.destination.node;
      const record = this.record(frame);
      if (!listening(node)) {
        // An error reaches a Catch node straight from the node that reports it: in transit at the deploy only if
        // that node took the message in after the deploy began, from a hand-over before.
        const inTransit = record.handedOverIn === null && (node.type !== 'catch' || record.erredIn?.enteredIn != null);
        record.drops.push({ where: `${node.type} ${node.id}`, why: 'handed to a node that had closed', deploy: this.deploy, inTransit });
      } else if (this.options.sinks.includes(node.id) || node.type === 'catch') {
        if (record.out + record.caught.length === 0) this.options.onEnd?.(frame, node.type === 'catch' ? 'caught' : 'out');
        if (node.type === 'catch') record.caught.push(String(event.msg.error?.message ?? ''));
        else record.out++;
      } else if (this.options.ours(node.type)) {
        record.entries.set(this.nodeKey(node), { node: `${node.type} ${node.id}`, completions: 0, sends: 0, enteredIn: this.deploy ?? null });
        if (this.deploy) this.enteredDuringDeploy++;
      }
    });
    RED.hooks.add('preRoute.ledger', (event: any) => {
      const frame = frameOf(event.msg);
      if (frame === undefined) return;
      const entry = this.frames.get(frame)?.entries.get(this.nodeKey(event.source.node));
      if (entry) entry.sends++;
      // A node a deploy is stopping is no longer the running node of its id.
      if (entry && RED.nodes.getNode(event.source.id) !== event.source.node) this.sentOnWhileStopping++;
      this.routing.set(event, { frame, where: `${event.source.node.type} -> ${event.destination.id}`, deploy: this.deploy });
      // Settled on the next turn, not at the end: the event holds the message, and with it the frame's pixels.
      if (!this.settling) {
        this.settling = true;
        setImmediate(() => {
          this.settling = false;
          this.settleRouting();
        });
      }
    });
    RED.hooks.add('preDeliver.ledger', (event: any) => {
      this.routing.delete(event);
      const frame = frameOf(event.msg);
      if (frame !== undefined) this.record(frame).handedOverIn = this.deploy ?? null;
    });
    RED.hooks.add('onComplete.ledger', (event: any) => {
      const frame = frameOf(event.msg);
      const entry = frame === undefined ? undefined : this.frames.get(frame)?.entries.get(this.nodeKey(event.node.node));
      if (!entry) return;
      entry.completions++;
      if (event.error) {
        entry.error = String(event.error.message ?? event.error);
        this.frames.get(frame!)!.erredIn = entry;
      }
    });
  }

  private record(frame: number): FrameRecord {
    let record = this.frames.get(frame);
    if (!record) this.frames.set(frame, (record = { entries: new Map(), out: 0, caught: [], drops: [], handedOverIn: this.deploy ?? null }));
    return record;
  }

  /** A frame handed to the flow (the feeder calls this before it sends), so that one that left no trace is counted. */
  sent(frame: number): void {
    this.record(frame);
  }

  private settleRouting(): void {
    // preDeliver follows preRoute in the same tick when Node-RED finds the destination running.
    for (const [event, r] of this.routing) {
      this.record(r.frame).drops.push({ where: r.where, why: 'sent to a node that was not running', deploy: r.deploy, inTransit: false });
      this.routing.delete(event);
    }
  }

  ending(frame: number): Ending {
    this.settleRouting();
    const record = this.frames.get(frame);
    if (!record) return 'no ending yet';
    if (record.out > 0) return 'out';
    if (record.caught.length > 0) return 'caught';
    if (record.drops.length > 0) return 'dropped by Node-RED';
    return 'no ending yet';
  }

  summary(): LedgerSummary {
    this.settleRouting();
    const s: LedgerSummary = { frames: this.frames.size, out: 0, caught: 0, droppedByNodeRed: 0, open: [], faults: [], drops: {}, caughtErrors: {}, enteredDuringDeploy: this.enteredDuringDeploy, sentOnWhileStopping: this.sentOnWhileStopping };
    for (const [frame, record] of this.frames) {
      const ending = this.ending(frame);
      if (ending === 'out') s.out++;
      else if (ending === 'caught') s.caught++;
      else if (ending === 'dropped by Node-RED') s.droppedByNodeRed++;
      else s.open.push(frame);
      if (record.out + record.caught.length > 1) s.faults.push({ frame, node: '', fault: `came out ${record.out} times and was caught ${record.caught.length} times` });
      for (const entry of record.entries.values()) {
        const fault =
          entry.completions === 0
            ? 'entered and never ended (neither sent on nor done(err))'
            : entry.completions > 1
              ? `ended ${entry.completions} times`
              : entry.error !== undefined && entry.sends > 0
                ? 'sent on and also errored'
                : entry.error === undefined && entry.sends === 0
                  ? 'ended with done() but sent nothing on'
                  : undefined;
        if (fault) s.faults.push({ frame, node: entry.node, fault });
      }
      if (ending === 'dropped by Node-RED') {
        for (const d of record.drops) {
          const name = `${d.why}: ${d.where}, ${d.deploy ?? 'no'} deploy, ${d.inTransit ? 'in transit when it began' : 'sent during it'}`;
          s.drops[name] = (s.drops[name] ?? 0) + 1;
        }
      }
      for (const text of record.caught) {
        const name = text.replace(/\d+(\.\d+)?/g, 'N');
        s.caughtErrors[name] = (s.caughtErrors[name] ?? 0) + 1;
      }
    }
    return s;
  }
}
