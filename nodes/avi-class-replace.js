module.exports = require('../dist/src/nodes/class-replace.js').default;
