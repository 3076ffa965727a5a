// avi-class-replace: the classifier's class onto each detection, the detector's kept beside it.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import {
  classReplaceSummary,
  replaceClasses,
  validateClassReplaceOptions,
  DEFAULT_CLASS_REPLACE,
  type ClassReplaceOptions,
} from '../core/decision/class-replace';
import { num, onInput, settingsOf, statusOk, statusWarn } from './common';

interface ClassReplaceNodeDef extends NodeDef {
  minConfidence: string | number;
  unsure: string;
  fallbackClass: string;
  dropUnclassified: boolean;
}

export default function (RED: NodeAPI): void {
  function AviClassReplaceNode(this: Node, config: ClassReplaceNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const options = settingsOf(node, () =>
      validateClassReplaceOptions({
        minConfidence: num(config.minConfidence, DEFAULT_CLASS_REPLACE.minConfidence),
        unsure: (config.unsure || DEFAULT_CLASS_REPLACE.unsure) as ClassReplaceOptions['unsure'],
        fallbackClass: config.fallbackClass ?? DEFAULT_CLASS_REPLACE.fallbackClass,
        dropUnclassified: config.dropUnclassified === true,
      }),
    );

    onInput(RED, node, async (msg, send) => {
      const result = replaceClasses(msg.detections, options.get());
      msg.detections = result.detections;
      msg.payload = result.detections;
      // Dropping units is allowed but must be seen.
      (result.dropped > 0 ? statusWarn : statusOk)(node, classReplaceSummary(result));
      send(msg);
    });
  }
  RED.nodes.registerType('avi-class-replace', AviClassReplaceNode);
}
