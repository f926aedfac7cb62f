/*
 * The VisualBox widget SDK (frame side). Injected as the first script of every
 * widget page served from /frames/<ticket>/ (see docs/widgets.md).
 *
 * The widget runs in <iframe sandbox="allow-scripts">: its origin is "null" and it
 * can reach nothing but its host. The handshake: once the page is parsed, this script
 * posts {visualbox: 'hello'} to the parent; the host (frontend/src/widgets/host.ts), which recognises its iframe
 * by event.source, answers {visualbox: 'connect'} with a MessagePort. From then on
 * both sides talk only through that port:
 *
 *   host -> widget  {type: 'update', theme?: 'light'|'dark', config?: object,
 *                    range?: {live, from, to, replay?}, data?: any}  (at most one per
 *                    animation frame)
 *                   {type: 'history', id, result?: {...}, error?: string}  (answer to 'history')
 *                   {type: 'libraries', files: {name: text}}  (answer to 'libraries')
 *   widget -> host  {type: 'ready'}
 *                   {type: 'libraries', names: [[name, version], ...]}  (once, see below)
 *                   {type: 'log', level: 'info'|'warn'|'error', message: string}
 *                   {type: 'resize', height: number}
 *                   {type: 'history', id: number, points: number, from?: ms, to?: ms}
 *
 * API for widgets (compatible with the original VisualBox):
 *   visualbox.config, visualbox.data (undefined until the first value),
 *   visualbox.onConfigChanged(cb), visualbox.onDataChanged(cb)  (cb also fires at once
 *   with the current value, if there is one), visualbox.log(message, level),
 *   visualbox.resize(height), visualbox.theme ('light' | 'dark', the page's) and
 *   visualbox.onThemeChanged(cb). The page's theme is also <html data-vb-theme> and
 *   these CSS variables: --vb-text, --vb-muted, --vb-grid, --vb-surface, --vb-accent;
 *   thesis-era globals CONFIG and DATA, and an optional global function
 *   onMessage({type: 'CONFIG_CHANGED' | 'DATA_CHANGED', value}).
 *
 * History (docs/widgets.md#history): visualbox.range is the dashboard's time range,
 *   {live: true, from: null, to: null} or a paused {live: false, from: ms, to: ms};
 *   visualbox.onRangeChanged(cb) (at once, and on every change; before the data of the
 *   same update); visualbox.history({points, from?, to?}) -> Promise of
 *   {points: [[t_ms, v]], bands: [[t_ms, min, max]], level, step_ms, start, end, last}
 *   for the widget's own source (from/to default to the paused range, or the last hour
 *   when live). The host fetches it; the frame never reaches the network.
 *
 * Replay (docs/widgets.md#replay): while a viewer replays a recorded range, the widget
 *   gets the recorded values as live data, visualbox.range is
 *   {live: true, from: null, to: null, replay: {from: ms, to: ms}}, and
 *   visualbox.now() is the replay's clock (Date.now() otherwise): stamp values and ask
 *   history relative to it. The host's range then carries
 *   replay: {from, to, at, wall, seek, speed, playing}; onRangeChanged fires when the replay
 *   starts, seeks or ends, not when it pauses or changes speed.
 *
 * Libraries once per browser: a sandboxed frame's origin is opaque, so the browser
 * caches nothing it loads. When a page loads libraries VisualBox serves
 * (<script src="/frames/lib/NAME.js">), the server sends instead a small page that
 * calls visualbox._boot(libraries, page): the SDK asks the host for those libraries
 * (in its hello, {visualbox: 'hello', libraries: [[name, version], ...]}, so the host
 * sends them right after the port; and again on the port, for an older host); the
 * host fetches each once from the app's origin, where it is cached. The SDK evaluates
 * them, then writes the widget's page (without those tags) as the frame's document;
 * the host's first update (with the last-known data) is applied as soon as the
 * widget's scripts have run. A library the host does not give is loaded from the network as
 * the page asked; without a host (the page opened on its own) all of them are.
 */
