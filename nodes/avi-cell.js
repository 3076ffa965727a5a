module.exports = require('../dist/src/nodes/cell.js').default;
