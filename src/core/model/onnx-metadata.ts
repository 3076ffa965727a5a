// onnxruntime-node does not expose a model's metadata_props, where Ultralytics writes names, imgsz and task.
// The ONNX file is a protobuf ModelProto; its top-level fields are read here and the graph is skipped unread.

export interface OnnxMetadata {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  /** metadata_props as written by the exporter (Ultralytics: names, imgsz, task, stride, end2end, ...). */
  props: Record<string, string>;
}

const MODEL_IR_VERSION = 1;
const MODEL_PRODUCER_NAME = 2;
const MODEL_PRODUCER_VERSION = 3;
const MODEL_METADATA_PROPS = 14;
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

class ProtoReader {
  pos = 0;
  constructor(readonly buf: Buffer, readonly end = buf.length) {}

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const byte = this.buf[this.pos++];
      // Numbers above 2^53 lose precision; the fields read here (tags, lengths, ir_version) never reach that.
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
  }

  bytes(): Buffer {
    const length = this.varint();
    const start = this.pos;
    if (start + length > this.end) throw new Error('length-delimited field runs past the end');
    this.pos += length;
    return this.buf.subarray(start, start + length);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.pos += 8;
        return;
      case WIRE_LENGTH:
        this.bytes();
        return;
      case WIRE_FIXED32:
        this.pos += 4;
        return;
      default:
        throw new Error(`unknown protobuf wire type ${wireType}`);
    }
  }
}

/** Reads the model-level metadata of an ONNX file. Throws when the bytes are not a ModelProto. */
export function readOnnxMetadata(buf: Buffer): OnnxMetadata {
  try {
    return readModelProto(buf);
  } catch (err) {
    throw new Error(`not an ONNX model: ${(err as Error).message}`);
  }
}

function readModelProto(buf: Buffer): OnnxMetadata {
  const reader = new ProtoReader(buf);
  const meta: OnnxMetadata = { props: {} };
  let sawGraph = false;
  while (reader.pos < reader.end) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === MODEL_IR_VERSION && wire === WIRE_VARINT) meta.irVersion = reader.varint();
    else if (field === MODEL_PRODUCER_NAME && wire === WIRE_LENGTH) meta.producerName = reader.bytes().toString('utf8');
    else if (field === MODEL_PRODUCER_VERSION && wire === WIRE_LENGTH) meta.producerVersion = reader.bytes().toString('utf8');
    else if (field === MODEL_METADATA_PROPS && wire === WIRE_LENGTH) {
      const entry = reader.bytes();
      const [key, value] = readEntry(entry);
      if (key) meta.props[key] = value;
    } else {
      if (field === 7) sawGraph = true;
      reader.skip(wire);
    }
  }
  if (meta.irVersion === undefined || !sawGraph) throw new Error('no ir_version or graph field');
  return meta;
}

function readEntry(buf: Buffer): [string, string] {
  const reader = new ProtoReader(buf);
  let key = '';
  let value = '';
  while (reader.pos < reader.end) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === ENTRY_KEY && wire === WIRE_LENGTH) key = reader.bytes().toString('utf8');
    else if (field === ENTRY_VALUE && wire === WIRE_LENGTH) value = reader.bytes().toString('utf8');
    else reader.skip(wire);
  }
  return [key, value];
}
