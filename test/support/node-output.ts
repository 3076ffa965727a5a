// One message through a flow loaded by node-red-node-test-helper: the message that comes out, or at once the error a
// Catch node saw, so that a test fails with the node's own error instead of waiting for its timeout.

/** Wire this Catch node (and its helper) into a test flow that `outputOf` should watch; `CATCH_NODE` loads its type. */
export const catchNodes = (z?: string): object[] => [
  { id: 'caught-catch', type: 'catch', scope: null, uncaught: false, wires: [['caught']], ...(z ? { z } : {}) },
  { id: 'caught', type: 'helper', ...(z ? { z } : {}) },
];
export const CATCH_NODE = require('@node-red/nodes/core/common/25-catch.js');

/** Sends `msg` to node `into`; resolves to the next message at helper node `out`, rejects with the next error caught. */
export function outputOf(helper: any, into: string, out: string, msg: object): Promise<any> {
  const output = helper.getNode(out);
  const caught = helper.getNode('caught');
  return new Promise((resolve, reject) => {
    const stop = () => {
      output.removeListener('input', onOutput);
      caught.removeListener('input', onError);
    };
    const onOutput = (m: any) => {
      stop();
      resolve(m);
    };
    const onError = (m: any) => {
      stop();
      reject(new Error(`${m.error?.source?.type ?? 'a node'}: ${m.error?.message}`));
    };
    output.on('input', onOutput);
    caught.on('input', onError);
    helper.getNode(into).receive(msg);
  });
}
