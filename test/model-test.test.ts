// avi-model's "Test model" button: the admin endpoint the form calls, on the real demo models, in a real Node-RED.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, tempDir } from './support/fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
const modelNode = require('../../nodes/avi-model.js');

helper.init(require.resolve('node-red'));

describe('avi-model Test model (POST /avi-model/test)', function () {
  const userDir = tempDir('avi-model-test-');
  before(() => helper.settings({ userDir: userDir.dir }));
  beforeEach(() => helper.load(modelNode, [{ id: 'm', type: 'avi-model', path: 'models/pill-detector.onnx' }]));
  afterEach(() => helper.unload());
  after(() => {
    helper.settings({});
    userDir.cleanup();
  });

  const post = (settings: object) => helper.request().post('/avi-model/test').send(settings);

  it('loads the detector as the form stands and names its format, tensors, classes and SHA-256', async () => {
    const res = await post({ path: 'models/pill-detector.onnx' }).expect(200);
    const sha256 = createHash('sha256').update(readFileSync(path.join(REPO_ROOT, 'models', 'pill-detector.onnx'))).digest('hex');
    expect(res.body).to.deep.include({ sha256, task: 'detect', format: 'yolov8', inputWidth: 320, inputHeight: 320, classNames: ['pill'] });
    expect(res.body.inputs).to.deep.equal([{ name: 'images', type: 'float32', shape: [1, 3, 320, 320] }]);
    expect(res.body.outputs).to.deep.equal([{ name: 'output0', type: 'float32', shape: [1, 5, 2100] }]);
  });

  it('reads a classifier with the class names the form gives', async () => {
    const res = await post({ path: 'models/pill-defects.onnx', classNames: 'a, b, c, d, e' }).expect(200);
    expect(res.body).to.include({ task: 'classify', format: 'classifier' });
    expect(res.body.classNames).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
  });

  it('says why a file does not load: missing, or not ONNX', async () => {
    expect((await post({ path: 'models/no-such.onnx' }).expect(400)).body.error).to.match(/model file not found: .*no-such\.onnx/);
    writeFileSync(path.join(userDir.dir, 'notes.onnx'), 'not a model');
    expect((await post({ path: 'notes.onnx' }).expect(400)).body.error).to.match(/not an ONNX model/);
    expect((await post({}).expect(400)).body.error).to.match(/no model file set/);
  });
});
