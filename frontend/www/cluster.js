/* frontend/www/cluster.js - the cluster panel (window.Bazar.cluster): polls
 * GET /bazar/status and shows per service each replica's state, role, whether it serves,
 * epoch, log position, lag behind the primary, replayed entries and snapshots, a verdict
 * ("hashes agree", "catching up (n behind)", "hashes differ"), a sparkline of the
 * service's log position over the last minute, the cache hit ratio and, in the footer,
 * the replica counts. Tables are built once and their cells updated in place, so a
 * screen reader keeps its place while the panel refreshes. */
'use strict';

(function (B) {
  var $ = B.$, el = B.el;
  var SERVICES = ['catalog', 'order'];
  var WINDOW_MS = 60000;       /* the sparkline's span */
  var SPARK_W = 120, SPARK_H = 24;
  var COLUMNS = [              /* [key, header, header title, numeric] */
    ['replica', 'Replica', '', false], ['state', 'State', 'up or down', false],
    ['role', 'Role', '', false], ['serving', 'Serving', 'serves reads and writes', false],
    ['epoch', 'Epoch', 'the epoch (term) this replica is in', true],
    ['applied', 'Log pos.', 'log position applied', true],
    ['lag', 'Lag', 'entries behind the primary', true],
    ['replayed', 'Replayed', 'entries applied since this replica started', true],
    ['snapshots', 'Snapshots', 'snapshots installed', true],
    ['hash', 'Hash', 'the start of the state hash (replicas with the same state have the same)', false]];
  var history = { catalog: [], order: [] };   /* [{t, pos}] over the last WINDOW_MS */
  var busy = false;

  function known(v) { return v !== null && v !== undefined; }
  function text(v) { return known(v) ? String(v) : '-'; }

  /* ---- building (once per service, again only if its replica count changes) ----------- */

  function build(name, n) {
    var spark = B.svg('svg', { width: SPARK_W, height: SPARK_H, viewBox: '0 0 ' + SPARK_W + ' ' + SPARK_H,
                               class: 'spark', role: 'img', id: 'spark-' + name });
    var title = B.svg('title', {});
    spark.appendChild(title);
    spark.appendChild(B.svg('polyline', { points: '', fill: 'none', 'stroke-width': '2' }));
    var head = el('h3', null, [
      el('span', null, name),
      el('span', { className: 'badge', id: name + '-up' }),
      el('span', { className: 'badge', id: name + '-primary' }),
      el('span', { className: 'badge', id: name + '-verdict' })]);
    var sparkRow = el('p', { className: 'sparkrow hint' }, [el('span', null, 'log position, last minute'), spark]);
    var headRow = el('tr', null, COLUMNS.map(function (c) {
      var th = el('th', { className: c[3] ? 'num' : '', scope: 'col' }, c[1]);
      if (c[2]) th.title = c[2];
      return th;
    }));
    var rows = [];
    for (var i = 1; i <= n; i++) {
      var tr = el('tr', null, COLUMNS.map(function (c) {
        var td = el('td', { className: c[3] ? 'num' : 'nowrap' });
        td.dataset.col = c[0];
        return td;
      }));
      tr.dataset.replica = String(i);
      rows.push(tr);
    }
    var table = el('table', { className: 'grid' }, [el('thead', null, [headRow]), el('tbody', null, rows)]);
    table.setAttribute('aria-label', name + ' replicas');
    /* focusable so that a keyboard can scroll it sideways on a narrow screen */
    var scroll = el('div', { className: 'scroll', tabIndex: 0 }, [table]);
    scroll.setAttribute('role', 'region');
    scroll.setAttribute('aria-label', name + ' replicas (scrolls sideways)');
    var box = el('div', { className: 'svc' }, [head, sparkRow, scroll]);
    box.id = 'svc-' + name;
    return box;
  }

  /* sets a node's text and class only when they change (no churn for assistive tech) */
  function put(node, value, cls) {
    if (node.textContent !== value) node.textContent = value;
    if (cls !== undefined && node.className !== cls) node.className = cls;
  }

  /* ---- updating in place ------------------------------------------------------------- */

  function primaryOf(svc) {
    return svc.replicas.filter(function (r) { return r.up && r.role === 'primary'; })[0] || null;
  }

  /* "hashes agree" when every replica up is at the same position with the same hash;
   * "catching up (n behind)" when positions differ (n: the furthest behind the most
   * advanced); "hashes differ" only for different states at the same position */
  function verdict(svc) {
    var up = svc.replicas.filter(function (r) { return r.up && typeof r.applied === 'number'; });
    if (up.length === 0) return ['no replica up', 'badge bad'];
    var max = Math.max.apply(null, up.map(function (r) { return r.applied; }));
    var min = Math.min.apply(null, up.map(function (r) { return r.applied; }));
    if (max !== min) return ['catching up (' + B.count(max - min) + ' behind)', 'badge warn'];
    var h = up[0].hash;
    return up.every(function (r) { return r.hash === h; }) ? ['hashes agree', 'badge ok'] : ['hashes differ', 'badge bad'];
  }

  function updateRow(tr, r, primary) {
    var cells = {};
    Array.prototype.forEach.call(tr.cells, function (td) { cells[td.dataset.col] = td; });
    var lag = r.up && primary && typeof r.applied === 'number' ? Math.max(0, primary.applied - r.applied) : null;
    var rowCls = r.up && r.role === 'primary' ? 'primary' : '';
    if (tr.className !== rowCls) tr.className = rowCls;
    put(cells.replica, '#' + r.id);
    put(cells.state, r.up ? 'up' : 'down', 'nowrap ' + (r.up ? 'up' : 'down'));
    put(cells.role, r.up ? text(r.role) : '-');
    put(cells.serving, !r.up || !known(r.serving) ? '-' : r.serving ? 'yes' : 'no',
        'nowrap' + (r.up && r.serving === false ? ' warn' : ''));
    put(cells.epoch, r.up ? text(r.epoch) : '-');
    put(cells.applied, r.up ? text(r.applied) : '-');
    put(cells.lag, lag === null ? '-' : lag === 0 ? '0' : lag + ' behind', 'num' + (lag ? ' warn' : ''));
    put(cells.replayed, r.up ? text(r.replayed) : '-');
    put(cells.snapshots, r.up ? text(r.snapshots) : '-');
    put(cells.hash, r.hash ? String(r.hash).slice(0, 6) : '-', 'hash');
    if (cells.hash.title !== (r.hash || '')) cells.hash.title = r.hash || '';
  }

  function updateSpark(name, svc, now) {
    var ups = svc.replicas.filter(function (r) { return r.up && typeof r.applied === 'number'; });
    var h = history[name];
    if (ups.length) h.push({ t: now, pos: Math.max.apply(null, ups.map(function (r) { return r.applied; })) });
    while (h.length && h[0].t < now - WINDOW_MS) h.shift();
    var spark = $('spark-' + name);
    var line = spark.querySelector('polyline'), title = spark.querySelector('title');
    if (!h.length) { line.setAttribute('points', ''); title.textContent = name + ': no log position known'; return; }
    var lo = h[0].pos, hi = h[h.length - 1].pos;
    h.forEach(function (p) { lo = Math.min(lo, p.pos); hi = Math.max(hi, p.pos); });
    var pts = h.map(function (p) {
      var x = SPARK_W - (now - p.t) / WINDOW_MS * (SPARK_W - 2) - 1;
      var y = hi === lo ? SPARK_H / 2 : SPARK_H - 2 - (p.pos - lo) / (hi - lo) * (SPARK_H - 4);
      return x.toFixed(1) + ',' + y.toFixed(1);
    });
    line.setAttribute('points', pts.join(' '));
    var label = name + ' log position over the last minute: ' + B.count(h[0].pos) + ' to ' + B.count(hi) +
      ' (' + B.count(hi - h[0].pos) + (hi - h[0].pos === 1 ? ' new entry)' : ' new entries)');
    if (title.textContent !== label) title.textContent = label;
    spark.setAttribute('aria-label', label);
  }

  function updateService(name, svc, now) {
    var box = $('svc-' + name);
    if (!box || box.querySelectorAll('tbody tr').length !== svc.replicas.length) {
      var fresh = build(name, svc.replicas.length);
      if (box) box.parentNode.replaceChild(fresh, box);
      else $('services').appendChild(fresh);
      box = fresh;
    }
    var primary = primaryOf(svc), v = verdict(svc);
    put($(name + '-up'), svc.up + ' of ' + svc.replicas.length + ' up');
    put($(name + '-primary'), 'primary ' + (svc.primary === null || svc.primary === undefined ? 'none' : '#' + svc.primary));
    put($(name + '-verdict'), v[0], v[1]);
    var rows = box.querySelectorAll('tbody tr');
    svc.replicas.forEach(function (r, i) { updateRow(rows[i], r, primary); });
    updateSpark(name, svc, now);
  }

  function updateCache(c) {
    var line = $('cache-line'), t;
    c = c || {};
    if (!c.enabled) t = 'Cache: off';
    else if (typeof c.hit_ratio === 'number')
      t = 'Cache hit ratio: ' + (100 * c.hit_ratio).toFixed(1) + '% (' + B.count(c.hits) + ' hits, ' +
        B.count(c.misses) + ' misses)';
    else if (!known(c.hits)) t = 'Cache: Redis unreachable (lookups bypass it)';
    else t = 'Cache hit ratio: - (no lookups yet)';
    put(line, t);
  }

  function updateFooter(body) {
    put($('foot-replicas'), B.plural(body.catalog.replicas.length, 'catalog replica') + ' and ' +
        B.plural(body.order.replicas.length, 'order replica'));
  }

  function refresh() {
    if (busy) return Promise.resolve();
    busy = true;
    $('services').setAttribute('aria-busy', 'true');
    return B.api('GET', '/bazar/status').then(function (r) {
      busy = false;
      $('services').removeAttribute('aria-busy');
      var msg = $('status-msg'), now = Date.now();
      if (r.status !== 200 || !r.body || !r.body.catalog || !r.body.order) {
        B.say(msg, r.status === 0 ? 'Cannot reach the front end.' : 'Status unavailable: ' + B.errorOf(r), 'error');
        return;
      }
      if (msg.textContent) B.say(msg, '');
      SERVICES.forEach(function (name) { updateService(name, r.body[name], now); });
      updateCache(r.body.cache);
      updateFooter(r.body);
      put($('status-time'), 'updated ' + new Date(now).toLocaleTimeString());
    });
  }

  function init() {
    $('status-btn').addEventListener('click', refresh);
    window.setInterval(function () {
      if ($('auto').checked && !document.hidden) refresh();
    }, 2000);
    return refresh();
  }

  B.cluster = { init: init, refresh: refresh };
})(window.Bazar);
