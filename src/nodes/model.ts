// avi-model: one ONNX model shared by every node that uses it, loaded once, reloaded when its file changes.
import * as fs from 'node:fs';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { DETECTOR_FORMATS } from '../core/inference/formats';
import { NORMALIZATIONS, type NormalizationName } from '../core/image/image';
import { loadModel, type ExecutionProvider, type Model, type ModelOptions } from '../core/model/model';
import { errorMessage, num, resolveFilePath, statusBusy, statusError, statusOk, userDirOf } from './common';
import { message } from './i18n';

interface ModelNodeDef extends NodeDef {
  path: string;
  labels: string;
  classNames: string;
  provider: string;
  threads: string;
  inputWidth: string;
  inputHeight: string;
  normalization: string;
  channelOrder: string;
  format: string;
  watch: boolean;
}

export interface ModelConfigNode extends Node {
  /** Registers a node that uses the model (for status) and resolves to the model, loading it if needed. */
  acquire(user: Node): Promise<Model>;
  /** The node no longer uses the model; the last one out frees the session. */
  release(user: Node): void;
}

/** How often the model file is checked for a change, in ms. Polling works on every filesystem. */
const WATCH_INTERVAL_MS = 2000;

export function parseClassNames(text: string | undefined): string[] {
  return (text ?? '')
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export default function (RED: NodeAPI): void {
  function AviModelNode(this: ModelConfigNode, config: ModelNodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const userDir = userDirOf(RED);
    const file = resolveFilePath((config.path ?? '').trim(), userDir);
    const users = new Set<Node>();
    let current: Promise<Model> | undefined;
    let closed = false;
    let lastSignature = '';

    const options = (): ModelOptions => {
      const normalization = (config.normalization || 'auto') as NormalizationName | 'auto';
      if (normalization !== 'auto' && !(normalization in NORMALIZATIONS)) throw new Error(`unknown normalisation "${normalization}"`);
      const format = (config.format || 'auto') as ModelOptions['format'];
      if (format !== 'auto' && !DETECTOR_FORMATS.includes(format as never)) throw new Error(`unknown output format "${format}"`);
      const width = num(config.inputWidth, 0);
      const height = num(config.inputHeight, 0);
      if ((width > 0) !== (height > 0)) throw new Error('input size needs both width and height (or neither, for auto)');
      return {
        classNames: parseClassNames(config.classNames),
        labels: config.labels ? resolveFilePath(config.labels.trim(), userDir) : undefined,
        executionProvider: (config.provider === 'cuda' ? 'cuda' : 'cpu') as ExecutionProvider,
        threads: num(config.threads, 0),
        inputWidth: width || undefined,
        inputHeight: height || undefined,
        normalization,
        channelOrder: (config.channelOrder || 'auto') as ModelOptions['channelOrder'],
        format,
        warn: (text) => node.warn(text),
      };
    };

    const setUsersStatus = (set: (user: Node) => void) => users.forEach(set);

    const load = (): Promise<Model> => {
      setUsersStatus((u) => statusBusy(u, message(RED, 'avi-model.status.loading')));
      const loading = (async () => {
        if (!file) throw new Error('no model file set in the avi-model config');
        return loadModel(file, options());
      })();
      loading.then(
        (model) => {
          node.log(`loaded ${model.info.path} sha256 ${model.info.sha256} on ${model.info.executionProvider}`);
          setUsersStatus((u) => statusOk(u, message(RED, 'avi-model.status.ready', { name: model.info.name })));
        },
        (err) => {
          node.error(`model: ${errorMessage(err)}`);
          setUsersStatus((u) => statusError(u, `model: ${errorMessage(err)}`));
        },
      );
      return loading;
    };

    const signature = (): string => {
      try {
        const s = fs.statSync(file);
        return `${s.size}:${s.mtimeMs}`;
      } catch {
        return 'missing';
      }
    };

    const onFileChange = () => {
      const now = signature();
      if (now === lastSignature || closed || !current) return;
      lastSignature = now;
      const previous = current;
      const next = load();
      // Swap only to a model that loaded: a half-written file keeps the old model running.
      next.then(
        (model) => {
          current = next;
          node.warn(`model file changed; reloaded ${model.info.name} (sha256 ${model.info.sha256.slice(0, 12)}…)`);
          previous.then((old) => old.release()).catch(() => undefined);
        },
        () => undefined,
      );
    };

    if (config.watch !== false && file) {
      lastSignature = signature();
      fs.watchFile(file, { interval: WATCH_INTERVAL_MS }, onFileChange);
    }

    const dispose = async () => {
      const loaded = current;
      current = undefined;
      if (loaded) await loaded.then((m) => m.release()).catch(() => undefined);
    };

    node.acquire = (user: Node) => {
      if (closed) return Promise.reject(new Error('the avi-model config node is closed'));
      users.add(user);
      if (!current) {
        const loading = load();
        current = loading;
        // A failed load is retried by the next message rather than cached forever.
        loading.catch(() => {
          if (current === loading) current = undefined;
        });
      }
      return current;
    };

    node.release = (user: Node) => {
      users.delete(user);
      if (users.size === 0) void dispose();
    };

    node.on('close', (done: () => void) => {
      closed = true;
      if (file) fs.unwatchFile(file, onFileChange);
      users.clear();
      dispose().then(done, done);
    });
  }
  RED.nodes.registerType('avi-model', AviModelNode as never);
}
