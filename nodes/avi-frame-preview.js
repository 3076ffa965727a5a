module.exports = require('../dist/src/nodes/frame-preview.js').default;
