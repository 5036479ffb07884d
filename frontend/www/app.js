/* frontend/www/app.js - the storefront's book details, buying (safe to retry), your orders
 * and admin forms, and the page's start-up (util.js, catalog.js and cluster.js load first).
 * Every string from the server is rendered with textContent (never innerHTML), so a title
 * like <script>...</script> shows as text. */
'use strict';

(function (B) {
  var $ = B.$, el = B.el, clear = B.clear, say = B.say, money = B.money, plural = B.plural,
      api = B.api, errorOf = B.errorOf;
  var TOKEN_KEY = 'bazar.adminToken';
  /* localStorage: {book id: {key, book_id, title, since}}, the purchases sent without a
   * definite answer yet, and [order id...], newest first, the orders this browser placed. */
  var PENDING_KEY = 'bazar.pendingPurchases';
  var ORDERS_KEY = 'bazar.orders';
  var MAX_ORDERS = 100;
  /* After no answer or a 5xx the same purchase is asked again after these pauses, while
   * the next try starts within RETRY_BUDGET_MS of the first; then the user decides. The
   * front end itself tries a write for write_deadline_ms (5 s) before its 503, so a 503
   * that slow is not asked again here at once. */
  var RETRY_DELAYS_MS = [250, 500, 1000];
  var RETRY_BUDGET_MS = 4000;
  var current = null;        /* the book shown in the details panel */
  var buying = {};           /* book id -> true while this page waits for its purchase */
  var orderCache = {};       /* order id -> the order (orders never change) */
  var shownOrder = null;     /* the order shown in the order details */

  function randomKey() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return 'web-' + Array.prototype.map.call(b, function (x) {
      return (x < 16 ? '0' : '') + x.toString(16);
    }).join('');
  }

  /* ---- details ----------------------------------------------------------------------- */

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
      showBuyButton();
      B.catalog.showFacts(b);
    });
  }

  /* the catalog (a result, #book/<id>) opens a book; focus: move the focus to it */
  function openBook(id, focus) {
    say($('buy-msg'), '');
    return showDetails(id).then(function () { if (focus) focusDetails(); });
  }

  function closeBook() { current = null; $('details').hidden = true; }

  /* "Try again" while the shown book has a purchase without a definite answer */
  function showBuyButton() {
    var btn = $('buy-btn');
    if (!current) return;
    btn.disabled = !!buying[current.id];
    btn.textContent = pendingPurchases()[current.id] ? 'Try again' : 'Buy one copy';
  }


  /* ---- buying: one Idempotency-Key per purchase, kept until a definite answer -------- */

  function loadJSON(key, fallback) {
    try {
      var v = JSON.parse(window.localStorage.getItem(key));
      return v !== null && typeof v === typeof fallback && Array.isArray(v) === Array.isArray(fallback)
        ? v : fallback;
    } catch (e) { return fallback; }
  }

  function saveJSON(key, value) {
    try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: this page only */ }
  }

  function pendingPurchases() { return loadJSON(PENDING_KEY, {}); }

  /* the attempt for book `id`: the one still waiting for an answer, or a new key */
  function purchaseAttempt(id, title) {
    var all = pendingPurchases(), p = all[id];
    if (p && typeof p.key === 'string') return p;
    p = { key: randomKey(), book_id: id, title: title, since: new Date().toISOString() };
    all[id] = p;
    saveJSON(PENDING_KEY, all);
    return p;
  }

  function settleAttempt(p) {
    var all = pendingPurchases();
    if (all[p.book_id] && all[p.book_id].key === p.key) {
      delete all[p.book_id];
      saveJSON(PENDING_KEY, all);
    }
  }

  function wait(ms) { return new Promise(function (resolve) { window.setTimeout(resolve, ms); }); }

  /* A 200 with the order, or a 4xx, is a definite answer; no answer (status 0) or a 5xx
   * is not: the order may or may not have been taken. */
  function definite(r) { return (r.status === 200 && r.body) || (r.status >= 400 && r.status < 500); }

  /* Sends the purchase, and again with the same key after no answer or a 5xx, a bounded
   * number of times (RETRY_DELAYS_MS, RETRY_BUDGET_MS); `checking` is told before each repeat. */
  function sendPurchase(p, checking) {
    var started = Date.now();
    function attempt(n) {
      return api('POST', '/bazar/purchase/' + p.book_id, undefined, { 'Idempotency-Key': p.key })
        .then(function (r) {
          if (definite(r) || n >= RETRY_DELAYS_MS.length ||
              Date.now() + RETRY_DELAYS_MS[n] - started > RETRY_BUDGET_MS) return r;
          checking(n + 2, RETRY_DELAYS_MS.length + 1);
          return wait(RETRY_DELAYS_MS[n]).then(function () { return attempt(n + 1); });
        });
    }
    return attempt(0);
  }

  function buy(id, title) {
    if (buying[id]) return Promise.resolve();
    var p = purchaseAttempt(id, title);
    var msg = current && current.id === id && !$('details').hidden ? $('buy-msg') : $('pending-msg');
    buying[id] = true;
    showBuyButton();
    renderPending();
    say(msg, 'Placing the order…');
    return sendPurchase(p, function (n, of) {
      say(msg, 'Your order may have gone through; checking… (asking again, ' + n + ' of ' + of + ')', 'warn');
    }).then(function (r) {
      delete buying[id];
      if (definite(r)) settleAttempt(p);
      if (r.status === 200 && r.body) {
        say(msg, 'Order #' + r.body.order_id + ' confirmed: “' + r.body.title + '” for ' +
            money(r.body.price) + '.', 'ok');
        rememberOrder(r.body);
      } else if (r.status === 409) {
        say(msg, 'Sorry, this book is out of stock: nothing was bought. An admin can restock it.', 'error');
      } else if (r.status === 404) {
        say(msg, 'This book does not exist (any more): nothing was bought.', 'error');
      } else if (r.status >= 400 && r.status < 500) {
        say(msg, 'The order was refused (nothing was bought): ' + errorOf(r), 'error');
      } else {
        say(msg, (r.status === 0 ? 'Still no answer from the store (check your connection).'
          : r.status === 503 ? 'The store cannot take orders right now (no replica could confirm the order).'
          : 'The store failed to answer (' + errorOf(r) + ').') +
          ' Your order may have gone through. “Try again” asks with the same purchase key, so it' +
          ' confirms that order or places it, never a second copy.', 'error');
      }
      renderPending();
      showBuyButton();
      return Promise.all([current && current.id === id ? showDetails(id) : null, B.catalog.reload()]);
    });
  }

  function renderPending() {
    var all = pendingPurchases(), ul = $('pending-list');
    var ids = Object.keys(all).filter(function (k) { return all[k] && typeof all[k].key === 'string'; });
    clear(ul);
    $('pending').hidden = ids.length === 0;
    ids.forEach(function (k) {
      var p = all[k], since = new Date(p.since);
      var text = el('span', { id: 'pending-text-' + k },
        '“' + p.title + '” (book #' + p.book_id + ')' +
        (isNaN(since.getTime()) ? '' : ', sent ' + since.toLocaleString()));
      var again = el('button', { type: 'button', className: 'again' }, buying[k] ? 'Checking…' : 'Try again');
      again.disabled = !!buying[k];
      again.setAttribute('aria-describedby', text.id);
      again.dataset.book = String(p.book_id);
      again.addEventListener('click', function () {
        say($('pending-msg'), '');
        showDetails(p.book_id).then(function () {
          focusDetails();
          return buy(p.book_id, p.title);
        });
      });
      ul.appendChild(el('li', null, [text, again]));
    });
  }

  function focusDetails() { if (!$('details').hidden) $('d-title').focus(); }

  /* ---- your orders ------------------------------------------------------------------- */

  function orderIds() {
    return loadJSON(ORDERS_KEY, []).filter(function (x) { return typeof x === 'number'; });
  }

  function rememberOrder(o) {
    orderCache[o.order_id] = o;
    var ids = orderIds().filter(function (x) { return x !== o.order_id; });
    ids.unshift(o.order_id);
    saveJSON(ORDERS_KEY, ids.slice(0, MAX_ORDERS));
    renderOrders();
  }

  function fetchOrder(id) {
    if (orderCache[id]) return Promise.resolve({ status: 200, body: orderCache[id] });
    return api('GET', '/bazar/orders/' + id).then(function (r) {
      if (r.status === 200 && r.body) orderCache[id] = r.body;
      return r;
    });
  }

  function when(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  function renderOrders() {
    var ul = $('order-list'), ids = orderIds(), msg = $('orders-msg');
    clear(ul);
    say(msg, ids.length ? plural(ids.length, 'order') + ' placed from this browser.'
      : 'No orders from this browser yet.');
    return Promise.all(ids.map(function (id) {
      var btn = el('button', { type: 'button', className: 'order' }, 'Order #' + id);
      var facts = el('span', { className: 'facts', id: 'order-facts-' + id }, 'loading…');
      btn.dataset.id = String(id);
      btn.setAttribute('aria-describedby', facts.id);
      btn.addEventListener('click', function () { showOrder(id); });
      ul.appendChild(el('li', null, [btn, facts]));
      return fetchOrder(id).then(function (r) {
        if (r.status === 200 && r.body) {
          btn.textContent = 'Order #' + id + ': ' + r.body.title;
          facts.textContent = money(r.body.price) + ' · ' + when(r.body.created_at);
        } else {
          facts.textContent = r.status === 404 ? 'not found in this store'
            : 'details unavailable right now (' + (r.status === 0 ? 'no answer' : errorOf(r)) + ')';
        }
      });
    }));
  }

  function showOrder(id) {
    return fetchOrder(id).then(function (r) {
      var box = $('order-details');
      if (r.status !== 200 || !r.body) {
        say($('orders-msg'), 'Could not load order #' + id + ': ' +
            (r.status === 0 ? 'no answer from the store.' : errorOf(r)), 'error');
        return;
      }
      var o = r.body;
      shownOrder = o;
      Array.prototype.forEach.call($('order-list').querySelectorAll('button'), function (x) {
        if (x.dataset.id === String(id)) x.setAttribute('aria-current', 'true');
        else x.removeAttribute('aria-current');
      });
      box.hidden = false;
      $('o-heading').textContent = 'Order #' + o.order_id;
      $('o-title').textContent = o.title;
      $('o-book').textContent = String(o.book_id);
      $('o-price').textContent = money(o.price);
      $('o-time').textContent = when(o.created_at);
      $('o-heading').focus();
    });
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

  function adminCall(method, path, body, done) {
    var msg = $('admin-msg'), tok = token();
    if (!tok) { say(msg, 'Enter the admin token first (Admin token, then “Use token”).', 'error'); return Promise.resolve(); }
    say(msg, 'Working…');
    return api(method, path, body, { Authorization: 'Bearer ' + tok }).then(function (r) {
      if (r.status === 200 || r.status === 201) {
        say(msg, done(r.body), 'ok');
        var tasks = [B.catalog.reload()];
        if (current && r.body && r.body.id === current.id) tasks.push(showDetails(current.id));
        if (method === 'POST' && path === '/bazar/books') tasks.push(B.catalog.loadTopics());
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

  /* ---- wiring ------------------------------------------------------------------------ */

  function init() {
    $('buy-btn').addEventListener('click', function () { if (current) buy(current.id, current.title); });
    $('o-open').addEventListener('click', function () {
      if (shownOrder) B.catalog.select(shownOrder.book_id);
    });
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

    showTokenState();
    renderPending();
    renderOrders();
    B.catalog.init({ openBook: openBook, onBookClosed: closeBook });
    B.cluster.init();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})(window.Bazar);
