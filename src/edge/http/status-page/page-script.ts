// The status page's script, inlined into the page. Plain ES2017 inside a template literal: no backticks and no
// dollar-brace in it. It builds every element with textContent, so a device name or an error message is never
// markup, and reads /api/status and /api/history every few seconds.

export const SCRIPT = String.raw`
(function () {
  'use strict';
  var REFRESH_MS = 3000;
  var status = null, history = null, offsetMs = 0, failing = null;

  function byId(id) { return document.getElementById(id); }
  function el(tag, props, kids) {
    var e = document.createElement(tag);
    props = props || {};
    Object.keys(props).forEach(function (k) {
      if (k === 'text') e.textContent = props[k];
      else if (k === 'cls') e.className = props[k];
      else e.setAttribute(k, props[k]);
    });
    (kids || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }
  function fill(node, kids) {
    node.replaceChildren();
    kids.forEach(function (k) { if (k) node.appendChild(k); });
  }
  function gatewayNow() { return Date.now() + offsetMs; }
  function int(n) { return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'); }
  function rate(n) { return n >= 100 ? int(Math.round(n)) : String(Math.round(n * 10) / 10); }
  function bytes(n) {
    if (n === null || n === undefined) return '–';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(n >= 100 ? 0 : 1)) + ' ' + units[i];
  }
  function duration(ms) {
    if (ms === null || ms === undefined) return '–';
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + (s % 60) + ' s';
    var h = Math.floor(m / 60);
    if (h < 48) return h + ' h ' + (m % 60) + ' min';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }
  function latency(ms) { return ms < 1000 ? Math.round(ms) + ' ms' : ms < 10000 ? (ms / 1000).toFixed(1) + ' s' : duration(ms); }
  function ago(iso) { return iso ? duration(gatewayNow() - Date.parse(iso)) + ' ago' : 'never'; }
  function clock(ms) { return new Date(ms).toLocaleTimeString('en-GB'); }
  function tagValue(v) {
    if (v === null || v === undefined) return '–';
    if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
    return String(v);
  }
  var TONES = {
    up: 'ok', online: 'ok', ready: 'ok',
    down: 'bad', offline: 'bad', 'not ready': 'bad',
    starting: 'warn', connecting: 'warn', stopping: 'warn',
    stopped: 'off', disabled: 'off'
  };
  function badge(state, label) {
    return el('span', { cls: 'badge t-' + (TONES[state] || 'off'), text: label || state });
  }
  function kv(dl, rows) {
    fill(dl, []);
    rows.forEach(function (r) {
      if (!r) return;
      dl.appendChild(el('dt', { text: r[0] }));
      var dd = el('dd', r[2] ? { cls: r[2] } : {});
      if (typeof r[1] === 'string') dd.textContent = r[1]; else dd.appendChild(r[1]);
      dl.appendChild(dd);
    });
  }

  /** The tab's icon is a dot in the readiness colour, so a background tab still tells. */
  function renderFavicon(tone) {
    var colours = { ok: '%2315803d', bad: '%23c62828', warn: '%23b45309', off: '%236b7280' };
    byId('favicon').setAttribute('href', 'data:image/svg+xml,<svg xmlns=%22http://www.w3.org/2000/svg%22 viewBox=%220 0 16 16%22><circle cx=%228%22 cy=%228%22 r=%227%22 fill=%22' + colours[tone] + '%22/></svg>');
  }

  function renderHeader(s) {
    byId('site').textContent = s && s.site ? s.site.group + ' / ' + s.site.node : '';
    var ready = s && s.ready;
    var readyState = ready ? (ready.ready ? 'ready' : (s.starting ? 'starting' : 'not ready')) : null;
    fill(byId('ready'), [readyState ? badge(readyState) : null]);
    renderFavicon(failing ? 'bad' : TONES[readyState] || 'off');
    document.title = (s && s.site ? s.site.node + ' · ' : '') + (failing ? 'no answer' : readyState || 'loading') + ' · edge-gateway';
    var meta = [];
    if (s && s.startedAt) meta.push('running for ' + duration(gatewayNow() - Date.parse(s.startedAt)));
    meta.push(failing ? 'no answer since ' + clock(failing.since) : 'updated ' + clock(Date.now()) + ', every ' + REFRESH_MS / 1000 + ' s');
    byId('meta').textContent = meta.join(' · ');
  }

  function renderBanner(s) {
    var kids = [];
    if (failing) {
      kids.push(el('div', { cls: 'banner bad' }, ['The gateway does not answer (' + failing.error + '); showing what it said at ' + clock(failing.lastOk || failing.since) + '.']));
    }
    if (s && s.ready && !s.ready.ready) {
      kids.push(el('div', { cls: 'banner ' + (s.starting ? 'warn' : 'bad') }, [
        s.starting ? 'Starting.' : 'Not ready.',
        el('ul', {}, s.ready.reasons.map(function (r) { return el('li', { text: r }); }))
      ]));
    }
    if (s && s.uplink && s.uplink.state === 'down') {
      kids.push(el('div', { cls: 'banner warn' }, ['Kafka has been unreachable' + (s.uplink.since ? ' for ' + ago(s.uplink.since).replace(' ago', '') : '') +
        '; the journal keeps every record and forwards the backlog when it returns.']));
    }
    fill(byId('banner'), kids);
  }

  function renderJournal(j) {
    byId('journal-records').textContent = int(j.records);
    var dropped = Object.keys(j.dropped || {}).filter(function (k) { return j.dropped[k] > 0; })
      .map(function (k) { return k + ' ' + int(j.dropped[k]); }).join(', ');
    kv(byId('journal-kv'), [
      ['bytes', bytes(j.bytes) + ' (file ' + bytes(j.fileBytes) + ')'],
      ['oldest record', j.oldestAgeMs === null ? 'none waiting' : duration(j.oldestAgeMs) + ' old'],
      ['captured', int(j.captured) + ' since start, ' + rate(j.captureRate) + ' /s' +
        (j.waiting ? '; ' + int(j.waiting) + ' published, waiting for the commit due ' + (j.commitDueAt ? new Date(j.commitDueAt).toLocaleTimeString() : 'now') : '')],
      ['capacity', el('span', { 'data-field': 'journal-capacity', text: j.capacity || '–' })],
      j.maxBytes === null || j.maxBytes === undefined ? null : ['bound', bytes(j.maxBytes) + (j.maxBytesPercent ? ' (' + j.maxBytesPercent + '% of ' + bytes(j.roomBytes) + ' room on the disk)' : '') +
        (j.bytesPerSample ? ', ' + (Math.round(j.bytesPerSample * 10) / 10) + ' bytes per sample' : '')],
      ['next edge.seq', int(j.nextSeq)],
      ['dropped', dropped || 'none', dropped ? 'err' : ''],
      j.writeError ? ['write error', j.writeError, 'err'] : null,
      j.quarantined ? ['corrupt file', 'moved to ' + j.quarantined, 'err'] : null,
      j.damaged ? ['damaged file', j.damaged.why + ': ' + int(j.damaged.count) + ' seqs announced lost', 'err'] : null,
      j.checksumMismatches ? ['checksum mismatches', int(j.checksumMismatches) + ' records set aside', 'err'] : null
    ]);
  }

  function renderUplink(u) {
    fill(byId('uplink-state'), [badge(u.state)]);
    fill(byId('uplink-rate'), [document.createTextNode(rate(u.throughput)), el('span', { cls: 'unit', text: 'records/s forwarded' })]);
    kv(byId('uplink-kv'), [
      ['target', u.target || 'no uplink configured'],
      u.client ? ['client', u.client + ', ' + (u.compression === 'none' ? 'uncompressed' : u.compression)] : null,
      u.wireBytesPerSample === null || u.wireBytesPerSample === undefined ? null : ['on the wire', u.wireBytesPerSample.toFixed(1) + ' B per sample, ' + int(u.wireBytes) + ' B since start'],
      ['state since', u.since ? ago(u.since) : '–'],
      ['forwarded', int(u.forwarded) + ' since start'],
      ['last ack', ago(u.lastAckAt)],
      ['latency', u.lastLatencyMs === null ? '–' : latency(u.lastLatencyMs) + ' capture → ack (last batch)'],
      ['dead letters', int(u.deadLettered), u.deadLettered ? 'err' : ''],
      u.lastError ? ['last error', u.lastError, 'err'] : null
    ]);
  }

  function renderSparkplug(p) {
    fill(byId('sparkplug-state'), [badge(p.state)]);
    kv(byId('sparkplug-kv'), [
      ['broker', p.server + (p.brokerClients === null ? ' (external)' : ' (embedded, ' + p.brokerClients + (p.brokerClients === 1 ? ' client)' : ' clients)'))
        + (p.servers && p.servers.length > 1 ? ' · server ' + (p.servers.indexOf(p.server) + 1) + ' of ' + p.servers.length + ', ' + int(p.serverSwitches) + ' switches' : '')],
      ['bdSeq', p.bdSeq === null ? '–' : String(p.bdSeq)],
      ['published', int(p.published)],
      ['rebirths', int(p.rebirths)],
      ['writes', int(p.writes)],
      ['commands refused', int(p.commandsRefused) + (p.retainedCommandsIgnored ? ' · ' + int(p.retainedCommandsIgnored) + ' retained ignored' : ''), p.commandsRefused || p.retainedCommandsIgnored ? 'err' : ''],
      ['failed connects', int(p.connectFailures || 0), p.connectFailures ? 'err' : ''],
      ['held for history', int(p.held) + (p.heldDropped ? ' (' + int(p.heldDropped) + ' dropped)' : ''), p.heldDropped ? 'err' : ''],
      ['primary host', p.primaryHost ? p.primaryHost.id + (p.primaryHost.online ? ' online' : ' offline') : 'none', p.primaryHost && !p.primaryHost.online ? 'err' : '']
    ]);
  }

  function renderDevices(devices) {
    fill(byId('devices'), devices.map(function (d) {
      var rows = d.tags.map(function (t) {
        return el('tr', { 'data-tag': t.name }, [
          el('td', { text: t.name }),
          el('td', { cls: 'value q-' + t.quality, text: tagValue(t.value) }),
          el('td', { cls: 'q-' + t.quality, text: t.quality }),
          el('td', { cls: 'age', text: ago(t.timestamp) })
        ]);
      });
      var table = rows.length
        ? el('table', {}, [el('thead', {}, [el('tr', {}, [el('th', { text: 'tag' }), el('th', { text: 'value', style: 'text-align:right' }), el('th', { text: 'quality' }), el('th', { text: 'read' })])]), el('tbody', {}, rows)])
        : el('div', { cls: 'muted', text: 'no values read yet' });
      return el('section', { cls: 'card' + (d.state === 'down' ? ' down' : ''), 'data-device': d.name }, [
        el('div', { cls: 'device-head' }, [el('span', { cls: 'name', text: d.name }), badge(d.state), el('span', { cls: 'muted', text: d.driver })]),
        el('div', { cls: 'device-stats', text: 'last poll ' + ago(d.lastPollAt) + ' · polls ' + int(d.polls) + ' · errors ' + int(d.errors) }),
        d.lastError ? el('div', { cls: 'device-error', text: 'last error: ' + d.lastError }) : null,
        table
      ]);
    }));
    byId('device-count').textContent = devices.length ? '(' + devices.filter(function (d) { return d.state === 'up'; }).length + ' of ' + devices.length + ' answering)' : '';
  }

  var SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }
  function short(n) {
    if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + 'M';
    if (n >= 1e4) return Math.round(n / 1e3) + 'k';
    return String(Math.round(n * 100) / 100);
  }

  function renderChart(h) {
    var box = byId('chart');
    var W = Math.max(320, box.clientWidth), H = 220;
    var m = { l: 52, r: 52, t: 10, b: 24 };
    var now = gatewayNow();
    var all = (h && h.points) || [];
    // A gateway that started a few minutes ago gets a few minutes' chart, not a sliver at the right edge.
    var spanMin = 60, oldest = all.length ? (now - all[0].t) / 60000 + ((h && h.intervalMs) || 10000) / 60000 : 0;
    [5, 10, 15, 30, 60].some(function (m) { spanMin = m; return oldest <= m; });
    var span = spanMin * 60000, t0 = now - span;
    byId('chart-title').textContent = spanMin === 60 ? 'Last hour' : 'Last ' + spanMin + ' minutes';
    var pts = all.filter(function (p) { return p.t >= t0; });
    var maxB = niceMax(Math.max.apply(null, [0].concat(pts.map(function (p) { return p.records; }))));
    var maxR = niceMax(Math.max.apply(null, [0].concat(pts.map(function (p) { return Math.max(p.capturedPerSec, p.forwardedPerSec); }))));
    var iw = W - m.l - m.r, ih = H - m.t - m.b;
    function x(t) { return m.l + ((t - t0) / span) * iw; }
    function yB(v) { return m.t + (1 - v / maxB) * ih; }
    function yR(v) { return m.t + (1 - v / maxR) * ih; }
    var root = svg('svg', { width: W, height: H, role: 'img', 'aria-label': 'journal backlog and rates over the last hour' });
    for (var i = 0; i <= 4; i++) {
      var y = m.t + (i / 4) * ih;
      root.appendChild(svg('line', { x1: m.l, x2: W - m.r, y1: y, y2: y, stroke: '#e3e7ec' }));
      root.appendChild(svg('text', { x: m.l - 6, y: y + 4, 'text-anchor': 'end' }, short(maxB * (1 - i / 4))));
      root.appendChild(svg('text', { x: W - m.r + 6, y: y + 4 }, short(maxR * (1 - i / 4))));
    }
    var step = spanMin <= 5 ? 1 : spanMin <= 15 ? spanMin / 5 : spanMin / 6, ticks = spanMin / step;
    for (var k = 0; k <= ticks; k++) {
      var tx = m.l + (k / ticks) * iw;
      root.appendChild(svg('line', { x1: tx, x2: tx, y1: m.t + ih, y2: m.t + ih + 4, stroke: '#9aa3af' }));
      root.appendChild(svg('text', { x: tx, y: H - 6, 'text-anchor': k === 0 ? 'start' : k === ticks ? 'end' : 'middle' }, k === ticks ? 'now' : '−' + (spanMin - k * step) + ' min'));
    }
    if (pts.length >= 1) {
      var line = function (f, y) { return pts.map(function (p, j) { return (j ? 'L' : 'M') + x(p.t).toFixed(1) + ',' + y(f(p)).toFixed(1); }).join(' '); };
      var recs = function (p) { return p.records; };
      var area = line(recs, yB) + ' L' + x(pts[pts.length - 1].t).toFixed(1) + ',' + (m.t + ih) + ' L' + x(pts[0].t).toFixed(1) + ',' + (m.t + ih) + ' Z';
      root.appendChild(svg('path', { d: area, fill: 'rgba(37,99,235,.13)', stroke: 'none' }));
      root.appendChild(svg('path', { d: line(recs, yB), fill: 'none', stroke: 'var(--backlog)', 'stroke-width': 2 }));
      root.appendChild(svg('path', { d: line(function (p) { return p.capturedPerSec; }, yR), fill: 'none', stroke: 'var(--capture)', 'stroke-width': 1.6 }));
      root.appendChild(svg('path', { d: line(function (p) { return p.forwardedPerSec; }, yR), fill: 'none', stroke: 'var(--forward)', 'stroke-width': 1.6, 'stroke-dasharray': '5 3' }));
      var lastP = pts[pts.length - 1];
      root.appendChild(svg('circle', { cx: x(lastP.t).toFixed(1), cy: yB(lastP.records).toFixed(1), r: 3, fill: 'var(--backlog)' }));
    }
    if (pts.length < 2) {
      root.appendChild(svg('text', { x: m.l + iw / 2, y: m.t + ih / 2, 'text-anchor': 'middle', style: 'font-size:13px' },
        'collecting: one point every ' + Math.round(((h && h.intervalMs) || 10000) / 1000) + ' s'));
    }
    fill(box, [root]);
  }

  function render() {
    var s = status;
    renderHeader(s);
    renderBanner(s);
    if (s && !s.starting) {
      renderJournal(s.journal);
      renderUplink(s.uplink);
      renderSparkplug(s.sparkplug);
      renderDevices(s.devices);
    }
    renderChart(history);
    byId('main').className = failing ? 'stale' : '';
  }

  function getJson(path) {
    return fetch(path, { cache: 'no-store' }).then(function (res) {
      if (!res.ok && res.status !== 503) throw new Error('HTTP ' + res.status);
      return res.json();
    });
  }

  function refresh() {
    Promise.all([getJson('api/status'), getJson('api/history')]).then(function (r) {
      status = r[0];
      history = r[1];
      var now = Date.parse(status.now || history.now);
      if (now) offsetMs = now - Date.now();
      failing = null;
    }, function (err) {
      failing = failing || { since: Date.now(), lastOk: status ? Date.now() - REFRESH_MS : null };
      failing.error = err && err.message ? err.message : String(err);
    }).then(function () {
      render();
      setTimeout(refresh, REFRESH_MS);
    });
  }

  window.addEventListener('resize', function () { renderChart(history); });
  refresh();
})();
`;
