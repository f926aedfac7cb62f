'use strict';
/**
 * The VisualBox SDK for Node.js integrations.
 *
 *   const visualbox = require('visualbox');
 *   const level = visualbox.MODEL.level;   // config values (visualbox.config is the same object)
 *   visualbox.output({ temperature: 21 }); // one data model for the dashboard
 *
 * The supervisor passes two inherited file descriptors whose numbers are in the
 * environment: VISUALBOX_CONFIG_FD (a memfd holding the config as JSON) and
 * VISUALBOX_OUTPUT_FD (the write end of a pipe). Each frame is a 4-byte
 * big-endian length, a tag byte ('I' = INIT, 'O' = OUTPUT) and the payload.
 * Writes are synchronous, so outputs keep their order.
 */
const fs = require('fs');

function readConfig() {
  const fdText = process.env.VISUALBOX_CONFIG_FD;
  if (!fdText) return {};
  const fd = Number(fdText);
  const size = fs.fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const n = fs.readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  fs.closeSync(fd);
  const value = got ? JSON.parse(buf.toString('utf8', 0, got)) : {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('visualbox: the config is not a JSON object');
  }
  return value;
}

const outFd = process.env.VISUALBOX_OUTPUT_FD ? Number(process.env.VISUALBOX_OUTPUT_FD) : -1;

function writeFrame(tag, payload) {
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame.writeUInt32BE(payload.length + 1, 0);
  frame[4] = tag.charCodeAt(0);
  payload.copy(frame, 5);
  let off = 0;
  while (off < frame.length) {
    try {
      off += fs.writeSync(outFd, frame, off, frame.length - off);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
    }
  }
}

/**
 * Send one data model to the dashboard, in call order. A string is sent as-is;
 * anything else must be JSON-serialisable and is sent as JSON. Throws a
 * TypeError for values JSON cannot represent (undefined, functions, symbols,
 * BigInt, cycles).
 */
function output(value) {
  let text;
  if (typeof value === 'string') {
    text = value;
  } else {
    try {
      text = JSON.stringify(value);
    } catch (err) {
      throw new TypeError('visualbox.output() needs a JSON-serialisable value: ' + err.message);
    }
    if (text === undefined) {
      throw new TypeError('visualbox.output() needs a JSON-serialisable value, got ' + typeof value);
    }
  }
  if (outFd < 0) {
    process.stdout.write(text + '\n');
    return;
  }
  writeFrame('O', Buffer.from(text, 'utf8'));
}

const MODEL = readConfig();

if (outFd >= 0) {
  writeFrame('I', Buffer.alloc(0));
} else {
  process.stderr.write('visualbox: not running under VisualBox; output() prints to stdout\n');
}

module.exports = { MODEL, config: MODEL, output };
