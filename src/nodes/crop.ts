// avi-crop: one crop per detection, all on one message or one message per crop with msg.parts.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import sharp from 'sharp';
import { DEFAULT_CROP_OPTIONS as DEFAULTS, validateCropOptions, type CropOptions } from '../core/image/crop';
import { sharedEngine } from '../core/engine/engine';
import { asBuffer, SharedFrame } from '../core/engine/frame';
import type { Crop, Detection } from '../core/types';
import { frameSourceOf, keepFrame, num, onInput, settingsOf, messageFiles, type Msg } from './common';
import { message } from './i18n';

interface CropNodeDef extends NodeDef {
  mode: 'all' | 'split';
  padding: string;
  square: boolean;
  minSize: string;
  maxCrops: string;
}

export default function (RED: NodeAPI): void {
  function AviCropNode(this: Node, config: CropNodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const options = settingsOf(node, (): CropOptions => {
      const o = {
        paddingPercent: num(config.padding, DEFAULTS.paddingPercent),
        square: config.square === true,
        minSize: num(config.minSize, DEFAULTS.minSize),
        maxCrops: num(config.maxCrops, DEFAULTS.maxCrops),
        maxBytes: DEFAULTS.maxBytes,
      };
      validateCropOptions(o);
      return o;
    });
    const split = config.mode === 'split';

    onInput(
      RED,
      node,
      async (msg, send) => {
        const detections = msg.detections as Detection[] | undefined;
        if (!Array.isArray(detections)) throw new Error('msg.detections is missing: put an avi-detector before avi-crop');
        const source = await frameSourceOf(msg, { files: messageFiles(RED) });
        const result = await sharedEngine().run({ op: 'crop', source, detections, crop: options.get() }, msg._msgid);
        keepFrame(msg, source, result.frame, msg.payload);
        // The crops' pixels share one block of memory that the classifier's worker reads without a copy.
        const crops: Crop[] = result.crops!.map((crop, i) => ({ ...crop, data: asBuffer(result.cropPixels![i]) }));
        if (!split) {
          msg.crops = crops;
          msg.payload = crops;
          send(msg);
          return { text: () => message(RED, 'avi-crop.status.crops', { count: crops.length }) };
        }
        // One message per crop, each with the crop as its own frame, so the core join node can rebuild the frame.
        // A frame without detections still goes on, once, so that a join downstream completes and nothing vanishes.
        const partsId = RED.util.generateId();
        const count = Math.max(crops.length, 1);
        for (let i = 0; i < count; i++) {
          const crop = crops[i];
          const out: Record<string, any> = RED.util.cloneMessage({ ...msg, image: undefined, crops: undefined, payload: undefined });
          out.parts = { id: partsId, index: i, count, type: 'array', len: 1 };
          if (crop) {
            out.image = new SharedFrame(crop.width, crop.height, crop.data);
            out.detection = out.detections[i];
            out.crop = { detectionId: crop.detectionId, box: crop.box };
            out.payload = await sharp(crop.data, { raw: { width: crop.width, height: crop.height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
          } else {
            out.image = msg.image;
            out.payload = null;
          }
          send(out as Msg);
        }
        return { text: () => message(RED, 'avi-crop.status.sent', { count: crops.length }) };
      },
      { concurrency: () => sharedEngine().capacity, ordered: true },
    );
  }
  RED.nodes.registerType('avi-crop', AviCropNode);
}
