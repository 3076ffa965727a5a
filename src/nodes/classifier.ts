// avi-classifier: every crop of a frame in one batched run, or the whole image when there are no crops.
// Tensors and model runs happen in the engine's workers; crops' pixels reach them without a copy.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { DEFAULT_CLASSIFIER_OPTIONS as DEFAULTS, type Activation, type ClassifierOptions } from '../core/inference/classifier';
import type { Crop, Detection } from '../core/types';
import { engineConcurrency, frameSourceOf, keepFrame, modelConfigOf, num, onInput, provenance, timingsOf, useModel, messageFiles, type StatusSummary } from './common';
import { message } from './i18n';
import { setModelProvenance } from './provenance';

interface ClassifierNodeDef extends NodeDef {
  model: string;
  activation: string;
  topK: string;
  resizeMode?: string;
  /** resizeMode's earlier name, still read for older flows; the editor overwrites `resize` on every node. */
  resize?: unknown;
  maxBatch: string;
  order: string;
}

export default function (RED: NodeAPI): void {
  function AviClassifierNode(this: Node, config: ClassifierNodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const options: ClassifierOptions = {
      activation: (config.activation || DEFAULTS.activation) as Activation,
      topK: num(config.topK, DEFAULTS.topK),
      resize: (config.resizeMode || config.resize) === 'letterbox' ? 'letterbox' : DEFAULTS.resize,
      maxBatch: num(config.maxBatch, DEFAULTS.maxBatch),
    };
    const classifier = useModel(RED, node, modelConfigOf(RED, config.model), async (lease) => {
      const { task, dynamicBatch, info } = lease.model;
      if (task !== 'classify') throw new Error(`${info.name} is not a classifier: it needs one output [N,C]; use it in avi-detector`);
      return message(RED, dynamicBatch ? 'avi-classifier.status.readyBatched' : 'avi-classifier.status.ready', { classes: info.classNames.length });
    });

    onInput(
      RED,
      node,
      async (msg, send, { arrivedAt }) => {
        const lease = await classifier();
        let status: StatusSummary;
        if (Array.isArray(msg.crops)) {
          const crops = msg.crops as Crop[];
          const detections = msg.detections as Detection[] | undefined;
          if (!Array.isArray(detections)) throw new Error('msg.crops is set but msg.detections is missing: avi-crop keeps both');
          const byId = new Map(detections.map((d) => [d.id, d]));
          const missing = crops.find((crop) => !byId.has(crop.detectionId));
          if (missing) throw new Error(`crop for detection ${missing.detectionId} has no detection with that id on msg.detections`);
          const images = crops.map(({ width, height, data }) => ({ width, height, data }));
          const result = await lease.run({ op: 'classify', images, classifier: options }, msg._msgid);
          crops.forEach((crop, i) => (byId.get(crop.detectionId)!.classification = result.classifications![i]));
          msg.payload = result.classifications;
          setModelProvenance(msg, 'classifier', provenance(lease, result, 'classifier'));
          msg.timings = { ...(msg.timings ?? {}), classifier: timingsOf(arrivedAt, result.timings) };
          status = { text: () => message(RED, 'avi-classifier.status.crops', { count: crops.length, runs: result.runs! }) };
        } else {
          const source = await frameSourceOf(msg, { files: messageFiles(RED) });
          const result = await lease.run({ op: 'classify', images: source, classifier: options }, msg._msgid);
          keepFrame(msg, source, result.frame, msg.payload);
          const classification = result.classifications![0];
          msg.classification = classification;
          // A crop sent on its own by avi-crop (split mode) carries its detection: classify that detection.
          if (msg.detection && typeof msg.detection === 'object') (msg.detection as Detection).classification = classification;
          msg.payload = classification;
          setModelProvenance(msg, 'classifier', provenance(lease, result, 'classifier'));
          msg.timings = { ...(msg.timings ?? {}), classifier: timingsOf(arrivedAt, result.timings) };
          status = { text: () => message(RED, 'avi-classifier.status.image', { class: classification.class, confidence: classification.confidence.toFixed(2) }) };
        }
        send(msg);
        return status;
      },
      { concurrency: engineConcurrency, ordered: config.order !== 'ready', notice: () => modelConfigOf(RED, config.model)?.notice },
    );
  }
  RED.nodes.registerType('avi-classifier', AviClassifierNode);
}
