const fs = require('fs');
const visualbox = require('visualbox');

const m = visualbox.MODEL;
const mode = m.mode || '';
console.log('out line');
console.error('err line');
visualbox.output({ config: m });
for (let i = 0; i < 5; i++) visualbox.output(i);
if (mode === 'exit3') process.exit(3);
if (mode === 'crash') throw new Error('boom');
if (mode === 'oom') {
  const hog = [];
  for (;;) hog.push(Buffer.alloc(16 << 20, 1));
}
if (mode === 'big') {
  visualbox.output('x'.repeat(m.size));
  visualbox.output('after');
}
if (mode === 'flood') {
  for (;;) visualbox.output('y'.repeat(10000));
}
if (mode === 'secrets') {
  visualbox.output({
    environ: fs.readFileSync('/proc/self/environ', 'utf8'),
    cmdline: fs.readFileSync('/proc/self/cmdline', 'utf8'),
  });
}
if (mode === 'bad') {
  try {
    visualbox.output(undefined);
  } catch (err) {
    visualbox.output('error: ' + err.message);
  }
}
if (mode === 'wait') {
  visualbox.output('waiting');
  setInterval(() => {}, 1000);
} else {
  visualbox.output('done');
}
