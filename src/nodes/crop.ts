// avi-crop: one crop per detection, all on one message or one message per crop with msg.parts.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import sharp from 'sharp';
import { cropDetections, DEFAULT_CROP_OPTIONS as DEFAULTS, validateCropOptions, type CropOptions } from '../core/image/crop';
import type { Detection } from '../core/types';
import { frameOf, num, onInput, plural, settingsOf, statusOk, messageFiles, type Msg } from './common';

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

    onInput(node, async (msg, send) => {
      const detections = msg.detections as Detection[] | undefined;
      if (!Array.isArray(detections)) throw new Error('msg.detections is missing: put an avi-detector before avi-crop');
      const frame = await frameOf(msg, { files: messageFiles(RED) });
      const started = performance.now();
      const crops = cropDetections(frame, detections, options.get());
      if (!split) {
        msg.crops = crops;
        msg.payload = crops;
        statusOk(node, `${plural(crops.length, 'crop')} · ${Math.round(performance.now() - started)} ms`);
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
      statusOk(node, `${plural(crops.length, 'crop')} sent · ${Math.round(performance.now() - started)} ms`);
    });
  }
  RED.nodes.registerType('avi-crop', AviCropNode);
}
