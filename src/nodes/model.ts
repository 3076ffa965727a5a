// avi-model: one ONNX model shared by every node that uses it, loaded once, reloaded when its file changes.
import * as fs from 'node:fs';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { DETECTOR_FORMATS } from '../core/inference/formats';
import { COLOUR_PROFILES, NORMALIZATIONS, type ColourProfile, type NormalizationName } from '../core/image/image';
import { sharedEngine, type ModelLease } from '../core/engine/engine';
import { type ExecutionProvider, type ModelOptions } from '../core/model/model';
import { errorMessage, num, resolveFilePath, statusBusy, statusError, statusWarn, userDirOf } from './common';
import { message } from './i18n';
import { registerModelTest } from './model-test';

export interface ModelNodeDef extends NodeDef {
  path: string;
  labels: string;
  classNames: string;
  provider: string;
  threads: string;
  workers: string;
  inputWidth: string;
  inputHeight: string;
  normalization: string;
  channelOrder: string;
  colourProfile: string;
  format: string;
  watch: boolean;
}

export interface ModelConfigNode extends Node {
  /**
   * Registers a node that uses the model (for status) and resolves to its hold on the shared session. `check` is
   * what the node checks of a model at deploy; a changed file is used only when it passes every user's check.
   */
  acquire(user: Node, check?: (lease: ModelLease) => Promise<unknown>): Promise<ModelLease>;
  /** Why a changed model file is not in use (it did not fit a node that uses it), or undefined. */
  notice?: string;
  /** The node no longer uses the model; the last one out lets the session go (the engine keeps it a little longer). */
  release(user: Node): void;
}

/** A changed model file that loads but fails a check its users made at deploy. */
class DoesNotFit extends Error {}

/** How often the model file is checked for a change, in ms. Polling works on every filesystem. */
const WATCH_INTERVAL_MS = 2000;

export function parseClassNames(text: string | undefined): string[] {
  return (text ?? '')
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** The options an avi-model's settings (a deployed node's, or a form's for "Test model") give the model. */
export function modelOptionsOf(config: ModelNodeDef, userDir: string | undefined): ModelOptions {
  const workers = num(config.workers, 0);
  const normalization = (config.normalization || 'auto') as NormalizationName | 'auto';
  if (normalization !== 'auto' && !(normalization in NORMALIZATIONS)) throw new Error(`unknown normalisation "${normalization}"`);
  const format = (config.format || 'auto') as ModelOptions['format'];
  if (format !== 'auto' && !DETECTOR_FORMATS.includes(format as never)) throw new Error(`unknown output format "${format}"`);
  const colourProfile = (config.colourProfile || 'ignore') as ColourProfile;
  if (!COLOUR_PROFILES.includes(colourProfile)) throw new Error(`unknown colour profile setting "${colourProfile}"`);
  const width = num(config.inputWidth, 0);
  const height = num(config.inputHeight, 0);
  if ((width > 0) !== (height > 0)) throw new Error('input size needs both width and height (or neither, for auto)');
  if (!Number.isInteger(workers) || workers < 0 || workers > 64) throw new Error(`workers must be a whole number from 0 (auto) to 64, got ${config.workers}`);
  return {
    classNames: parseClassNames(config.classNames),
    labels: config.labels ? resolveFilePath(config.labels.trim(), userDir) : undefined,
    executionProvider: (config.provider === 'cuda' ? 'cuda' : 'cpu') as ExecutionProvider,
    threads: num(config.threads, 0),
    inputWidth: width || undefined,
    inputHeight: height || undefined,
    normalization,
    channelOrder: (config.channelOrder || 'auto') as ModelOptions['channelOrder'],
    colourProfile,
    format,
  };
}

export default function (RED: NodeAPI): void {
  registerModelTest(RED);
  function AviModelNode(this: ModelConfigNode, config: ModelNodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const userDir = userDirOf(RED);
    const file = resolveFilePath((config.path ?? '').trim(), userDir);
    const workers = num(config.workers, 0);
    const users = new Map<Node, ((lease: ModelLease) => Promise<unknown>) | undefined>();
    let current: Promise<ModelLease> | undefined;
    let closed = false;
    let lastSignature = '';

    const options = (): ModelOptions => modelOptionsOf(config, userDir);

    const setUsersStatus = (set: (user: Node) => void) => users.forEach((_check, user) => set(user));

    const load = (): Promise<ModelLease> => {
      setUsersStatus((u) => statusBusy(u, message(RED, 'avi-model.status.loading')));
      const loading = (async () => {
        if (!file) throw new Error('no model file set in the avi-model config');
        return sharedEngine().acquire(file, options(), { workers });
      })();
      loading.then(
        (lease) => {
          const { info } = lease.model;
          node.log(`using ${info.path} sha256 ${info.sha256} on ${info.executionProvider}`);
          lease.warnings.forEach((text) => node.warn(text));
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
      // The engine loads the new file beside the old one and switches between frames; a file that does not
      // load (half-written, broken) leaves the old model judging.
      const fits = async (candidate: ModelLease) => {
        for (const [user, check] of users) {
          await check?.(candidate).catch((err) => {
            throw new DoesNotFit(`it does not fit ${user.type} "${user.name || user.id}": ${errorMessage(err)}`);
          });
        }
      };
      current
        .then((lease) => lease.reload(fits))
        .then(
          async (changed) => {
            if (!changed) return;
            node.notice = undefined;
            const { info } = (await current!).model;
            node.warn(`model file changed; reloaded ${info.name} (sha256 ${info.sha256.slice(0, 12)}…)`);
          },
          (err) => {
            if (!(err instanceof DoesNotFit)) {
              node.warn(`model file changed but did not load (${errorMessage(err)}); the previous model stays in use`);
              return;
            }
            node.notice = message(RED, 'avi-model.status.notUsed', { error: errorMessage(err) });
            node.warn(`model file changed but ${errorMessage(err)}; the previous model stays in use`);
            setUsersStatus((u) => statusWarn(u, node.notice!));
          },
        );
    };

    if (config.watch !== false && file) {
      lastSignature = signature();
      fs.watchFile(file, { interval: WATCH_INTERVAL_MS }, onFileChange);
    }

    const dispose = () => {
      const held = current;
      current = undefined;
      held?.then((lease) => lease.release()).catch(() => undefined);
    };

    node.acquire = (user, check) => {
      if (closed) return Promise.reject(new Error('the avi-model config node is closed'));
      users.set(user, check);
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
      if (users.size === 0) dispose();
    };

    node.on('close', () => {
      closed = true;
      if (file) fs.unwatchFile(file, onFileChange);
      users.clear();
      dispose();
    });
  }
  RED.nodes.registerType('avi-model', AviModelNode as never);
}
