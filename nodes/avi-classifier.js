module.exports = require('../dist/src/nodes/classifier.js').default;
