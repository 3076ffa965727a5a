module.exports = require('../dist/src/nodes/spc.js').default;
