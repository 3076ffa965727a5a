// avi-detector: image in, msg.detections out.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { DEFAULT_DETECTOR_OPTIONS as DEFAULTS, Detector } from '../core/inference/detector';
import { DEFAULT_MAX_PIXELS } from '../core/image/image';
import { parseClassList } from '../core/decision/router';
import { frameOf, modelConfigOf, num, onInput, provenance, statusOk, useModel, userDirOf } from './common';

interface DetectorNodeDef extends NodeDef {
  model: string;
  property: string;
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
      (d) => `ready · ${d.format} · ${d.model.info.inputWidth}x${d.model.info.inputHeight}`,
    );

    onInput(node, async (msg, send) => {
      const d = await detector();
      const frame = await frameOf(msg, { property, maxPixels, userDir: userDirOf(RED) });
      const started = performance.now();
      const result = await d.detect(frame);
      msg.detections = result.detections;
      msg.payload = result.detections;
      msg.models = { ...(msg.models ?? {}), detector: provenance(d.model, result.format) };
      msg.timings = { ...(msg.timings ?? {}), detector: result.timings };
      statusOk(node, `${result.detections.length} units · ${Math.round(performance.now() - started)} ms`);
      send(msg);
    });
  }
  RED.nodes.registerType('avi-detector', AviDetectorNode);
}
