// A VisualBox integration: outputs a counter and a sine wave every few seconds.
const visualbox = require('visualbox');

const model = visualbox.MODEL; // the config values, by the names in config.json
const title = model.title || 'Counter';
const interval = model.interval || 5;

// Anything logged on stdout shows in the console as INFO (stderr as ERROR).
console.log(`${title}: one output every ${interval} s`);
if (model.apiKey) {
  console.log('an API key is set (secrets are never printed)');
}

let count = 0;
function tick() {
  count += 1;
  const data = { title, count, sine: Math.round(Math.sin(count / 5) * 10000) / 10000 };
  visualbox.output(data); // one data model, sent to the widgets bound to this integration
  if (model.verbose) {
    console.log('output', JSON.stringify(data));
  }
}

tick();
setInterval(tick, interval * 1000);
