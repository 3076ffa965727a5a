// avi-detector: image in, msg.detections out. Decoding, letterboxing and the model run happen in the engine's workers.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { DEFAULT_DETECTOR_OPTIONS as DEFAULTS, type DetectorOptions } from '../core/inference/detector';
import { DEFAULT_MAX_PIXELS } from '../core/image/image';
import { parseClassList } from '../core/decision/router';
import { engineConcurrency, frameSourceOf, keepFrame, modelConfigOf, num, onInput, plural, provenance, timingsOf, useModel, userDirOf } from './common';

interface DetectorNodeDef extends NodeDef {
  model: string;
  property: string;
  confidence: string;
  iou: string;
  maxDetections: string;
  classes: string;
  resize: string;
  maxMegapixels: string;
  order: string;
}

export default function (RED: NodeAPI): void {
  function AviDetectorNode(this: Node, config: DetectorNodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const property = config.property || 'payload';
    const maxPixels = num(config.maxMegapixels, DEFAULT_MAX_PIXELS / 1e6) * 1e6;
    const options: Omit<DetectorOptions, 'warn'> = {
      confidence: num(config.confidence, DEFAULTS.confidence),
      iou: num(config.iou, DEFAULTS.iou),
      maxDetections: num(config.maxDetections, DEFAULTS.maxDetections),
      classes: parseClassList(config.classes ?? ''),
      resize: (config.resize || DEFAULTS.resize) as typeof DEFAULTS.resize,
    };
    const detector = useModel(node, modelConfigOf(RED, config.model), async (lease) => {
      // Checks the settings against the model (class filter, output format) before the first frame.
      const { format } = await lease.run({ op: 'describe', kind: 'detector', detector: options });
      return `ready · ${format} · ${lease.model.info.inputWidth}x${lease.model.info.inputHeight}`;
    });

    onInput(
      node,
      async (msg, send, { arrivedAt }) => {
        const lease = await detector();
        const source = frameSourceOf(msg, { property, userDir: userDirOf(RED) });
        const result = await lease.run({ op: 'detect', source, maxPixels, detector: options }, msg._msgid);
        result.warnings?.forEach((text) => node.warn(text));
        keepFrame(msg, source, result.frame, property);
        msg.detections = result.detections;
        msg.payload = result.detections;
        msg.models = { ...(msg.models ?? {}), detector: provenance(lease, result, result.format!) };
        msg.timings = { ...(msg.timings ?? {}), detector: timingsOf(arrivedAt, result.timings) };
        send(msg);
        return plural(result.detections!.length, 'unit');
      },
      { concurrency: engineConcurrency, ordered: config.order !== 'ready' },
    );
  }
  RED.nodes.registerType('avi-detector', AviDetectorNode);
}
