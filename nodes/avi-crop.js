module.exports = require('../dist/src/nodes/crop.js').default;
