// Small ONNX models made by code, so the suite runs real onnxruntime sessions on layouts whose outputs it knows.
// A minimal protobuf writer for ModelProto (onnx.proto3): only the fields these models use.
import { writeFileSync } from 'node:fs';

type Dim = number | string;

function varint(value: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v > 0n);
  return Buffer.from(bytes);
}

const key = (field: number, wire: number) => varint(field * 8 + wire);
const vint = (field: number, value: number | bigint) => Buffer.concat([key(field, 0), varint(value)]);
const bytes = (field: number, data: Buffer) => Buffer.concat([key(field, 2), varint(data.length), data]);
const str = (field: number, s: string) => bytes(field, Buffer.from(s, 'utf8'));

const FLOAT = 1;
const INT64 = 7;

export interface TensorInit {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array | number[];
  type?: 'float32' | 'int64';
}

function tensorProto(t: TensorInit): Buffer {
  const type = t.type ?? (t.data instanceof BigInt64Array ? 'int64' : 'float32');
  const raw =
    type === 'int64'
      ? Buffer.from(BigInt64Array.from(t.data as ArrayLike<bigint>, (v) => BigInt(v)).buffer)
      : Buffer.from(Float32Array.from(t.data as ArrayLike<number>).buffer);
  return Buffer.concat([...t.dims.map((d) => vint(1, d)), vint(2, type === 'int64' ? INT64 : FLOAT), str(8, t.name), bytes(9, raw)]);
}

function valueInfo(name: string, type: 'float32' | 'int64', shape: Dim[]): Buffer {
  const dims = shape.map((d) => bytes(1, typeof d === 'number' ? vint(1, d) : str(2, d)));
  const tensorType = Buffer.concat([vint(1, type === 'int64' ? INT64 : FLOAT), bytes(2, Buffer.concat(dims))]);
  return Buffer.concat([str(1, name), bytes(2, bytes(1, tensorType))]);
}

export interface OpNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, number | number[]>;
}

function attribute(name: string, value: number | number[]): Buffer {
  if (Array.isArray(value)) return Buffer.concat([str(1, name), ...value.map((v) => vint(8, v)), vint(20, 7)]);
  return Buffer.concat([str(1, name), vint(3, value), vint(20, 2)]);
}

function nodeProto(n: OpNode, index: number): Buffer {
  return Buffer.concat([
    ...n.inputs.map((i) => str(1, i)),
    ...n.outputs.map((o) => str(2, o)),
    str(3, `${n.op}_${index}`),
    str(4, n.op),
    ...Object.entries(n.attributes ?? {}).map(([k, v]) => bytes(5, attribute(k, v))),
  ]);
}

export interface GraphSpec {
  inputs: Array<{ name: string; type?: 'float32' | 'int64'; shape: Dim[] }>;
  outputs: Array<{ name: string; type?: 'float32' | 'int64'; shape: Dim[] }>;
  nodes: OpNode[];
  initializers: TensorInit[];
  metadata?: Record<string, string>;
}

export function buildModel(spec: GraphSpec): Buffer {
  const graph = Buffer.concat([
    ...spec.nodes.map((n, i) => bytes(1, nodeProto(n, i))),
    str(2, 'test-graph'),
    ...spec.initializers.map((t) => bytes(5, tensorProto(t))),
    ...spec.inputs.map((i) => bytes(11, valueInfo(i.name, i.type ?? 'float32', i.shape))),
    ...spec.outputs.map((o) => bytes(12, valueInfo(o.name, o.type ?? 'float32', o.shape))),
  ]);
  const opset = Buffer.concat([str(1, ''), vint(2, 17)]);
  const props = Object.entries(spec.metadata ?? {}).map(([k, v]) => bytes(14, Buffer.concat([str(1, k), str(2, v)])));
  return Buffer.concat([vint(1, 8), str(2, 'avi-test-builder'), bytes(7, graph), bytes(8, opset), ...props]);
}

/**
 * A detector whose outputs are fixed tensors (what a real model would have produced), fed from the image
 * through a zero-weighted path so the image input is genuinely consumed.
 */
