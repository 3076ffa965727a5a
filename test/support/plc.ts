// Simulated PLCs for the line-cell tests: the same handshake tags (src/core/line/tags.ts) on a real OPC UA server
// (node-opcua), a real Modbus TCP server (modbus-serial) and an MQTT broker (aedes). Each keeps the PLC's own tags,
// sees what the cell writes, and can drop and restore its connection.
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { connectAsync, type MqttClient } from 'mqtt';
import {
  cellTagsFromRegisters, plcRegisters, CELL_BLOCK_ADDRESS, CELL_BLOCK_LENGTH, CELL_TAGS, PLC_BLOCK_ADDRESS, PLC_BLOCK_LENGTH, PLC_TAGS,
  type CellTags, type PlcTags,
} from '../../src/core/line/tags';

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const EMPTY_CELL: CellTags = Object.fromEntries(CELL_TAGS.map((t) => [t.name, 0])) as unknown as CellTags;

export abstract class SimulatedPlc extends EventEmitter {
  readonly tags: PlcTags = { Trigger: 0, Ack: 0, RecipeIndex: 0, PlcHeartbeat: 0 };
  cell: CellTags = { ...EMPTY_CELL };
  /** Every cell image seen, in order, for assertions on the sequence of results. */
  readonly history: CellTags[] = [];
  private beat: NodeJS.Timeout | undefined;

  abstract start(): Promise<void>;
  /** Drops the connection (the link to the cell is lost); start() brings it back with the PLC's memory kept. */
  abstract stop(): Promise<void>;
  protected abstract publish(changed: Partial<PlcTags>): void | Promise<void>;

  async set(changed: Partial<PlcTags>): Promise<void> {
    Object.assign(this.tags, changed);
    await this.publish(changed);
  }

  /** The PLC's heartbeat, counted up every `periodMs`. */
  heartbeat(periodMs = 200): void {
    clearInterval(this.beat);
    this.beat = setInterval(() => void this.set({ PlcHeartbeat: (this.tags.PlcHeartbeat + 1) % 0x10000 }).catch(() => undefined), periodMs);
  }

  /** A PLC restart: its tags back to 0 (heartbeat included), counting again from there. */
  async restart(): Promise<void> {
    await this.set({ Trigger: 0, Ack: 0, RecipeIndex: 0, PlcHeartbeat: 0 });
  }

  protected received(cell: CellTags): void {
    this.cell = cell;
    this.history.push(cell);
    this.emit('cell', cell);
  }

