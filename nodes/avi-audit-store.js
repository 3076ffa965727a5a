module.exports = require('../dist/src/nodes/audit-store.js').default;
