// avi-classifier: every crop of a frame in one batched run, or the whole image when there are no crops.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { Classifier, DEFAULT_CLASSIFIER_OPTIONS as DEFAULTS, type Activation } from '../core/inference/classifier';
import type { Crop, Detection } from '../core/types';
import { message } from './i18n';
import { frameOf, modelConfigOf, num, onInput, provenance, statusOk, useModel, userDirOf } from './common';

interface ClassifierNodeDef extends NodeDef {
  model: string;
  activation: string;
  topK: string;
  resizeMode?: string;
  /** resizeMode's earlier name, still read for older flows; the editor overwrites `resize` on every node. */
  resize?: unknown;
  maxBatch: string;
}

export default function (RED: NodeAPI): void {
  function AviClassifierNode(this: Node, config: ClassifierNodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const classifier = useModel(
      node,
      modelConfigOf(RED, config.model),
      (model) =>
        new Classifier(model, {
          activation: (config.activation || DEFAULTS.activation) as Activation,
          topK: num(config.topK, DEFAULTS.topK),
          resize: (config.resizeMode || (typeof config.resize === 'string' ? config.resize : '')) === 'letterbox' ? 'letterbox' : DEFAULTS.resize,
          maxBatch: num(config.maxBatch, DEFAULTS.maxBatch),
        }),
      (c) => message(RED, c.model.image.dynamicBatch ? 'avi-classifier.status.readyBatched' : 'avi-classifier.status.ready', { classes: c.model.classNames.length }),
    );

    onInput(node, async (msg, send) => {
      const c = await classifier();
      const started = performance.now();
      msg.models = { ...(msg.models ?? {}), classifier: provenance(c.model, 'classifier') };
      if (Array.isArray(msg.crops)) {
        const crops = msg.crops as Crop[];
        const detections = msg.detections as Detection[] | undefined;
        if (!Array.isArray(detections)) throw new Error('msg.crops is set but msg.detections is missing: avi-crop keeps both');
        const byId = new Map(detections.map((d) => [d.id, d]));
        const result = await c.classify(crops);
        crops.forEach((crop, i) => {
          const detection = byId.get(crop.detectionId);
          if (!detection) throw new Error(`crop for detection ${crop.detectionId} has no detection with that id on msg.detections`);
          detection.classification = result.classifications[i];
        });
        msg.payload = result.classifications;
        statusOk(node, message(RED, 'avi-classifier.status.crops', { count: crops.length, ms: Math.round(performance.now() - started) }));
      } else {
        const frame = await frameOf(msg, { userDir: userDirOf(RED) });
        const result = await c.classify([frame]);
        const classification = result.classifications[0];
        msg.classification = classification;
        // A crop sent on its own by avi-crop (split mode) carries its detection: classify that detection.
        if (msg.detection && typeof msg.detection === 'object') (msg.detection as Detection).classification = classification;
        msg.payload = classification;
        const ms = Math.round(performance.now() - started);
        statusOk(node, message(RED, 'avi-classifier.status.image', { class: classification.class, confidence: classification.confidence.toFixed(2), ms }));
      }
      send(msg);
    });
  }
  RED.nodes.registerType('avi-classifier', AviClassifierNode);
}
