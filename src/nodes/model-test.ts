// "Test model" on the avi-model form: loads the model as the form stands, before anyone deploys, and says what it is.
import type { NodeAPI } from 'node-red';
import { Detector } from '../core/inference/detector';
import { loadModel } from '../core/model/model';
import { errorMessage, resolveFilePath, userDirOf } from './common';
import { modelOptionsOf, type ModelNodeDef } from './model';

export interface ModelTestReport {
  file: string;
  sha256: string;
  task: string;
  /** The detector output format the model is read as (auto-detected unless the form sets one), or "classifier". */
  format: string;
  inputWidth: number;
  inputHeight: number;
  inputs: Array<{ name: string; type: string; shape: Array<number | string> }>;
  outputs: Array<{ name: string; type: string; shape: Array<number | string> }>;
  classNames: string[];
  warnings: string[];
}

/** Loads the model a form describes (on the CPU, one thread: a check, not a deployment), reads it and lets it go. */
export async function testModel(settings: Partial<ModelNodeDef>, userDir: string | undefined): Promise<ModelTestReport> {
  const file = resolveFilePath(String(settings.path ?? '').trim(), userDir);
  if (!file) throw new Error('no model file set');
  const warnings: string[] = [];
  const options = { ...modelOptionsOf(settings as ModelNodeDef, userDir), executionProvider: 'cpu' as const, threads: 1, warn: (text: string) => warnings.push(text) };
  const model = await loadModel(file, options);
  try {
    const format = model.task === 'classify' ? 'classifier' : new Detector(model, { warn: (text) => warnings.push(text) }).format;
    const tensor = (t: { name: string; type: string; shape: ReadonlyArray<number | string> }) => ({ name: t.name, type: t.type, shape: [...t.shape] });
    return {
      file: model.info.path,
      sha256: model.info.sha256,
      task: model.task,
      format,
      inputWidth: model.info.inputWidth,
      inputHeight: model.info.inputHeight,
      inputs: model.inputs.map(tensor),
      outputs: model.outputs.map(tensor),
      classNames: model.classNames,
      warnings,
    };
  } finally {
    await model.release();
  }
}

/** POST <admin>/avi-model/test with the form's settings: the report, or { error } with the reason. */
export function registerModelTest(RED: NodeAPI): void {
  RED.httpAdmin.post('/avi-model/test', RED.auth.needsPermission('avi-model.write'), (req, res) => {
    testModel(req.body ?? {}, userDirOf(RED)).then(
      (report) => res.json(report),
      (err) => res.status(400).json({ error: errorMessage(err) }),
    );
  });
}