export function fixedOutputDetector(options: {
  inputShape: Dim[];
  outputs: Array<{ name: string; dims: number[]; data: Float32Array | BigInt64Array | number[]; type?: 'float32' | 'int64' }>;
  extraInputs?: Array<{ name: string; type: 'float32' | 'int64'; shape: Dim[] }>;
  metadata?: Record<string, string>;
}): Buffer {
  const nodes: OpNode[] = [
    { op: 'ReduceMean', inputs: ['images'], outputs: ['mean'], attributes: { keepdims: 0 } },
    { op: 'Mul', inputs: ['mean', 'zero'], outputs: ['nothing'] },
  ];
  const initializers: TensorInit[] = [{ name: 'zero', dims: [], data: [0] }];
  for (const out of options.outputs) {
    initializers.push({ name: `${out.name}_value`, dims: out.dims, data: out.data, type: out.type });
    if ((out.type ?? 'float32') === 'float32') nodes.push({ op: 'Add', inputs: [`${out.name}_value`, 'nothing'], outputs: [out.name] });
    else nodes.push({ op: 'Identity', inputs: [`${out.name}_value`], outputs: [out.name] });
  }
  return buildModel({
    inputs: [{ name: 'images', shape: options.inputShape }, ...(options.extraInputs ?? [])],
    outputs: options.outputs.map((o) => ({ name: o.name, type: o.type, shape: o.dims })),
    nodes,
    initializers,
    metadata: options.metadata,
  });
}

/**
 * A real classifier: the mean of each colour channel times a weight matrix. With the default weights,
 * class 0 is "mostly red", 1 "mostly green", 2 "mostly blue". The batch axis is dynamic unless `batch` is given.
 */
export function colourClassifier(options: { size: number; names?: string[]; batch?: number; weights?: number[][]; metadata?: Record<string, string> }): Buffer {
  const weights = options.weights ?? [
    [20, -10, -10],
    [-10, 20, -10],
    [-10, -10, 20],
  ];
  const classes = weights[0].length;
  const batch: Dim = options.batch ?? 'N';
  const metadata = { ...(options.metadata ?? {}) };
  if (options.names) metadata.names = JSON.stringify(Object.fromEntries(options.names.map((n, i) => [i, n])));
  return buildModel({
    inputs: [{ name: 'input', shape: [batch, 3, options.size, options.size] }],
    outputs: [{ name: 'logits', shape: [batch, classes] }],
    nodes: [
      { op: 'GlobalAveragePool', inputs: ['input'], outputs: ['pooled'] },
      { op: 'Flatten', inputs: ['pooled'], outputs: ['flat'], attributes: { axis: 1 } },
      { op: 'MatMul', inputs: ['flat', 'weights'], outputs: ['logits'] },
    ],
    initializers: [{ name: 'weights', dims: [3, classes], data: weights.flat() }],
    metadata,
  });
}

export function writeModel(file: string, model: Buffer): string {
  writeFileSync(file, model);
  return file;
}

/** A YOLOv8-layout detector (64x64 input, `anchors` anchors) whose every anchor says the same box (cx, cy, w, h) and score. */
export function uniformDetector(box: [number, number, number, number], score: number, anchors = 300): Buffer {
  const data = new Float32Array(5 * anchors);
  for (let i = 0; i < anchors; i++) [...box, score].forEach((v, row) => (data[row * anchors + i] = v));
  return fixedOutputDetector({ inputShape: [1, 3, 64, 64], outputs: [{ name: 'output0', dims: [1, 5, anchors], data }], metadata: { task: 'detect', names: "{0: 'pill'}" } });
}

/**
 * A detector like fixedOutputDetector that also does real work on its input first: `steps` matrix products of
 * the image (as [3*size, size]) with a [size, size] averaging matrix, so a run takes a while on any CPU.
 * The work ends in a zero-weighted term, so the outputs stay the fixed ones.
 */
export function busyDetector(options: { size: number; steps: number; outputs: Array<{ name: string; dims: number[]; data: Float32Array }>; metadata?: Record<string, string> }): Buffer {
  const { size, steps } = options;
  const nodes: OpNode[] = [{ op: 'Reshape', inputs: ['images', 'shape'], outputs: ['x0'] }];
  for (let i = 0; i < steps; i++) nodes.push({ op: 'MatMul', inputs: [`x${i}`, 'mix'], outputs: [`x${i + 1}`] });
  nodes.push({ op: 'ReduceMean', inputs: [`x${steps}`], outputs: ['mean'], attributes: { keepdims: 0 } });
  nodes.push({ op: 'Mul', inputs: ['mean', 'zero'], outputs: ['nothing'] });
  const initializers: TensorInit[] = [
    { name: 'shape', dims: [2], data: BigInt64Array.from([BigInt(3 * size), BigInt(size)]), type: 'int64' },
    { name: 'mix', dims: [size, size], data: new Float32Array(size * size).fill(1 / size) },
    { name: 'zero', dims: [], data: [0] },
  ];
  for (const out of options.outputs) {
    initializers.push({ name: `${out.name}_value`, dims: out.dims, data: out.data });
    nodes.push({ op: 'Add', inputs: [`${out.name}_value`, 'nothing'], outputs: [out.name] });
  }
  return buildModel({
    inputs: [{ name: 'images', shape: [1, 3, size, size] }],
    outputs: options.outputs.map((o) => ({ name: o.name, shape: o.dims })),
    nodes,
    initializers,
    metadata: options.metadata,
  });
}