(function () {
  'use strict';

  var port = null;
  var pending = []; // messages for the host sent before the port arrived (bounded)
  var configListeners = [];
  var dataListeners = [];
  var themeListeners = [];
  var rangeListeners = [];
  var historyWaiting = {}; // id -> {resolve, reject, timer}
  var historyId = 0;
  var HISTORY_TIMEOUT_MS = 30000;
  var hasConfig = false;
  var hasData = false;
  var booting = null; // {libraries, page, timer} until the widget's page is written
  var booted = false; // _boot was called (once)
  var held = null; // while booting: host updates kept until the widget's scripts ran
  // Colours that read on the dashboard's cells in either theme (styles.css of the app).
  var THEME_STYLE =
    ':root{--vb-text:#1f2937;--vb-muted:#6b7280;--vb-grid:rgba(15,23,42,.1);' +
    '--vb-surface:#ffffff;--vb-accent:#2563eb}' +
    ':root[data-vb-theme=dark]{--vb-text:#e6e8ef;--vb-muted:#a0a6b8;' +
    '--vb-grid:rgba(230,232,239,.14);--vb-surface:#1b1e28;--vb-accent:#7391ff}';

  function send(message) {
    if (port) {
      port.postMessage(message);
    } else if (pending.length < 50) {
      pending.push(message);
    }
  }

  function text(value) {
    if (typeof value === 'string') return value;
    try {
      return JSON.stringify(value);
    } catch (e) {
      return String(value);
    }
  }

  // Run widget callbacks one by one: one failing callback must not stop the others.
  function notify(listeners, value) {
    for (var i = 0; i < listeners.length; i++) {
      try {
        listeners[i](value);
      } catch (error) {
        report(error);
      }
    }
  }

  function callOnMessage(type, value) {
    if (typeof window.onMessage === 'function') {
      try {
        window.onMessage({ type: type, value: value });
      } catch (error) {
        report(error);
      }
    }
  }

  function report(error) {
    var message = error && error.stack ? error.stack : text(error);
    send({ type: 'log', level: 'error', message: String(message).slice(0, 4000) });
  }

  function applyConfig(config) {
    hasConfig = true;
    visualbox.config = config;
    window.CONFIG = config;
    notify(configListeners, config);
    callOnMessage('CONFIG_CHANGED', config);
  }

  function applyData(data) {
    hasData = true;
    visualbox.data = data;
    window.DATA = data;
    notify(dataListeners, data);
    callOnMessage('DATA_CHANGED', data);
  }

  function applyTheme(theme) {
    if ((theme !== 'light' && theme !== 'dark') || theme === visualbox.theme) return;
    visualbox.theme = theme;
    document.documentElement.setAttribute('data-vb-theme', theme);
    notify(themeListeners, theme);
  }

  // The replay's clock: the recorded time was `at` at wall-clock time `wall` (the
  // host's Date.now(), the same clock as this frame's), running at `speed` since (or
  // stopped there while paused).
  var clock = null; // {at, speed, playing, since} or null (live or paused range)
  var replaySeek = null;

  function applyRange(range) {
    if (!range || typeof range !== 'object') return;
    var replay = range.live && range.replay && typeof range.replay === 'object' ? range.replay : null;
    clock = replay
      ? { at: Number(replay.at), speed: Number(replay.speed) || 1, playing: !!replay.playing,
          since: Number(replay.wall) || Date.now() }
      : null;
    var next = replay
      ? { live: true, from: null, to: null, replay: { from: Number(replay.from), to: Number(replay.to) } }
      : range.live
        ? { live: true, from: null, to: null }
        : { live: false, from: Number(range.from), to: Number(range.to) };
    var seek = replay ? Number(replay.seek) : null;
    var now = visualbox.range;
    var same = now.live === next.live && now.from === next.from && now.to === next.to &&
      !now.replay === !next.replay && seek === replaySeek;
    replaySeek = seek;
    if (same) return;
    visualbox.range = next;
    notify(rangeListeners, next);
  }

  function now() {
    if (clock === null) return Date.now();
    return clock.playing ? clock.at + (Date.now() - clock.since) * clock.speed : clock.at;
  }

  function answerHistory(message) {
    var waiting = historyWaiting[message.id];
    if (!waiting) return;
    delete historyWaiting[message.id];
    clearTimeout(waiting.timer);
    if (message.result && typeof message.result === 'object') waiting.resolve(message.result);
    else waiting.reject(new Error(String(message.error || 'No history')));
  }

  function receive(event) {
    var message = event.data;
    if (!message) return;
    if (message.type === 'history') {
      answerHistory(message);
      return;
    }
    if (message.type === 'libraries') {
      if (booting) finishBoot(message.files || {});
      return;
    }
    if (message.type !== 'update') return;
    if (held !== null) {
      held.push(message);
      return;
    }
    apply(message);
  }

  function apply(message) {
    if (Object.prototype.hasOwnProperty.call(message, 'theme')) applyTheme(message.theme);
    if (Object.prototype.hasOwnProperty.call(message, 'config')) applyConfig(message.config);
    if (Object.prototype.hasOwnProperty.call(message, 'range')) applyRange(message.range);
    if (Object.prototype.hasOwnProperty.call(message, 'data')) applyData(message.data);
  }

  var visualbox = {
    config: {},
    data: undefined,
    theme: 'light',
    range: { live: true, from: null, to: null },
    now: now,
    onRangeChanged: function (callback) {
      if (typeof callback !== 'function') throw new TypeError('onRangeChanged needs a function');
      rangeListeners.push(callback);
      notify([callback], visualbox.range);
    },
    history: function (options) {
      var o = options || {};
      var request = { type: 'history', id: ++historyId, points: 500 };
      if (o.points !== undefined) request.points = Math.round(Number(o.points));
      if (!(request.points >= 1 && request.points <= 10000)) {
        return Promise.reject(new RangeError('history: points must be from 1 to 10000'));
      }
      var range = visualbox.range;
      var from = o.from !== undefined ? o.from : range.live ? undefined : range.from;
      var to = o.to !== undefined ? o.to : range.replay ? now() : range.live ? undefined : range.to;
      if (from !== undefined) request.from = Math.round(Number(from));
      if (to !== undefined) request.to = Math.round(Number(to));
      if (!(request.from === undefined || request.from >= 0) || !(request.to === undefined || request.to >= 0)) {
        return Promise.reject(new RangeError('history: from and to must be times in ms since 1970'));
      }
      return new Promise(function (resolve, reject) {
        var timer = setTimeout(function () {
          delete historyWaiting[request.id];
          reject(new Error('history: no answer from the dashboard'));
        }, HISTORY_TIMEOUT_MS);
        historyWaiting[request.id] = { resolve: resolve, reject: reject, timer: timer };
        send(request);
      });
    },
    onThemeChanged: function (callback) {
      if (typeof callback !== 'function') throw new TypeError('onThemeChanged needs a function');
      themeListeners.push(callback);
      notify([callback], visualbox.theme);
    },
    onConfigChanged: function (callback) {
      if (typeof callback !== 'function') throw new TypeError('onConfigChanged needs a function');
      configListeners.push(callback);
      if (hasConfig) notify([callback], visualbox.config);
    },
    onDataChanged: function (callback) {
      if (typeof callback !== 'function') throw new TypeError('onDataChanged needs a function');
      dataListeners.push(callback);
      if (hasData) notify([callback], visualbox.data);
    },
    log: function (message, level) {
      var known = level === 'warn' || level === 'error' ? level : 'info';
      send({ type: 'log', level: known, message: text(message).slice(0, 4000) });
    },
    resize: function (height) {
      if (typeof height === 'number' && isFinite(height)) send({ type: 'resize', height: height });
    },
  };

  // The handshake: accept exactly one port, only from the parent page.
  function connect(event) {
    var message = event.data;
    if (event.source !== window.parent || !message || message.visualbox !== 'connect') return;
    if (!event.ports || !event.ports[0]) return;
    window.removeEventListener('message', connect);
    port = event.ports[0];
    port.onmessage = receive;
    port.postMessage({ type: 'ready' });
    if (booting) port.postMessage({ type: 'libraries', names: booting.libraries });
    for (var i = 0; i < pending.length; i++) port.postMessage(pending[i]);
    pending = [];
  }

  function onError(event) {
    var where = event.filename ? ' (' + event.filename.split('/').pop() + ':' + event.lineno + ')' : '';
    send({ type: 'log', level: 'error', message: String(event.message).slice(0, 4000) + where });
  }

  function onRejection(event) {
    report(event.reason);
  }

  // What the SDK adds to a document: again after _boot wrote the widget's page
  // (document.open() drops the window's listeners and the old elements).
  function listen() {
    if (!port) window.addEventListener('message', connect);
    window.addEventListener('error', onError);
    window.addEventListener('unhandledrejection', onRejection);
  }

  function install() {
    if (!document.documentElement) return;
    document.documentElement.setAttribute('data-vb-theme', visualbox.theme);
    var style = document.createElement('style');
    style.textContent = THEME_STYLE;
    // First in <head> (or <html>): the widget's own styles come later and win.
    var into = document.head || document.documentElement;
    into.insertBefore(style, into.firstChild);
  }

  // -- libraries from the host (see the top of this file) ---------------------------

  function isStyle(name) {
    return /\.css$/.test(name);
  }

  function libraryTags(names) {
    var tags = '';
    for (var i = 0; i < names.length; i++) {
      tags += '<script src="/frames/lib/' + names[i] + '"><\/script>';
    }
    return tags;
  }

  // A stylesheet goes where its <link> was (the server left a mark there).
  function placeStyle(page, name, text) {
    var tag = typeof text === 'string'
      ? '<style>' + text + '</style>'
      : '<link rel="stylesheet" href="/frames/lib/' + name + '">';
    return page.split('<!--visualbox-library:' + name + '-->').join(tag);
  }

  function finishBoot(files) {
    if (!booting) return;
    var boot = booting;
    booting = null;
    clearTimeout(boot.timer);
    var missing = [];
    var page = boot.page;
    for (var i = 0; i < boot.libraries.length; i++) {
      var name = boot.libraries[i][0];
      if (isStyle(name)) {
        page = placeStyle(page, name, files[name]);
        continue;
      }
      if (typeof files[name] !== 'string') {
        missing.push(name);
        continue;
      }
      try {
        // Indirect eval: global scope, as a classic <script> would run it.
        (0, eval)(files[name] + '\n//# sourceURL=' + location.origin + '/frames/lib/' + name);
      } catch (error) {
        report(error);
      }
    }
    if (missing.length) {
      var doctype = /^(\uFEFF)?(\s|<!--[\s\S]*?-->)*<!doctype[^>]*>/i.exec(page);
      var at = doctype ? doctype[0].length : 0;
      page = page.slice(0, at) + libraryTags(missing) + page.slice(at);
    }
    document.open();
    listen();
    document.addEventListener('DOMContentLoaded', release, { once: true });
    document.write(page);
    install();
    document.close();
    if (document.readyState !== 'loading') release();
    if (!port) hello();
  }

  // The widget's scripts have run: give them what the host sent meanwhile.
  function release() {
    if (held === null) return;
    var queued = held;
    held = null;
    for (var i = 0; i < queued.length; i++) apply(queued[i]);
  }

  visualbox._boot = function (libraries, page) {
    if (booted) return; // once, from the server's boot page
    booted = true;
    booting = { libraries: libraries, page: page, timer: 0 };
    held = [];
    // Without a host (or one that never answers), load them from the network.
    var wait = window.parent !== window ? 10000 : 0;
    booting.timer = setTimeout(function () {
      finishBoot({});
    }, wait);
    hello();
  };

  window.visualbox = visualbox;
  listen();
  install();
  window.CONFIG = visualbox.config;
  window.DATA = undefined;

  // Tell the host this frame has a new document; it answers with 'connect' and a port.
  // Only once the page is parsed: every script of the widget (inline, deferred or
  // module) has then run, so its callbacks and a global onMessage see the first values.
  // A boot page names its libraries at once: the host sends them right after the port.
  function hello() {
    if (window.parent === window) return;
    var message = { visualbox: 'hello' };
    if (booting) message.libraries = booting.libraries;
    window.parent.postMessage(message, '*');
  }
  // A boot page (_boot) says hello itself.
  function helloOnce() {
    if (!booted) hello();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', helloOnce, { once: true });
  } else {
    helloOnce();
  }
})();
