module.exports = require('../dist/src/nodes/camera.js').default;
