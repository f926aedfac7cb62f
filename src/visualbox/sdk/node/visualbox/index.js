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
 * are synchronous. The supervisor answers each frame with one byte once the log
 * lines written before it and the frame were emitted; before a line is written to
 * process.stdout or process.stderr (console.log, console.error) the SDK waits for
 * the answers to every frame sent so far, so log lines and outputs keep the order
 * they were written in (outputs with no line between them wait only when WINDOW of
 * them are unanswered). Loading the SDK makes process.stdout and process.stderr
 * blocking (Node queues writes to a full pipe otherwise): require it first.
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
let ackFd = process.env.VISUALBOX_ACK_FD ? Number(process.env.VISUALBOX_ACK_FD) : -1;
const WINDOW = 64; // frames sent without waiting for their answers
const answers = Buffer.alloc(WINDOW);
let unanswered = 0;

function blockingStdio() {
  // Writes to a pipe that is full are queued and written later, after a frame that
  // follows them; blocking handles write every line before console.log() returns.
  for (const stream of [process.stdout, process.stderr]) {
    const handle = stream._handle;
    if (handle && typeof handle.setBlocking === 'function') handle.setBlocking(true);
  }
}

/** Wait until at most `most` frames are unanswered. */
function takeAnswers(most) {
  while (unanswered > most && ackFd >= 0) {
    let got;
    try {
      got = fs.readSync(ackFd, answers, 0, Math.min(unanswered, WINDOW), null);
    } catch (err) {
      if (err.code === 'EAGAIN' || err.code === 'EINTR') continue;
      throw err;
    }
    if (got === 0) {
      ackFd = -1; // the supervisor is gone: nothing left to keep in order
      unanswered = 0;
    } else {
      unanswered -= got;
    }
  }
}

function inOrder() {
  // A line waits until the frames sent before it are answered: it cannot overtake them.
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = (...args) => {
      if (unanswered) takeAnswers(0);
      return write(...args);
    };
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
  if (ackFd >= 0) {
    unanswered += 1;
    takeAnswers(WINDOW - 1);
  }
}

/**
 * Send one data model to the dashboard, in call order. A string is sent as text
 * and arrives as that string (unless it is the JSON text of an object or an
 * array, which arrives parsed); anything else must be JSON-serialisable and is
 * sent as JSON. Throws a TypeError for values JSON cannot represent (undefined,
 * functions, symbols, BigInt, cycles).
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
  if (ackFd >= 0) inOrder();
  writeFrame('I', Buffer.alloc(0));
} else {
  process.stderr.write('visualbox: not running under VisualBox; output() prints to stdout\n');
}

module.exports = { MODEL, config: MODEL, output };
