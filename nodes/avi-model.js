module.exports = require('../dist/src/nodes/model.js').default;
