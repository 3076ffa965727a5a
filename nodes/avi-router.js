module.exports = require('../dist/src/nodes/router.js').default;
