// tests/browser/catalog_checks.js - the catalog view against the API: pages, sorting,
// page size, search as you type (one request per pause), prices in Intl format, the URL
// state (back/forward, reload, a shared link), the footer's replica counts, and that
// nothing loads GET /bazar/info/all. Run by run.js in the "store" mode.
'use strict';

const { env, check, api, money, count, newPage, apiRequests, shotTo } = require('./lib');

const TOPIC = 'paging test ' + process.pid;


const rowsOf = (page) => page.$$eval('#results li', (ls) => ls.map((l) => ({
  id: Number(l.querySelector('button.result').dataset.id),
  title: l.querySelector('button.result').textContent,
  facts: l.querySelector('.facts').textContent })));

// waits until the list shows exactly the books of GET /bazar/books?query
async function showsPage(page, query, what) {
  const want = (await api('GET', '/bazar/books?' + query)).body;
  const ids = want.books.map((b) => b.id);
  try {
    await page.waitForFunction((w) => JSON.stringify(Array.prototype.map.call(
      document.querySelectorAll('#results button.result'), (b) => Number(b.dataset.id))) === w, JSON.stringify(ids));
  } catch (e) { /* reported below */ }
  const rows = await rowsOf(page);
  check(JSON.stringify(rows.map((r) => r.id)) === JSON.stringify(ids), what + ' (= GET /bazar/books?' + query + ')',
        { shown: rows.map((r) => r.id), want: ids });
  return { want, rows };
}

const where = (page) => page.evaluate(() => window.location.search + window.location.hash);

