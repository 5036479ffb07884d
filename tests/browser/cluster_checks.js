// tests/browser/cluster_checks.js - the cluster panel: per replica epoch, serving, log
// position, lag, replayed entries and snapshots as GET /bazar/status has them; cells
// updated in place (the same nodes across refreshes and a write); the sparkline of the
// log position; the verdict ("catching up (n behind)" when positions differ, "hashes
// differ" only at equal positions) on answers altered in flight. Run by run.js ("store").
'use strict';

const { env, check, api, newPage, shotTo } = require('./lib');

const cell = (svc, replica, col) => `#svc-${svc} tbody tr[data-replica="${replica}"] td[data-col="${col}"]`;

// one refresh by the button (the panel is aria-busy while it asks)
async function refreshed(page) {
  await page.click('#status-btn');
  await page.waitForSelector('#services:not([aria-busy])');
}

async function clusterChecks(ctx) {
  const problems = [];
  const page = await newPage(ctx, problems);
  await page.goto(env.base + '/#cluster', { waitUntil: 'load' });
  await page.waitForSelector('#svc-order tbody tr td[data-col="epoch"]:not(:empty)');
  await page.uncheck('#auto'); // from here on, refreshes only by the button
  const heads = await page.$$eval('#svc-catalog thead th', (ths) => ths.map((t) => t.textContent));
  check(['Serving', 'Epoch', 'Log pos.', 'Lag', 'Replayed', 'Snapshots'].every((h) => heads.includes(h)),
        'the panel has serving, epoch, log position, lag, replayed and snapshots columns', heads);

  // the cells are what GET /bazar/status says (asked again, a few times at most, should
  // a write land between the two answers)
  const rowsShown = (svc) => page.$$eval(`#svc-${svc} tbody tr`, (trs) => trs.map((tr) => {
    const o = {};
    Array.prototype.forEach.call(tr.cells, (td) => { o[td.dataset.col] = td.textContent; });
    return o;
  }));
  const rowsWanted = (st, svc) => st[svc].replicas.map((r) => ({ replica: '#' + r.id, state: 'up', role: r.role,
    serving: r.serving ? 'yes' : 'no', epoch: String(r.epoch), applied: String(r.applied), lag: '0',
    replayed: String(r.replayed), snapshots: String(r.snapshots), hash: r.hash.slice(0, 6) }));
  let st = null;
  let cmp = {};
  for (let i = 0; i < 5; i++) {
    st = (await api('GET', '/bazar/status')).body;
    await refreshed(page);
    cmp = { catalog: { shown: await rowsShown('catalog'), want: rowsWanted(st, 'catalog') },
            order: { shown: await rowsShown('order'), want: rowsWanted(st, 'order') } };
    if (JSON.stringify(cmp.catalog.shown) === JSON.stringify(cmp.catalog.want) &&
        JSON.stringify(cmp.order.shown) === JSON.stringify(cmp.order.want)) break;
  }
  for (const svc of ['catalog', 'order'])
    check(JSON.stringify(cmp[svc].shown) === JSON.stringify(cmp[svc].want), svc + ': every replica\'s cells are its status', cmp[svc]);
  check(await page.textContent('#catalog-verdict') === 'hashes agree', 'a quiet cluster: hashes agree');

  // in place: the same table and cells after refreshes and a write
  const applied = await page.$(cell('catalog', 1, 'applied'));
  const table = await page.$('#svc-catalog table');
  const pos0 = Number(await applied.textContent());
  const added = await api('POST', '/bazar/books', { title: 'Cluster panel book', topic: 'cluster panel', price: 1, quantity: 1 });
  check(added.status === 201, 'a write to move the catalog log', added.body);
  await refreshed(page);
  for (let i = 0; i < 20 && Number(await applied.textContent()) <= pos0; i++) await refreshed(page);
  const same = await page.evaluate(([a, t]) => a.isConnected && t.isConnected &&
    a === document.querySelector('#svc-catalog tbody tr td[data-col="applied"]') &&
    t === document.querySelector('#svc-catalog table'), [applied, table]);
  check(same && Number(await applied.textContent()) > pos0,
        'the log position changed in the same cell of the same table (updated in place)',
        { same, pos0, now: await applied.textContent() });
  const spark = await page.evaluate(() => {
    const s = document.getElementById('spark-catalog');
    return { points: s.querySelector('polyline').getAttribute('points').split(' ').filter(Boolean).length,
             label: s.getAttribute('aria-label') };
  });
  check(spark.points >= 3 && /catalog log position over the last minute: [\d,]+ to [\d,]+ \([\d,]+ new entr/.test(spark.label),
        'the sparkline plots the log position of every refresh and says it in words', spark);

  // the verdict on altered answers: a backup 2 behind, then equal positions, different hashes
  const backup = st.catalog.replicas.find((r) => r.role === 'backup');
  const alter = async (fn) => {
    await page.route('**/bazar/status', async (route) => {
      const resp = await route.fetch();
      const body = await resp.json();
      fn(body.catalog.replicas.find((r) => r.id === backup.id), body);
      await route.fulfill({ response: resp, json: body });
    });
    await refreshed(page);
    await page.unroute('**/bazar/status');
  };
  await alter((r) => { r.applied -= 2; r.hash = 'f'.repeat(64); });
  check(await page.textContent('#catalog-verdict') === 'catching up (2 behind)' &&
        await page.textContent(cell('catalog', backup.id, 'lag')) === '2 behind',
        'a backup 2 entries behind: "catching up (2 behind)", its lag "2 behind" (not "hashes differ")',
        { verdict: await page.textContent('#catalog-verdict'), lag: await page.textContent(cell('catalog', backup.id, 'lag')) });
  await shotTo(page, 'cluster-catching-up.png');
  await alter((r) => { r.hash = 'f'.repeat(64); });
  check(await page.textContent('#catalog-verdict') === 'hashes differ', 'equal positions, different hashes: "hashes differ"');
  await alter((r) => { r.serving = false; });
  check(await page.textContent(cell('catalog', backup.id, 'serving')) === 'no', 'a replica not serving says so');
  await refreshed(page);
  check(await page.textContent('#catalog-verdict') === 'hashes agree', 'back to "hashes agree"');
  check(await page.evaluate((t) => t.isConnected, table), 'still the same table after all that');
  check(problems.length === 0, 'no console errors, page errors, dialogs or failed requests (cluster)', problems);
  await page.close();
}

module.exports = { clusterChecks };
