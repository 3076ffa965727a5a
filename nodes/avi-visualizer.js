module.exports = require('../dist/src/nodes/visualizer.js').default;
