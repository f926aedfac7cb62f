'use strict';
/**
 * The VisualBox SDK for Node.js integrations.
 *
 *   const visualbox = require('visualbox');
 *   const level = visualbox.MODEL.level;   // config values (visualbox.config is the same object)
 *   visualbox.output({ temperature: 21 }); // one data model for the dashboard
 *
 * The supervisor passes inherited file descriptors whose numbers are in the
 * environment: VISUALBOX_CONFIG_FD (a memfd holding the config as JSON),
 * VISUALBOX_OUTPUT_FD (the write end of a pipe) and VISUALBOX_ACK_FD (the read
 * end of a pipe). Each frame is a 4-byte big-endian length, a tag byte ('I' =
 * INIT, 'T' = OUTPUT of a string, 'O' = OUTPUT of JSON) and the payload. Writes
 * are synchronous, and each frame waits for the supervisor's one-byte
 * acknowledgement (sent once the log lines written before it and the frame were
 * emitted), so log lines and outputs keep the order they were written in.
 * Loading the SDK makes process.stdout and process.stderr blocking (Node queues
 * writes to a full pipe otherwise): require it first.
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
const ackFd = process.env.VISUALBOX_ACK_FD ? Number(process.env.VISUALBOX_ACK_FD) : -1;
const ackBuf = Buffer.alloc(1);

function blockingStdio() {
  // Writes to a pipe that is full are queued and written later, after a frame that
  // follows them; blocking handles write every line before console.log() returns.
  for (const stream of [process.stdout, process.stderr]) {
    const handle = stream._handle;
    if (handle && typeof handle.setBlocking === 'function') handle.setBlocking(true);
  }
}

function awaitAck() {
  for (;;) {
    try {
      fs.readSync(ackFd, ackBuf, 0, 1, null); // 0 bytes: the supervisor is gone
      return;
    } catch (err) {
      if (err.code !== 'EAGAIN' && err.code !== 'EINTR') throw err;
    }
  }
}

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
  if (ackFd >= 0) awaitAck();
}

/**
 * Send one data model to the dashboard, in call order. A string is sent as text
 * and arrives as that string (unless it is the JSON text of an object or an
 * array, which arrives parsed); anything else must be JSON-serialisable and is
 * sent as JSON. Throws a TypeError for values JSON cannot represent (undefined,
 * functions, symbols, BigInt, cycles). Returns once the supervisor has taken the
 * output in.
 */
function output(value) {
  let text;
  let tag = 'O';
  if (typeof value === 'string') {
    text = value;
    tag = 'T';
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
  writeFrame(tag, Buffer.from(text, 'utf8'));
}

const MODEL = readConfig();

if (outFd >= 0) {
  blockingStdio();
  writeFrame('I', Buffer.alloc(0));
} else {
  process.stderr.write('visualbox: not running under VisualBox; output() prints to stdout\n');
}

module.exports = { MODEL, config: MODEL, output };
