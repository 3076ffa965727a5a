module.exports = require('../dist/src/nodes/review.js').default;
