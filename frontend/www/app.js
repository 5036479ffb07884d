/* frontend/www/app.js - the storefront's behaviour: search, details, buy, admin, cluster panel.
 * Every string from the server is rendered with textContent (never innerHTML), so a title
 * like <script>...</script> shows as text. */
'use strict';

(function () {
  var SEED_TOPICS = ['distributed systems', 'undergraduate school', 'new'];
  var TOKEN_KEY = 'bazar.adminToken';
  var current = null;        /* the book shown in the details panel */
  var statusBusy = false;

  function $(id) { return document.getElementById(id); }

  /* el('td', {className: 'num'}, 'text' or [children]) */
  function el(tag, props, content) {
    var e = document.createElement(tag);
    if (props) Object.keys(props).forEach(function (k) { e[k] = props[k]; });
    if (content !== undefined && content !== null) {
      if (Array.isArray(content)) content.forEach(function (c) { e.appendChild(c); });
      else e.textContent = String(content);
    }
    return e;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function say(node, text, kind) {
    node.textContent = text;
    node.className = 'msg' + (kind ? ' ' + kind : '');
  }

  function money(p) { return typeof p === 'number' ? '$' + p.toFixed(2) : '-'; }

  function randomKey() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return 'web-' + Array.prototype.map.call(b, function (x) {
      return (x < 16 ? '0' : '') + x.toString(16);
    }).join('');
  }

  /* fetch wrapper: resolves to {status, body} (status 0 when the server is unreachable). */
  function api(method, path, body, headers) {
    var opts = { method: method, headers: Object.assign({ Accept: 'application/json' }, headers || {}),
                 cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (t) {
        var parsed = null;
        try { parsed = t ? JSON.parse(t) : null; } catch (e) { parsed = null; }
        return { status: r.status, body: parsed };
      });
    }, function () { return { status: 0, body: null }; });
  }

  function errorOf(r) {
    return r.body && typeof r.body.error === 'string' ? r.body.error : 'HTTP ' + r.status;
  }

  /* ---- topics and search ------------------------------------------------------------ */

  function loadTopics() {
    return api('GET', '/bazar/info/all').then(function (r) {
      var topics = SEED_TOPICS.slice();
      if (r.status === 200 && Array.isArray(r.body)) {
        r.body.forEach(function (b) {
          if (b && typeof b.topic === 'string' && topics.indexOf(b.topic) < 0) topics.push(b.topic);
        });
        renderBooks(r.body);
      }
      var chips = $('topics'), list = $('topic-list');
      clear(chips);
      clear(list);
      topics.forEach(function (t) {
        var b = el('button', { type: 'button' }, t);
        b.addEventListener('click', function () { $('topic').value = t; search(t); });
        chips.appendChild(b);
        list.appendChild(el('option', { value: t }));
      });
    });
  }

  function search(topic) {
    var msg = $('search-msg'), ul = $('results');
    topic = topic.trim();
    if (!topic) { say(msg, 'Type or pick a topic.', 'warn'); return Promise.resolve(); }
    say(msg, 'Searching…');
    return api('GET', '/bazar/search/' + encodeURIComponent(topic)).then(function (r) {
      clear(ul);
      if (r.status !== 200 || !Array.isArray(r.body)) {
        say(msg, r.status === 0 ? 'Cannot reach the store.' : 'Search failed: ' + errorOf(r), 'error');
        return;
      }
      if (r.body.length === 0) { say(msg, 'No books on “' + topic + '”.', 'warn'); return; }
      say(msg, r.body.length + (r.body.length === 1 ? ' book' : ' books') + ' on “' + topic + '”.');
      r.body.forEach(function (b) {
        var btn = el('button', { type: 'button', className: 'result' }, b.title);
        btn.dataset.id = String(b.id);
        btn.addEventListener('click', function () {
          Array.prototype.forEach.call(ul.querySelectorAll('button'), function (x) {
            x.removeAttribute('aria-current');
          });
          btn.setAttribute('aria-current', 'true');
          say($('buy-msg'), '');
          showDetails(b.id);
        });
        ul.appendChild(el('li', null, [btn]));
      });
    });
  }

  /* ---- details and buying ------------------------------------------------------------ */

  function showDetails(id) {
    return api('GET', '/bazar/info/' + encodeURIComponent(String(id))).then(function (r) {
      var box = $('details');
      if (r.status !== 200 || !r.body) {
        say($('buy-msg'), r.status === 404 ? 'This book does not exist (any more).'
          : r.status === 0 ? 'Cannot reach the store.' : 'Could not load the book: ' + errorOf(r), 'error');
        return;
      }
      var b = r.body, stock = $('d-stock');
      var changed = current && current.id === b.id && current.quantity !== b.quantity;
      current = b;
      box.hidden = false;
      $('d-title').textContent = b.title;
      $('d-topic').textContent = b.topic;
      $('d-price').textContent = money(b.price);
      stock.textContent = String(b.quantity);
      stock.className = changed ? 'changed' : '';
      $('d-id').textContent = String(b.id);
      $('buy-btn').disabled = false;
    });
  }

  function buy() {
    if (!current) return Promise.resolve();
    var btn = $('buy-btn'), msg = $('buy-msg'), id = current.id;
    btn.disabled = true;
    say(msg, 'Placing the order…');
    return api('POST', '/bazar/purchase/' + id, undefined, { 'Idempotency-Key': randomKey() })
      .then(function (r) {
        if (r.status === 200 && r.body) {
          say(msg, 'Order #' + r.body.order_id + ' confirmed: “' + r.body.title + '” for ' +
              money(r.body.price) + '.', 'ok');
        } else if (r.status === 409) {
          say(msg, 'Sorry, this book is out of stock. An admin can restock it.', 'error');
        } else if (r.status === 503) {
          say(msg, 'The store cannot take orders right now (no replica can serve the request). ' +
              'Nothing was charged; please try again in a moment.', 'error');
        } else if (r.status === 404) {
          say(msg, 'This book does not exist (any more).', 'error');
        } else if (r.status === 0) {
          say(msg, 'Cannot reach the store: check your connection and try again.', 'error');
        } else {
          say(msg, 'The order failed: ' + errorOf(r), 'error');
        }
        return showDetails(id);
      })
      .then(function () { btn.disabled = false; refreshBooks(); });
  }

  /* ---- admin ------------------------------------------------------------------------- */

  function token() {
    try { return window.sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  function showTokenState() {
    $('token-state').textContent = token()
      ? 'Token set for this tab (sessionStorage only; closing the tab forgets it).'
      : 'No token set. It is kept in this tab only (sessionStorage).';
  }

  function renderBooks(books) {
    var body = $('books').tBodies[0];
    clear(body);
    books.slice().sort(function (a, b) { return a.id - b.id; }).forEach(function (b) {
      var tr = el('tr', null, [
        el('td', { className: 'num' }, b.id), el('td', { className: 'wrap' }, b.title),
        el('td', { className: 'wrap' }, b.topic),
        el('td', { className: 'num' }, money(b.price)), el('td', { className: 'num' }, b.quantity)]);
      tr.dataset.id = String(b.id);
      body.appendChild(tr);
    });
  }

  function refreshBooks() {
    return api('GET', '/bazar/info/all').then(function (r) {
      if (r.status === 200 && Array.isArray(r.body)) renderBooks(r.body);
    });
  }

  function adminCall(method, path, body, done) {
    var msg = $('admin-msg'), tok = token();
    if (!tok) { say(msg, 'Enter the admin token first (Admin token, then “Use token”).', 'error'); return Promise.resolve(); }
    say(msg, 'Working…');
    return api(method, path, body, { Authorization: 'Bearer ' + tok }).then(function (r) {
      if (r.status === 200 || r.status === 201) {
        say(msg, done(r.body), 'ok');
        var tasks = [refreshBooks()];
        if (current && r.body && r.body.id === current.id) tasks.push(showDetails(current.id));
        if (method === 'POST' && path === '/bazar/books') tasks.push(loadTopics());
        return Promise.all(tasks);
      }
      if (r.status === 401) say(msg, 'The admin token was rejected.', 'error');
      else if (r.status === 404) say(msg, 'No such book.', 'error');
      else if (r.status === 0) say(msg, 'Cannot reach the store.', 'error');
      else say(msg, 'Rejected (HTTP ' + r.status + '): ' + errorOf(r), 'error');
      return null;
    });
  }

  function num(id) { return Number($(id).value); }

  /* ---- cluster panel ----------------------------------------------------------------- */

  function renderService(name, svc) {
    var agree = svc.hashes_agree === true, none = !svc.up;
    var head = el('h3', null, [
      el('span', null, name),
      el('span', { className: 'badge' }, svc.up + ' of ' + svc.replicas.length + ' up'),
      el('span', { className: 'badge' }, 'primary ' + (svc.primary === null ? 'none' : '#' + svc.primary)),
      el('span', { className: 'badge ' + (agree ? 'ok' : 'bad') },
         none ? 'no replica up' : agree ? 'hashes agree' : 'hashes differ')]);
    var rows = svc.replicas.map(function (r) {
      var tr = el('tr', { className: r.role === 'primary' ? 'primary' : '' }, [
        el('td', { className: 'nowrap' }, '#' + r.id),
        el('td', { className: r.up ? 'up' : 'down' }, r.up ? 'up' : 'down'),
        el('td', { className: 'nowrap' }, r.role === null || r.role === undefined ? '-' : r.role),
        el('td', { className: 'num' }, r.applied === null || r.applied === undefined ? '-' : r.applied),
        el('td', { className: 'hash', title: r.hash || '' }, r.hash ? String(r.hash).slice(0, 10) : '-')]);
      tr.dataset.replica = String(r.id);
      return tr;
    });
    var table = el('table', { className: 'grid' }, [
      el('thead', null, [el('tr', null, [el('th', null, 'Replica'), el('th', null, 'State'),
        el('th', null, 'Role'), el('th', { className: 'num', title: 'log position (applied)' }, 'Log pos.'),
        el('th', null, 'State hash')])]),
      el('tbody', null, rows)]);
    var box = el('div', { className: 'svc' }, [head, el('div', { className: 'scroll' }, [table])]);
    box.id = 'svc-' + name;
    return box;
  }

  function refreshStatus() {
    if (statusBusy) return Promise.resolve();
    statusBusy = true;
    return api('GET', '/bazar/status').then(function (r) {
      statusBusy = false;
      var msg = $('status-msg'), box = $('services');
      if (r.status !== 200 || !r.body || !r.body.catalog || !r.body.order) {
        say(msg, r.status === 0 ? 'Cannot reach the front end.' : 'Status unavailable: ' + errorOf(r), 'error');
        return;
      }
      say(msg, '');
      clear(box);
      box.appendChild(renderService('catalog', r.body.catalog));
      box.appendChild(renderService('order', r.body.order));
      var c = r.body.cache || {}, line = $('cache-line');
      if (!c.enabled) line.textContent = 'Cache: off';
      else if (typeof c.hit_ratio === 'number')
        line.textContent = 'Cache hit ratio: ' + (100 * c.hit_ratio).toFixed(1) + '% (' + c.hits +
          ' hits, ' + c.misses + ' misses)';
      else if (c.hits === null || c.hits === undefined) line.textContent = 'Cache: Redis unreachable (lookups bypass it)';
      else line.textContent = 'Cache hit ratio: - (no lookups yet)';
      $('status-time').textContent = 'updated ' + new Date().toLocaleTimeString();
    });
  }

  /* ---- wiring ------------------------------------------------------------------------ */

  function init() {
    $('search-form').addEventListener('submit', function (e) { e.preventDefault(); search($('topic').value); });
    $('buy-btn').addEventListener('click', buy);
    $('refresh-btn').addEventListener('click', function () { if (current) showDetails(current.id); });

    $('token-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var t = $('token').value.trim();
      try {
        if (t) window.sessionStorage.setItem(TOKEN_KEY, t);
        else window.sessionStorage.removeItem(TOKEN_KEY);
      } catch (err) { say($('admin-msg'), 'This browser refuses sessionStorage.', 'error'); }
      $('token').value = '';
      showTokenState();
    });
    $('token-forget').addEventListener('click', function () {
      try { window.sessionStorage.removeItem(TOKEN_KEY); } catch (err) { /* nothing stored */ }
      showTokenState();
    });

    $('add-form').addEventListener('submit', function (e) {
      e.preventDefault();
      adminCall('POST', '/bazar/books', { title: $('add-title').value, topic: $('add-topic').value,
        price: num('add-price'), quantity: num('add-qty') }, function (b) {
        return 'Added book #' + b.id + ': “' + b.title + '” (' + b.quantity + ' in stock at ' + money(b.price) + ').';
      });
    });
    $('price-form').addEventListener('submit', function (e) {
      e.preventDefault();
      adminCall('PUT', '/bazar/books/' + num('price-id') + '/price', { price: num('price-value') }, function (b) {
        return 'Book #' + b.id + ' “' + b.title + '” now costs ' + money(b.price) + '.';
      });
    });
    $('restock-form').addEventListener('submit', function (e) {
      e.preventDefault();
      adminCall('POST', '/bazar/books/' + num('restock-id') + '/restock', { count: num('restock-count') }, function (b) {
        return 'Book #' + b.id + ' “' + b.title + '” now has ' + b.quantity + ' in stock.';
      });
    });

    $('status-btn').addEventListener('click', refreshStatus);
    window.setInterval(function () {
      if ($('auto').checked && !document.hidden) refreshStatus();
    }, 2000);

    showTokenState();
    loadTopics();
    refreshStatus();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
