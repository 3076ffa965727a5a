// avi-detector: image in, msg.detections out. Decoding, letterboxing and the model run happen in the engine's workers.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { DEFAULT_DETECTOR_OPTIONS as DEFAULTS, type DetectorOptions } from '../core/inference/detector';
import { DEFAULT_MAX_PIXELS } from '../core/image/image';
import { parseClassList } from '../core/decision/router';
import { engineConcurrency, frameSourceOf, keepFrame, modelConfigOf, num, onInput, provenance, timingsOf, useModel, messageFiles } from './common';
import { message } from './i18n';
import { setModelProvenance } from './provenance';

interface DetectorNodeDef extends NodeDef {
  model: string;
  property: string;
  propertyType?: string;
  confidence: string;
  iou: string;
  maxDetections: string;
  classes: string;
  resizeMode?: string;
  /** resizeMode's earlier name, still read for older flows; the editor overwrites `resize` on every node. */
  resize?: unknown;
  maxMegapixels: string;
  order: string;
}

export default function (RED: NodeAPI): void {
  function AviDetectorNode(this: Node, config: DetectorNodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const property = config.property || 'payload';
    const propertyType = config.propertyType || 'msg';
    const maxPixels = num(config.maxMegapixels, DEFAULT_MAX_PIXELS / 1e6) * 1e6;
    const options: Omit<DetectorOptions, 'warn'> = {
      confidence: num(config.confidence, DEFAULTS.confidence),
      iou: num(config.iou, DEFAULTS.iou),
      maxDetections: num(config.maxDetections, DEFAULTS.maxDetections),
      classes: parseClassList(config.classes ?? ''),
      resize: (config.resizeMode || (typeof config.resize === 'string' && config.resize) || DEFAULTS.resize) as typeof DEFAULTS.resize,
    };
    let deployedFormat: string | undefined;
    const detector = useModel(RED, node, modelConfigOf(RED, config.model), async (lease) => {
      // Checks the settings against the model (class filter, output format) before the first frame, and a
      // changed model file before it is used: a detector with another output layout is not the model deployed.
      const { format } = await lease.run({ op: 'describe', kind: 'detector', detector: options });
      if (deployedFormat && format !== deployedFormat) throw new Error(`its output layout is ${format}, not ${deployedFormat} as at deploy`);
      deployedFormat = format;
      return message(RED, 'avi-detector.status.ready', { format: format ?? '', width: lease.model.info.inputWidth, height: lease.model.info.inputHeight });
    });

    onInput(
      RED,
      node,
      async (msg, send, { arrivedAt }) => {
        const lease = await detector();
        const input = await new Promise((resolve, reject) =>
          RED.util.evaluateNodeProperty(property, propertyType, node, msg, (err: Error | null, value: unknown) => (err ? reject(err) : resolve(value))),
        );
        const source = await frameSourceOf(msg, { input, source: `${propertyType}.${property}`, files: messageFiles(RED) });
        const result = await lease.run({ op: 'detect', source, maxPixels, detector: options }, msg._msgid);
        result.warnings?.forEach((text) => node.warn(text));
        keepFrame(msg, source, result.frame, input);
        msg.detections = result.detections;
        msg.payload = result.detections;
        setModelProvenance(msg, 'detector', provenance(lease, result, result.format!));
        msg.timings = { ...(msg.timings ?? {}), detector: timingsOf(arrivedAt, result.timings) };
        send(msg);
        const count = result.detections!.length;
        return { text: () => message(RED, 'avi-detector.status.units', { count }) };
      },
      { concurrency: engineConcurrency, ordered: config.order !== 'ready', notice: () => modelConfigOf(RED, config.model)?.notice },
    );
  }
  RED.nodes.registerType('avi-detector', AviDetectorNode);
}
