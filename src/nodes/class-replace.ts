// avi-class-replace: the classifier's class onto each detection, the detector's kept beside it.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import {
  replaceClasses,
  validateClassReplaceOptions,
  DEFAULT_CLASS_REPLACE,
  type ClassReplaceOptions,
} from '../core/decision/class-replace';
import { num, onInput, settingsOf } from './common';
import { message } from './i18n';

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
      send(msg);
      const text = () => {
        const parts = [message(RED, 'avi-class-replace.status.units', { count: result.detections.length })];
        if (result.fallback > 0) parts.push(message(RED, 'avi-class-replace.status.fallback', { count: result.fallback }));
        if (result.keptDetector > 0) parts.push(message(RED, 'avi-class-replace.status.keptDetector', { count: result.keptDetector }));
        if (result.dropped > 0) parts.push(message(RED, 'avi-class-replace.status.dropped', { count: result.dropped }));
        return parts.join(' · ');
      };
      // Dropping units is allowed but must be seen.
      return { text, warn: result.dropped > 0 };
    });
  }
  RED.nodes.registerType('avi-class-replace', AviClassReplaceNode);
}
