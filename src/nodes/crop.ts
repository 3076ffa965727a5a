// avi-crop: one crop per detection, all on one message or one message per crop with msg.parts.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import sharp from 'sharp';
import { cropDetections, DEFAULT_CROP_OPTIONS as DEFAULTS, validateCropOptions, type CropOptions } from '../core/image/crop';
import type { Detection } from '../core/types';
import { frameOf, num, onInput, settingsOf, statusOk, userDirOf, type Msg } from './common';
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
      };
      validateCropOptions(o);
      return o;
    });
    const split = config.mode === 'split';

    onInput(node, async (msg, send) => {
      const detections = msg.detections as Detection[] | undefined;
      if (!Array.isArray(detections)) throw new Error('msg.detections is missing: put an avi-detector before avi-crop');
      const frame = await frameOf(msg, { userDir: userDirOf(RED) });
      const started = performance.now();
      const crops = cropDetections(frame, detections, options.get());
      if (!split) {
        msg.crops = crops;
        msg.payload = crops;
        statusOk(node, message(RED, 'avi-crop.status.crops', { count: crops.length, ms: Math.round(performance.now() - started) }));
        send(msg);
        return;
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
          out.image = { width: crop.width, height: crop.height, channels: 3, data: crop.data };
          out.detection = out.detections[i];
          out.crop = { detectionId: crop.detectionId, box: crop.box };
          out.payload = await sharp(crop.data, { raw: { width: crop.width, height: crop.height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
        } else {
          out.image = msg.image;
          out.payload = null;
        }
        send(out as Msg);
      }
      statusOk(node, message(RED, 'avi-crop.status.sent', { count: crops.length, ms: Math.round(performance.now() - started) }));
    });
  }
  RED.nodes.registerType('avi-crop', AviCropNode);
}
