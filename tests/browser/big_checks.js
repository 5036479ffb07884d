// tests/browser/big_checks.js - the storefront on a 100,000-book catalog (mode "big" of
// run.js; tests/blackbox/test_browser.py seeds the cluster with tests/bench/gen_books.py):
// the first page paints fast, the DOM holds one page, paging to the last page, sorting
// and search as you type answer fast, the topic buttons are capped, and nothing loads
// GET /bazar/info/all. Prints the times measured.
'use strict';

const { env, check, api, count, newPage, apiRequests, shotTo } = require('./lib');

const FIRST_PAINT_MS = 3000;  // bounds for a loaded 2-core test machine; a quiet one does
const STEP_MS = 2000;         // each in a fraction (the figures are printed)

// clicks/acts, then waits until the list shows the first book of GET /bazar/books?query;
// returns the milliseconds it took
async function timed(page, act, query) {
  const want = (await api('GET', '/bazar/books?' + query)).body;
  const t0 = Date.now();
  await act();
  await page.waitForFunction(([id, n]) => {
    const b = document.querySelectorAll('#results button.result');
    return b.length === n && b[0].dataset.id === String(id);
  }, [want.books[0].id, want.books.length]);
  return Date.now() - t0;
}

async function bigChecks(ctx) {
  const problems = [];
  const page = await newPage(ctx, problems);
  const seen = apiRequests(page);
  const total = (await api('GET', '/bazar/books?per_page=1')).body.total;
  check(total >= 100000, 'the catalog holds ' + count(total) + ' books', total);

  const t0 = Date.now();
  await page.goto(env.base + '/', { waitUntil: 'commit' });
  await page.waitForSelector('#results button.result');
  const paint = Date.now() - t0;
  check(paint < FIRST_PAINT_MS, 'first page of the catalog on screen ' + paint + ' ms after navigating (bound ' +
        FIRST_PAINT_MS + ' ms)', paint);
  await page.waitForFunction(() => !/Loading/.test(document.getElementById('search-msg').textContent));
  check(await page.textContent('#search-msg') === 'Books 1–20 of ' + count(total) + ' books.',
        'the message counts every book', await page.textContent('#search-msg'));
  const dom = await page.evaluate(() => ({ rows: document.querySelectorAll('#results li').length,
    elements: document.querySelectorAll('*').length }));
  check(dom.rows === 20 && dom.elements < 3000, 'the page holds one page of rows (' + dom.elements + ' elements in all)', dom);

  await page.waitForSelector('#topics button');
  const topics = (await api('GET', '/bazar/topics')).body.length;
  const chips = await page.locator('#topics button').count();
  check(chips === 24 && await page.textContent('#topics-more') ===
        'and ' + count(topics - 24) + ' more topics: type one in the topic field',
        'of ' + count(topics) + ' topics, 24 buttons and a note', { chips, more: await page.textContent('#topics-more') });

  const lastPage = Math.ceil(total / 20);
  const last = await timed(page, () => page.click('#last-page'), 'page=' + lastPage + '&per_page=20');
  check(last < STEP_MS && await page.textContent('#page-info') === 'Page ' + count(lastPage) + ' of ' + count(lastPage),
        'Last: page ' + count(lastPage) + ' in ' + last + ' ms', last);
  const sorted = await timed(page, () => page.selectOption('#sort', '-price'), 'sort=-price&per_page=20');
  check(sorted < STEP_MS, 'sorting every book by price (high first): ' + sorted + ' ms', sorted);
  const next = await timed(page, () => page.click('#next-page'), 'sort=-price&page=2&per_page=20');
  check(next < STEP_MS, 'Next: ' + next + ' ms', next);
  await page.click('#q');
  const typed = await timed(page, () => page.keyboard.type('number 99998', { delay: 40 }),
    'q=number+99998&sort=-price&per_page=20');
  check(typed < STEP_MS + 12 * 40, 'typing "number 99998" (40 ms a key) to its result: ' + typed + ' ms', typed);
  const books = seen.filter((u) => u.startsWith('/bazar/books?'));
  check(!seen.some((u) => u.startsWith('/bazar/info/all')), 'nothing loaded GET /bazar/info/all', seen);
  check(books.length === 5, 'one request per view: first page, last page, sort, next, the typed search', books);
  await shotTo(page, 'big-catalog.png');
  check(problems.length === 0, 'no console errors, page errors, dialogs or failed requests (100,000 books)', problems);
  await page.close();
}

module.exports = { bigChecks };
