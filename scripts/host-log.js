// Loaded into every Node.js process of an install (NODE_OPTIONS=--require): appends each host name a process looks
// up or connects to, one a line, to AVI_HOST_LOG, so scripts/check-install.js can tell what an install reached for.
'use strict';
const dns = require('node:dns');
const fs = require('node:fs');
const net = require('node:net');

const file = process.env.AVI_HOST_LOG;
if (file) {
  const note = (host) => {
    if (typeof host === 'string' && host) fs.appendFileSync(file, `${host}\n`);
  };
  const lookup = dns.lookup;
  dns.lookup = function (host, ...rest) {
    note(host);
    return lookup.call(this, host, ...rest);
  };
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...args) {
    const options = args[0];
    if (options && typeof options === 'object' && !Array.isArray(options)) note(options.host);
    return connect.apply(this, args);
  };
}
