module.exports = require('../dist/src/nodes/detector.js').default;
