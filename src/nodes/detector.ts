// avi-detector: image in, msg.detections out.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { DEFAULT_DETECTOR_OPTIONS as DEFAULTS, Detector } from '../core/inference/detector';
import { DEFAULT_MAX_PIXELS } from '../core/image/image';
import { parseClassList } from '../core/decision/router';
import { message } from './i18n';
import { frameOf, modelConfigOf, num, onInput, provenance, statusOk, useModel, userDirOf } from './common';

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
}

export default function (RED: NodeAPI): void {
  function AviDetectorNode(this: Node, config: DetectorNodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const property = config.property || 'payload';
    const propertyType = config.propertyType || 'msg';
    const maxPixels = num(config.maxMegapixels, DEFAULT_MAX_PIXELS / 1e6) * 1e6;
    const classes = parseClassList(config.classes ?? '');
    const detector = useModel(
      node,
      modelConfigOf(RED, config.model),
      (model) =>
        new Detector(model, {
          confidence: num(config.confidence, DEFAULTS.confidence),
          iou: num(config.iou, DEFAULTS.iou),
          maxDetections: num(config.maxDetections, DEFAULTS.maxDetections),
          classes,
          resize: (config.resizeMode || (typeof config.resize === 'string' && config.resize) || DEFAULTS.resize) as typeof DEFAULTS.resize,
          warn: (text) => node.warn(text),
        }),
      (d) => message(RED, 'avi-detector.status.ready', { format: d.format, width: d.model.info.inputWidth, height: d.model.info.inputHeight }),
    );

    onInput(node, async (msg, send) => {
      const d = await detector();
      const input = await new Promise((resolve, reject) =>
        RED.util.evaluateNodeProperty(property, propertyType, node, msg, (err: Error | null, value: unknown) => (err ? reject(err) : resolve(value))),
      );
      const frame = await frameOf(msg, { input, source: `${propertyType}.${property}`, maxPixels, userDir: userDirOf(RED) });
      const started = performance.now();
      const result = await d.detect(frame);
      msg.detections = result.detections;
      msg.payload = result.detections;
      msg.models = { ...(msg.models ?? {}), detector: provenance(d.model, result.format) };
      msg.timings = { ...(msg.timings ?? {}), detector: result.timings };
      statusOk(node, message(RED, 'avi-detector.status.units', { count: result.detections.length, ms: Math.round(performance.now() - started) }));
      send(msg);
    });
  }
  RED.nodes.registerType('avi-detector', AviDetectorNode);
}
