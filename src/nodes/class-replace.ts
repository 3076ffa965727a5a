// avi-class-replace: the classifier's class onto each detection, the detector's kept beside it.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import {
  classReplaceSummary,
  replaceClasses,
  validateClassReplaceOptions,
  DEFAULT_CLASS_REPLACE,
  type ClassReplaceOptions,
} from '../core/class-replace';
import { errorMessage, num, onInput, statusError, statusOk, statusWarn } from './common';

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
    let options: ClassReplaceOptions | undefined;
    let configError: Error | undefined;
    try {
      options = validateClassReplaceOptions({
        minConfidence: num(config.minConfidence, DEFAULT_CLASS_REPLACE.minConfidence),
        unsure: (config.unsure || DEFAULT_CLASS_REPLACE.unsure) as ClassReplaceOptions['unsure'],
        fallbackClass: config.fallbackClass ?? DEFAULT_CLASS_REPLACE.fallbackClass,
        dropUnclassified: config.dropUnclassified === true,
      });
    } catch (err) {
      configError = new Error(`bad settings: ${errorMessage(err)}`);
      node.error(configError.message);
      statusError(node, configError.message);
    }

    onInput(node, async (msg, send) => {
      if (!options) throw configError!;
      const result = replaceClasses(msg.detections, options);
      msg.detections = result.detections;
      msg.payload = result.detections;
      // Dropping units is allowed but must be seen.
      (result.dropped > 0 ? statusWarn : statusOk)(node, classReplaceSummary(result));
      send(msg);
    });
  }
  RED.nodes.registerType('avi-class-replace', AviClassReplaceNode);
}
