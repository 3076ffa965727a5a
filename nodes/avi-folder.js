module.exports = require('../dist/src/nodes/folder.js').default;
