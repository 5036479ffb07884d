/* frontend/www/catalog.js - the catalog view (window.Bazar.catalog): one page of
 * GET /bazar/books at a time (topic, title search as you type, sort, page size, page
 * controls), the topic buttons from GET /bazar/topics, and the URL state: the view in
 * the query string (?topic=&q=&page=&per_page=&sort=, defaults left out) and the open
 * book in the hash (#book/3), so back/forward, reload and shared links show the same. */
'use strict';

(function (B) {
  var $ = B.$, el = B.el, say = B.say;
  var DEFAULTS = { topic: '', q: '', page: 1, per_page: 20, sort: 'id' };
  var SORTS = ['id', '-id', 'title', '-title', 'price', '-price', 'quantity', '-quantity'];
  var PER_PAGES = [10, 20, 50, 100];
  var DEBOUNCE_MS = 250;
  var MAX_CHIPS = 24;          /* topic buttons shown; the field's list has more */
  var MAX_LISTED = 1000;       /* topics offered in the field's suggestions */
  var shown = null;            /* the view on screen (or being loaded) */
  var lastPage = 1;            /* of the view shown */
  var seq = 0;                 /* answers to older requests are dropped */
  var typingTimer = 0;
  var typingEntry = false;     /* the history entry on top was made by typing */
  var openBook = null;         /* app.js: shows a book's details -> Promise */
  var onBookClosed = null;
  var openedId = null;         /* the book the URL has opened (back/forward fire both
                                  popstate and hashchange: open it once) */

  /* ---- URL state --------------------------------------------------------------------- */

  function intIn(s, lo, hi, dflt) {
    var n = Number(s);
    return /^\d+$/.test(s || '') && n >= lo && n <= hi ? n : dflt;
  }

  function fromQuery(search) {
    var p = new URLSearchParams(search);
    var perPage = intIn(p.get('per_page'), 1, 100, DEFAULTS.per_page);
    return {
      topic: (p.get('topic') || '').slice(0, 200),
      q: (p.get('q') || '').slice(0, 200),
      page: intIn(p.get('page'), 1, 1000000000, 1),
      per_page: perPage,
      sort: SORTS.indexOf(p.get('sort')) >= 0 ? p.get('sort') : DEFAULTS.sort
    };
  }

  /* the query string of a view, defaults left out ('' for the default view) */
  function toQuery(v) {
    var p = new URLSearchParams();
    Object.keys(DEFAULTS).forEach(function (k) {
      if (v[k] !== DEFAULTS[k]) p.set(k, String(v[k]));
    });
    var s = p.toString();
    return s ? '?' + s : '';
  }

  function same(a, b) { return !!a && !!b && toQuery(a) === toQuery(b); }

  function bookInHash() {
    var m = /^#book\/(\d{1,15})$/.exec(window.location.hash);
    return m ? Number(m[1]) : null;
  }

  /* how: 'push' (a new history entry), 'replace' (this entry) or 'none' (the URL is already it) */
  function setUrl(query, hash, how) {
    var url = window.location.pathname + query + hash;
    if (how === 'push') window.history.pushState(null, '', url);
    else if (how === 'replace') window.history.replaceState(null, '', url);
  }

  /* ---- the view ---------------------------------------------------------------------- */

  /* typing: the title field is being typed in (leave it as the user has it) */
  function showInputs(v, typing) {
    if ($('topic').value !== v.topic) $('topic').value = v.topic;
    if (!typing && $('q').value !== v.q) $('q').value = v.q;
    $('sort').value = v.sort;
    $('per-page').value = String(v.per_page);
  }

  function describe(v, total, from, to) {
    var what = (v.topic ? ' on “' + v.topic + '”' : '') + (v.q ? ' with “' + v.q + '” in the title' : '');
    if (total === 0) return 'No books' + what + '.';
    return (total > to - from + 1 ? 'Books ' + B.count(from) + '–' + B.count(to) + ' of ' : '') +
      B.plural(total, 'book') + what + '.';
  }

  /* a result row's price and stock, also after a purchase or an admin change */
  function showFacts(b) {
    var facts = document.getElementById('facts-' + b.id);
    if (facts) facts.textContent = B.money(b.price) + ' · ' + (b.quantity > 0 ? b.quantity + ' in stock' : 'out of stock');
  }

  function markCurrent(id) {
    Array.prototype.forEach.call($('results').querySelectorAll('button.result'), function (x) {
      if (x.dataset.id === String(id)) x.setAttribute('aria-current', 'true');
      else x.removeAttribute('aria-current');
    });
  }

  function renderRows(books) {
    var ul = $('results');
    B.clear(ul);
    books.forEach(function (b) {
      var btn = el('button', { type: 'button', className: 'result' }, b.title);
      var facts = el('span', { className: 'facts', id: 'facts-' + b.id });
      var topic = el('span', { className: 'tag' }, b.topic);
      btn.dataset.id = String(b.id);
      btn.setAttribute('aria-describedby', facts.id);
      btn.addEventListener('click', function () { select(b.id); });
      ul.appendChild(el('li', null, [btn, facts, topic]));
      showFacts(b);
    });
    markCurrent(bookInHash());
  }

  function renderPager(v, total) {
    lastPage = Math.max(1, Math.ceil(total / v.per_page));
    $('page-info').textContent = 'Page ' + B.count(v.page) + ' of ' + B.count(lastPage);
    $('first-page').disabled = $('prev-page').disabled = v.page <= 1;
    $('next-page').disabled = $('last-page').disabled = v.page >= lastPage;
    $('pager').hidden = total <= v.per_page && v.page === 1;
  }

  /* Loads view v (how: see setUrl; typing: see showInputs). Resolves when it is on
   * screen (or failed). */
  function load(v, how, typing) {
    var n = ++seq, msg = $('search-msg');
    if (how !== 'none') {
      setUrl(toQuery(v), how === 'push' ? '' : window.location.hash, how);
      if (how === 'push' && bookInHash() === null) closed();
    }
    shown = v;
    showInputs(v, typing);
    say(msg, 'Loading…');
    $('results').setAttribute('aria-busy', 'true');
    var url = '/bazar/books?' + new URLSearchParams({ topic: v.topic, q: v.q, page: String(v.page),
      per_page: String(v.per_page), sort: v.sort }).toString();
    return B.api('GET', url).then(function (r) {
      if (n !== seq) return;
      $('results').removeAttribute('aria-busy');
      if (r.status !== 200 || !r.body || !Array.isArray(r.body.books)) {
        say(msg, r.status === 0 ? 'Cannot reach the store.' : 'Could not list the books: ' + B.errorOf(r), 'error');
        return;
      }
      var books = r.body.books, total = r.body.total;
      var from = (v.page - 1) * v.per_page + 1;
      renderRows(books);
      renderPager(v, total);
      if (books.length === 0 && total > 0) say(msg, 'This page is past the last one (' + B.plural(total, 'book') + ').', 'warn');
      else say(msg, describe(v, total, from, from + books.length - 1), total === 0 ? 'warn' : '');
    });
  }

  function change(fields, how) {
    var v = Object.assign({}, shown || DEFAULTS, fields);
    if (!('page' in fields)) v.page = 1;
    typingEntry = false;
    return load(v, how || 'push');
  }

  /* debounced title search: the first load of a burst of typing makes a history entry,
   * the next ones replace it (back returns to the view before the typing) */
  function typed() {
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(function () {
      var q = $('q').value.trim();
      if (shown && q === shown.q) return;
      var how = typingEntry ? 'replace' : 'push';
      var v = Object.assign({}, shown || DEFAULTS, { q: q, page: 1 });
      typingEntry = true;
      load(v, how, true);
    }, DEBOUNCE_MS);
  }

  /* the user opened a book from the list: #book/<id> (a new history entry) */
  function select(id) {
    typingEntry = false;
    markCurrent(id);
    if (bookInHash() !== id) setUrl(toQuery(shown || DEFAULTS), '#book/' + id, 'push');
    openedId = id;
    return openBook(id, true);
  }

  function closed() {
    openedId = null;
    markCurrent(null);
    if (onBookClosed) onBookClosed();
  }

  /* back/forward, a changed hash, or the first load: show what the URL says */
  function fromLocation(first) {
    var v = fromQuery(window.location.search), id = bookInHash(), tasks = [];
    typingEntry = false;
    if (!same(v, shown)) tasks.push(load(v, 'none'));
    if (id !== null && id !== openedId) { openedId = id; markCurrent(id); tasks.push(openBook(id, first)); }
    else if (id === null && !window.location.hash) closed();
    return Promise.all(tasks);
  }

  /* ---- topics ------------------------------------------------------------------------ */

  function loadTopics() {
    return B.api('GET', '/bazar/topics').then(function (r) {
      var chips = $('topics'), list = $('topic-list'), more = $('topics-more');
      if (r.status !== 200 || !Array.isArray(r.body)) {
        say($('search-msg'), r.status === 0 ? 'Cannot reach the store to list the topics.'
          : 'Could not list the topics: ' + B.errorOf(r), 'error');
        return;
      }
      var topics = r.body.filter(function (t) { return t && typeof t.topic === 'string'; });
      B.clear(chips);
      B.clear(list);
      topics.slice(0, MAX_CHIPS).forEach(function (t) {
        var b = el('button', { type: 'button', title: B.plural(t.count, 'book') }, t.topic);
        b.addEventListener('click', function () { change({ topic: t.topic, q: '' }); });
        chips.appendChild(b);
      });
      topics.slice(0, MAX_LISTED).forEach(function (t) { list.appendChild(el('option', { value: t.topic })); });
      more.textContent = topics.length > MAX_CHIPS
        ? 'and ' + B.plural(topics.length - MAX_CHIPS, 'more topic') + ': type one in the topic field' : '';
    });
  }

  /* ---- wiring ------------------------------------------------------------------------ */

  function init(opts) {
    openBook = opts.openBook;
    onBookClosed = opts.onBookClosed;
    var sort = $('sort'), per = $('per-page');
    $('search-form').addEventListener('submit', function (e) {
      e.preventDefault();
      window.clearTimeout(typingTimer);
      change({ topic: $('topic').value.trim(), q: $('q').value.trim() });
    });
    $('q').addEventListener('input', typed);
    $('q').addEventListener('blur', function () { typingEntry = false; });
    $('all-btn').addEventListener('click', function () { change({ topic: '', q: '' }); });
    sort.addEventListener('change', function () { change({ sort: sort.value }); });
    per.addEventListener('change', function () { change({ per_page: Number(per.value) }); });
    $('first-page').addEventListener('click', function () { change({ page: 1 }); });
    $('prev-page').addEventListener('click', function () { change({ page: Math.max(1, shown.page - 1) }); });
    $('next-page').addEventListener('click', function () { change({ page: Math.min(lastPage, shown.page + 1) }); });
    $('last-page').addEventListener('click', function () { change({ page: lastPage }); });
    window.addEventListener('popstate', function () { fromLocation(false); });
    window.addEventListener('hashchange', function () { fromLocation(false); });
    return Promise.all([loadTopics(), fromLocation(true)]);
  }

  /* the page shown again (after a purchase or an admin change), the URL unchanged */
  function reload() { return shown ? load(shown, 'none') : Promise.resolve(); }

  B.catalog = { init: init, reload: reload, loadTopics: loadTopics, showFacts: showFacts,
                select: select, SORTS: SORTS, PER_PAGES: PER_PAGES };
})(window.Bazar);