  /** Resolves with the cell's tags once `check` holds for them; rejects after `timeoutMs`. */
  until(check: (cell: CellTags) => boolean, timeoutMs: number, what = 'the cell'): Promise<CellTags> {
    if (check(this.cell)) return Promise.resolve(this.cell);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('cell', listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; cell tags now ${JSON.stringify(this.cell)}`));
      }, timeoutMs);
      const listener = (cell: CellTags) => {
        if (!check(cell)) return;
        clearTimeout(timer);
        this.off('cell', listener);
        resolve(cell);
      };
      this.on('cell', listener);
    });
  }

  /** One part through the handshake: trigger, wait for its result, acknowledge it, wait until the cell took the ack. */
  async cycle(partId: number, timeoutMs = 10_000): Promise<CellTags> {
    await this.set({ Trigger: partId });
    const result = await this.until((c) => c.ResultReady === 1 && c.ResultPartId === partId, timeoutMs, `the result for part ${partId}`);
    await this.set({ Ack: partId });
    await this.until((c) => !(c.ResultReady === 1 && c.ResultPartId === partId), timeoutMs, `the acknowledge of part ${partId} to be taken`);
    return result;
  }

  async close(): Promise<void> {
    clearInterval(this.beat);
    await this.stop();
  }
}

/** The PLC as an OPC UA server: the handshake variables under ns=1;s=AVI.Cell1.<Tag>. */
export class OpcUaPlc extends SimulatedPlc {
  endpoint = '';
  private server: any;
  constructor(readonly port: number) {
    super();
  }

  async start(): Promise<void> {
    const { OPCUAServer, DataType, Variant } = await import('node-opcua');
    const server = new OPCUAServer({ port: this.port, hostname: '127.0.0.1', allowAnonymous: true, alternateHostname: ['127.0.0.1'] });
    await server.initialize();
    const addressSpace = server.engine.addressSpace!;
    const ns = addressSpace.getOwnNamespace();
    const folder = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'AVICell1' });
    const types = { Boolean: DataType.Boolean, UInt16: DataType.UInt16, UInt32: DataType.UInt32 };
    this.variables = {};
    for (const spec of [...PLC_TAGS, ...CELL_TAGS]) {
      const isPlc = PLC_TAGS.some((t) => t.name === spec.name);
      const dataType = types[spec.type];
      const initial = isPlc ? this.tags[spec.name as keyof PlcTags] : this.cell[spec.name as keyof CellTags];
      const variable = ns.addVariable({
        componentOf: folder,
        browseName: spec.name,
        nodeId: `s=AVI.Cell1.${spec.name}`,
        dataType,
        accessLevel: 'CurrentRead | CurrentWrite',
        userAccessLevel: 'CurrentRead | CurrentWrite',
        minimumSamplingInterval: 10,
        value: new Variant({ dataType, value: spec.type === 'Boolean' ? initial === 1 : initial }),
      });
      this.variables[spec.name] = { variable, dataType };
      if (!isPlc) {
        variable.on('value_changed', () => this.cellChanged());
      }
    }
    await server.start();
    this.server = server;
    this.endpoint = `opc.tcp://127.0.0.1:${this.port}`;
  }

  private variables: Record<string, { variable: any; dataType: number }> = {};
  private pending: NodeJS.Immediate | undefined;

  /** A Write service call sets several variables at once; the PLC looks at them together, once they all are in. */
  private cellChanged(): void {
    if (this.pending) return;
    this.pending = setImmediate(() => {
      this.pending = undefined;
      const cell = {} as CellTags;
      for (const spec of CELL_TAGS) {
        const value = this.variables[spec.name].variable.readValue().value.value;
        cell[spec.name] = typeof value === 'boolean' ? Number(value) : Number(value);
      }
      this.received(cell);
    });
  }

  protected async publish(changed: Partial<PlcTags>): Promise<void> {
    if (!this.server) return;
    const { Variant } = await import('node-opcua');
    for (const [name, value] of Object.entries(changed)) {
      const { variable, dataType } = this.variables[name];
      variable.setValueFromSource(new Variant({ dataType, value }));
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await server.shutdown(0);
  }
}

/** The PLC as a Modbus TCP server: its block at holding register 0, the cell's at 100 (docs/plc-handshake.md). */
export class ModbusPlc extends SimulatedPlc {
  private readonly registers = new Array<number>(CELL_BLOCK_ADDRESS + CELL_BLOCK_LENGTH).fill(0);
  private server: any;
  constructor(readonly port: number) {
    super();
  }

  async start(): Promise<void> {
    const { ServerTCP } = await import('modbus-serial');
    const vector = {
      getHoldingRegister: (addr: number) => this.registers[addr] ?? 0,
      getMultipleHoldingRegisters: (addr: number, length: number) => this.registers.slice(addr, addr + length).concat(new Array(Math.max(0, addr + length - this.registers.length)).fill(0)),
      setRegister: (addr: number, value: number) => this.write(addr, [value]),
      setRegisterArray: (addr: number, values: number[]) => this.write(addr, values),
    };
    const server = new ServerTCP(vector, { host: '127.0.0.1', port: this.port, unitID: 1 });
    await new Promise<void>((resolve, reject) => {
      server.on('initialized', () => resolve());
      server.on('serverError', reject);
    });
    server.on('socketError', () => undefined);
    this.server = server;
  }

  private write(addr: number, values: number[]): void {
    values.forEach((v, i) => (this.registers[addr + i] = v));
    if (addr + values.length > CELL_BLOCK_ADDRESS && addr < CELL_BLOCK_ADDRESS + CELL_BLOCK_LENGTH) {
      this.received(cellTagsFromRegisters(this.registers.slice(CELL_BLOCK_ADDRESS)));
    }
  }

  protected publish(): void {
    plcRegisters(this.tags).forEach((w, i) => (this.registers[PLC_BLOCK_ADDRESS + i] = w));
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    // Closing the listener alone leaves open sockets serving; end them too, as a pulled cable would.
    for (const sock of server.socks?.keys?.() ?? []) sock.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  static readonly BLOCK = PLC_BLOCK_LENGTH;
}

/** The PLC (or its edge gateway) on MQTT: its tags as JSON to <uns>/avi/handshake/plc, the cell's read from .../cell. */
export class MqttPlc extends SimulatedPlc {
  private client: MqttClient | undefined;
  constructor(
    readonly url: string,
    readonly uns: string,
  ) {
    super();
  }

  async start(): Promise<void> {
    const client = await connectAsync(this.url, { reconnectPeriod: 0, connectTimeout: 5000 });
    client.on('message', (topic, payload) => {
      if (topic === `${this.uns}/avi/handshake/cell`) this.received(JSON.parse(payload.toString()));
    });
    await client.subscribeAsync(`${this.uns}/avi/handshake/cell`, { qos: 1 });
    this.client = client;
  }

  protected async publish(changed: Partial<PlcTags>): Promise<void> {
    await this.client?.publishAsync(`${this.uns}/avi/handshake/plc`, JSON.stringify(changed), { qos: 1 });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.endAsync(true);
  }
}