async function catalogChecks(ctx) {
  const problems = [];
  const page = await newPage(ctx, problems);
  const seen = apiRequests(page);
  await page.goto(env.base + '/', { waitUntil: 'load' });

  // the first view: page 1 of every book, in id order, with Intl prices
  const first = await showsPage(page, 'page=1&per_page=20&sort=id', 'the page opens on the first page of every book');
  check(first.rows.every((r, i) => r.facts === money(first.want.books[i].price) + ' · ' +
          (first.want.books[i].quantity > 0 ? first.want.books[i].quantity + ' in stock' : 'out of stock')),
        'each row shows its price (Intl.NumberFormat) and stock', first.rows.slice(0, 3));
  const total = first.want.total;
  await page.waitForFunction(() => !/Loading/.test(document.getElementById('search-msg').textContent));
  check(await page.textContent('#search-msg') === (total > 20 ? 'Books 1–20 of ' : '') + count(total) + ' books.',
        'the message counts the books', await page.textContent('#search-msg'));

  // the footer's replica counts come from GET /bazar/status
  const status = (await api('GET', '/bazar/status')).body;
  const foot = status.catalog.replicas.length + ' catalog replicas and ' + status.order.replicas.length + ' order replicas';
  await page.waitForFunction((f) => document.getElementById('foot-replicas').textContent === f, foot).catch(() => {});
  check(await page.textContent('#foot-replicas') === foot, 'the footer counts the replicas of GET /bazar/status',
        await page.textContent('#foot-replicas'));

  // 25 books on a topic of their own: 3 pages of 10
  for (let i = 0; i < 25; i++) {
    const r = await api('POST', '/bazar/books', { title: 'Paging book ' + String(i).padStart(2, '0'), topic: TOPIC,
      price: 1000 + ((i * 37) % 25) + 0.5, quantity: 1 + i });
    if (!check(r.status === 201, 'book ' + i + ' of the paging topic added', r.body)) return;
  }
  const enc = encodeURIComponent(TOPIC).replace(/%20/g, '+');
  await page.fill('#topic', TOPIC);
  await page.click('#search-btn');
  await showsPage(page, 'topic=' + enc + '&per_page=20', 'Search by topic shows its first page');
  check(await where(page) === '?topic=' + enc, 'the topic is in the URL', await where(page));
  check(/^\$1,0\d\d\.50 · \d+ in stock$/.test((await rowsOf(page))[0].facts), 'prices over $1,000 are grouped',
        (await rowsOf(page))[0].facts);
  await page.selectOption('#per-page', '10');
  await showsPage(page, 'topic=' + enc + '&per_page=10', '10 per page');
  check(await page.textContent('#page-info') === 'Page 1 of 3' && await page.isDisabled('#prev-page') &&
        await page.isDisabled('#first-page') && !await page.isDisabled('#next-page'),
        'the pager says page 1 of 3; First and Previous are off', await page.textContent('#page-info'));
  await page.click('#next-page');
  await showsPage(page, 'topic=' + enc + '&per_page=10&page=2', 'Next shows page 2');
  check(await where(page) === '?topic=' + enc + '&page=2&per_page=10', 'the page is in the URL', await where(page));
  await page.click('#last-page');
  const last = await showsPage(page, 'topic=' + enc + '&per_page=10&page=3', 'Last shows page 3');
  check(last.rows.length === 5 && await page.isDisabled('#next-page') && await page.isDisabled('#last-page'),
        'the last page has the 5 last books; Next and Last are off', last.rows.length);
  await page.selectOption('#sort', '-price');
  const byPrice = await showsPage(page, 'topic=' + enc + '&per_page=10&sort=-price', 'sorting by price (high first) starts again at page 1');
  check(byPrice.want.books.every((b, i, a) => i === 0 || a[i - 1].price >= b.price), 'the server sorted the prices');
  check(await where(page) === '?topic=' + enc + '&per_page=10&sort=-price', 'the sort is in the URL', await where(page));

  // back and forward walk the views
  await page.goBack();
  await showsPage(page, 'topic=' + enc + '&per_page=10&page=3', 'Back returns to page 3 in id order');
  check(await page.inputValue('#sort') === 'id' && await page.inputValue('#per-page') === '10',
        'Back also restores the sort and page size controls');
  await page.goBack();
  await showsPage(page, 'topic=' + enc + '&per_page=10&page=2', 'Back again: page 2');
  await page.goForward();
  await showsPage(page, 'topic=' + enc + '&per_page=10&page=3', 'Forward: page 3');

  // an open book is #book/<id>; a reload shows the same list and book; Back closes it
  const book = last.rows[1];
  await page.click(`#results button.result[data-id="${book.id}"]`);
  await page.waitForFunction((t) => document.getElementById('d-title').textContent === t, book.title);
  check(await where(page) === '?topic=' + enc + '&page=3&per_page=10#book/' + book.id, 'the open book is in the URL',
        await where(page));
  check(await page.evaluate(() => document.activeElement.id) === 'd-title', 'opening a book moves the focus to it');
  await page.reload({ waitUntil: 'load' });
  await showsPage(page, 'topic=' + enc + '&per_page=10&page=3', 'after a reload: the same page');
  await page.waitForFunction((t) => document.getElementById('d-title').textContent === t, book.title).catch(() => {});
  check(!await page.isHidden('#details') && await page.textContent('#d-title') === book.title &&
        await page.getAttribute(`#results button.result[data-id="${book.id}"]`, 'aria-current') === 'true',
        'after a reload: the same book open and marked in the list');
  await page.goBack();
  await page.waitForSelector('#details', { state: 'hidden' }).catch(() => {});
  check(await page.isHidden('#details') && await where(page) === '?topic=' + enc + '&page=3&per_page=10',
        'Back closes the book, the list stays', await where(page));

  // a shared link opens the search and the book it names
  const shared = await newPage(ctx, problems);
  const rpc = (await api('GET', '/bazar/info/1')).body;
  await shared.goto(env.base + '/?q=rpc#book/1', { waitUntil: 'load' });
  await showsPage(shared, 'q=rpc', 'a shared link ?q=rpc shows that search');
  await shared.waitForFunction((t) => document.getElementById('d-title').textContent === t, rpc.title).catch(() => {});
  check(await shared.textContent('#d-title') === rpc.title && await shared.inputValue('#q') === 'rpc' &&
        await shared.textContent('#d-price') === money(rpc.price),
        'a shared link #book/1 opens book 1 (price in Intl format)', await shared.textContent('#d-title'));
  await shared.close();

  // search as you type: one request per pause (debounce), one history entry per burst
  await page.click('#all-btn');
  await showsPage(page, 'per_page=10', 'All books: every topic, first page');
  const before = await where(page);
  const mark = seen.length;
  await page.click('#q');
  await page.keyboard.type('paging book 2', { delay: 60 });
  await showsPage(page, 'q=paging+book+2&per_page=10', 'typing searches the titles');
  const asked = seen.slice(mark).filter((u) => u.startsWith('/bazar/books?'));
  check(asked.length === 1 && /[?&]q=paging\+book\+2(&|$)/.test(asked[0]),
        'typing 13 characters 60 ms apart asked the server once (debounce 250 ms)', asked);
  check(await where(page) === '?q=paging+book+2&per_page=10', 'the search is in the URL', await where(page));
  await page.keyboard.type('4', { delay: 60 });
  await showsPage(page, 'q=paging+book+24&per_page=10', 'typing on narrows the search');
  await page.goBack();
  await showsPage(page, 'per_page=10', 'one Back undoes the whole burst of typing');
  check(await where(page) === before && await page.inputValue('#q') === '', 'the URL and the field are as before the typing',
        await where(page));

  check(!seen.some((u) => u.startsWith('/bazar/info/all')), 'the page never loaded GET /bazar/info/all',
        seen.filter((u) => u.startsWith('/bazar/info/all')));
  await shotTo(page, 'catalog.png');
  check(problems.length === 0, 'no console errors, page errors, dialogs or failed requests (catalog)', problems);
  await page.close();
}

module.exports = { catalogChecks };
